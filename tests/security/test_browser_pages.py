"""The account pages work in Chromium under the real headers: strict CSP,
COEP/CORP, SRI on the scripts. Any refused resource, integrity mismatch or
script error shows up as a console error and fails the test."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyotp
import pytest

from tests.e2e import flows
from tests.e2e.server import ServerProcess, start_server, stop_server
from tests.support.browser import chromium, chromium_missing_reason

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CODE_PATTERN = re.compile(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = start_server(tmp_path_factory.mktemp("security-server"))
    try:
        yield process
    finally:
        stop_server(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = chromium_missing_reason()
    if reason:
        print(f"skipping browser page tests: {reason}")
        pytest.skip(reason)
    with chromium() as running:
        yield running


class Console:
    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._message)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _message(self, message: ConsoleMessage) -> None:
        if message.type in {"error", "warning"}:
            self.errors.append(message.text)


def theme_toggle_works(page: Page) -> bool:
    """The theme module ran (so its integrity check passed)."""
    before = page.evaluate("() => document.documentElement.dataset.bsTheme")
    page.click("[data-theme-toggle]")
    after = page.evaluate("() => document.documentElement.dataset.bsTheme")
    return bool(before and after and before != after)


def test_account_pages_work_under_the_strict_headers(
    server: ServerProcess, browser: Browser
) -> None:
    base = server.base_url
    password = "pw-" + secrets.token_urlsafe(12)
    context = browser.new_context()
    try:
        page = context.new_page()
        console = Console(page)

        page.goto(f"{base}/accounts/register/")
        assert theme_toggle_works(page)
        page.fill("#id_username", "erin")
        page.fill("#id_password1", password)
        page.fill("#id_password2", password)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/accounts/totp/enrol/$"))
        codes = CODE_PATTERN.findall(
            page.locator("[data-testid=recovery-codes]").inner_text()
        )
        assert len(codes) == 10
        key = page.locator("[data-testid=totp-key]").inner_text().replace(" ", "")
        totp = pyotp.TOTP(key)
        used: set[str] = set()
        page.fill("#id_code", flows.fresh_code(totp, used))
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/chat/$"))
        flows.wait_ready(page)

        page.click("[data-testid=whoami]")
        page.wait_for_url(re.compile(r"/accounts/security/$"))
        assert theme_toggle_works(page)
        new_password = password + "-changed"
        page.fill("#id_current_password", password)
        page.fill("#id_new_password1", new_password)
        page.fill("#id_new_password2", new_password)
        page.click("text=Change password")
        page.locator("[data-testid=security-message]").wait_for()
        assert "Password changed." in page.inner_text("[data-testid=security-message]")

        page.click("text=Log out")
        page.wait_for_url(re.compile(r"/accounts/login/$"))
        page.fill("#id_username", "erin")
        page.fill("#id_password", new_password)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/accounts/login/code/$"))
        page.click("text=Use a recovery code")
        page.wait_for_url(re.compile(r"/accounts/login/recovery/$"))
        page.fill("#id_code", codes[0])
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/chat/$"))
        flows.wait_ready(page)

        assert console.errors == []
    finally:
        context.close()


MARKUP = '<img src=x onerror="window.__hw_xss = 1"><script>window.__hw_xss = 2</script>'


def test_names_and_messages_reach_the_page_as_text(
    server: ServerProcess, browser: Browser
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        console = Console(page)
        flows.register(
            page, server.base_url, "frida", "pw-" + secrets.token_urlsafe(12)
        )

        flows.create_group(page, "Group " + MARKUP)
        flows.send(page, "Message " + MARKUP)

        body = page.locator(".hw-msg-mine .hw-msg-body", has_text="Message")
        assert body.inner_text() == "Message " + MARKUP
        assert page.locator("[data-role=group-name]").inner_text() == "Group " + MARKUP
        assert page.locator("[data-role=messages] img[src=x]").count() == 0
        assert page.evaluate("() => window.__hw_xss === undefined")
        assert console.errors == []
    finally:
        context.close()
