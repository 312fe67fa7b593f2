"""Fixtures of the crypto suite: test vectors, a static server, a harness page.

The harness page (pages/harness.html) imports /static/js/crypto.js under the
product's strict CSP and exposes it as ``window.hw``, with batch runners as
``window.harness``; tests drive it with ``page.evaluate`` and async arrow
functions.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.crypto import vectors
from tests.crypto.vectors import is_profile, wycheproof_tests
from tests.support.browser import (
    STATIC_ROOT,
    StaticServer,
    chromium,
    chromium_missing_reason,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

PAGES = Path(__file__).resolve().parent / "pages"
READY = "() => document.documentElement.dataset.ready === 'true'"


@pytest.fixture(scope="session")
def aes_gcm_cases() -> list[dict[str, Any]]:
    """All 316 Wycheproof AES-GCM tests, group fields merged in."""
    return wycheproof_tests("aes_gcm_test.json")


@pytest.fixture(scope="session")
def aes_gcm_profile(aes_gcm_cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tests of HashWhisper's profile (see ``is_profile``)."""
    return [case for case in aes_gcm_cases if is_profile(case)]


@pytest.fixture(scope="session")
def pbkdf2_cases() -> list[dict[str, Any]]:
    """The 60 Wycheproof and 7 known-answer PBKDF2-HMAC-SHA256 cases."""
    return vectors.pbkdf2_cases()


@pytest.fixture(scope="session")
def hkdf_cases() -> list[dict[str, Any]]:
    """All 86 Wycheproof HKDF-SHA256 tests."""
    return wycheproof_tests("hkdf_sha256_test.json")


@pytest.fixture(scope="session")
def static_server() -> Iterator[StaticServer]:
    """Serves static/ at /static and the harness pages at /pages."""
    with StaticServer({"/static": STATIC_ROOT, "/pages": PAGES}) as server:
        yield server


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Browser]:
    """A headless Chromium per test module.

    Module scope ends each Playwright instance before the next suite may start
    its own, since the sync API allows only one at a time per thread.
    """
    reason = chromium_missing_reason()
    if reason is not None:
        print(f"skipping browser crypto tests: {reason}", file=sys.stderr)
        pytest.skip(reason)
    with chromium() as browser:
        yield browser


@dataclass
class Harness:
    """The loaded harness page and every error it reported so far."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def run(self, script: str, arg: Any = None) -> Any:
        """Evaluate an (async) arrow function in the page, return its value."""
        return self.page.evaluate(script, arg)


@pytest.fixture(scope="module")
def harness(
    chromium_browser: Browser, static_server: StaticServer
) -> Iterator[Harness]:
    """The harness page, loaded and ready, with console errors collected."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = chromium_browser.new_page()
    loaded = Harness(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            loaded.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: loaded.errors.append(str(error)))
    page.goto(static_server.url("/pages/harness.html"))
    try:
        page.wait_for_function(READY, timeout=10_000)
    except PlaywrightTimeout as error:
        raise AssertionError(f"harness did not load: {loaded.errors}") from error
    yield loaded
    page.close()
