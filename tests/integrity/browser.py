"""The chain harness page in Chromium, driven from a thread of its own.

Playwright's sync API keeps an asyncio event loop running in the thread that
starts it, and Django refuses database calls from a thread with a running
loop. Running Chromium in a worker thread keeps the test thread free for the
ORM, so one test can drive the real services and the browser side by side.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tests.support.browser import STATIC_ROOT, StaticServer, chromium

if TYPE_CHECKING:
    from playwright.sync_api import Page

PAGES = Path(__file__).resolve().parent / "pages"
T = TypeVar("T")


class ChainPage:
    """chain.js and crypto.js loaded in a page under the product's CSP."""

    def __init__(self, executor: ThreadPoolExecutor, page: Page, url: str) -> None:
        self._executor = executor
        self.page = page
        self.url = url
        self.errors: list[str] = []
        self._run(self._watch)
        self.load()

    def _run(self, action: Callable[[], T]) -> T:
        return self._executor.submit(action).result()

    def _watch(self) -> None:
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def load(self) -> None:
        def go() -> None:
            self.page.goto(self.url)
            self.page.wait_for_function("() => document.body.dataset.ready === '1'")

        self._run(go)

    def evaluate(self, script: str, argument: Any = None) -> Any:
        return self._run(lambda: self.page.evaluate(script, argument))

    def verify(self, chain: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.evaluate(
            "(chain) => window.hwChain.verifyChain(chain)", chain
        )
        return result

    def check(self, group_id: str, chain: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.evaluate(
            "([groupId, chain]) => window.hwChain.checkChain('1', groupId, chain)",
            [group_id, chain],
        )
        return result

    def forget(self) -> None:
        self.evaluate("() => localStorage.clear()")


@contextlib.contextmanager
def chain_page_in_thread() -> Iterator[ChainPage]:
    """Serve the harness, start Chromium in a worker thread, open the page."""
    mounts = {"/static": STATIC_ROOT, "/pages": PAGES}
    with (
        StaticServer(mounts) as server,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium") as executor,
    ):
        stack = contextlib.ExitStack()

        def start() -> Page:
            browser = stack.enter_context(chromium())
            context = browser.new_context()
            stack.callback(context.close)
            return context.new_page()

        try:
            page = executor.submit(start).result()
            yield ChainPage(executor, page, server.url("/pages/chain.html"))
        finally:
            executor.submit(stack.close).result()
