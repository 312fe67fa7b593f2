"""Fixtures of the front-end suite: a static server and watched Chromium pages.

The server serves ``static/`` under ``/static/`` and this suite's test pages
under ``/pages/``, always with the product's Content-Security-Policy, so that
anything a page or script does that the real site would refuse shows up as a
violation here as well.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

from tests.frontend.support import PAGE_CSP, WatchedPage
from tests.support.browser import (
    STATIC_ROOT,
    StaticServer,
    chromium,
    chromium_missing_reason,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

PAGES = Path(__file__).resolve().parent / "pages"

PageOpener = Callable[..., WatchedPage]


@pytest.fixture(scope="session")
def static_server() -> Iterator[StaticServer]:
    """Serves static/ at /static and the test pages at /pages."""
    mounts = {"/static": STATIC_ROOT, "/pages": PAGES}
    with StaticServer(mounts, csp=PAGE_CSP) as server:
        yield server


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Browser]:
    """A headless Chromium per test module.

    Module scope stops each Playwright instance before another suite starts
    its own, since the sync API allows only one at a time per thread.
    """
    reason = chromium_missing_reason()
    if reason is not None:
        print(f"skipping front-end browser tests: {reason}", file=sys.stderr)
        pytest.skip(reason)
    with chromium() as browser:
        yield browser


@pytest.fixture
def open_page(
    chromium_browser: Browser, static_server: StaticServer
) -> Iterator[PageOpener]:
    """Open a test page in a fresh browser context and watch it.

    Call it with the page's path under ``/pages/`` and, optionally, the
    colour scheme the browser should report, the viewport size, or an open
    page whose context (and so whose localStorage) the new page should share.
    """
    contexts: list[BrowserContext] = []

    def opener(
        path: str,
        color_scheme: Literal["light", "dark"] = "light",
        viewport: tuple[int, int] = (1024, 768),
        beside: WatchedPage | None = None,
    ) -> WatchedPage:
        if beside is None:
            context = chromium_browser.new_context(
                color_scheme=color_scheme,
                viewport={"width": viewport[0], "height": viewport[1]},
            )
            contexts.append(context)
        else:
            context = beside.page.context
        watched = WatchedPage(context.new_page()).watch()
        watched.page.goto(static_server.url(f"/pages/{path}"))
        return watched

    yield opener
    for context in contexts:
        context.close()
