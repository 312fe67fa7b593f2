"""The "what the server knows about me" page in Chromium, under the real CSP:
it lists the new group and this session, downloads as JSON, and reports no
console error (a CSP violation would be one)."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

import pytest

from tests.e2e import flows
from tests.e2e.server import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage

pytestmark = pytest.mark.e2e


def test_my_data_page_in_the_browser(server: ServerProcess, browser: Browser) -> None:
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        username = f"dora{secrets.token_hex(3)}"
        flows.register(page, server.base_url, username, secrets.token_urlsafe(18))
        flows.create_group(page, "Datenschutz")

        page.click("[data-testid=my-data-link]")
        page.wait_for_url(f"{server.base_url}/accounts/my-data/")

        assert page.locator("[data-testid=account-username]").inner_text() == username
        groups = page.locator("[data-testid=groups] tbody tr")
        assert groups.count() == 1 and "owner" in groups.inner_text()
        sessions = page.locator("[data-testid=session-row]")
        assert sessions.count() == 1 and "this session" in sessions.inner_text()
        assert "create" in page.locator("[data-testid=chain-events]").inner_text()

        with page.expect_download() as download:
            page.click("[data-testid=download-json]")
        path = download.value.path()
        report = json.loads(path.read_text(encoding="utf-8"))
        assert report["account"]["username"] == username
        assert len(report["groups"]) == 1
        assert errors == []
    finally:
        context.close()


def test_owner_shortens_group_retention_in_the_info_dialog(
    server: ServerProcess, browser: Browser
) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        flows.register(
            page,
            server.base_url,
            f"ed{secrets.token_hex(3)}",
            secrets.token_urlsafe(18),
        )
        flows.create_group(page, "Kurzlebig")
        page.click("[data-testid=group-info]")
        text = page.locator("[data-testid=retention-text]")
        text.filter(has_text="7 days").wait_for(timeout=flows.TIMEOUT_MS)
        assert "server" in text.inner_text()

        page.select_option("[data-testid=retention-days]", "2")
        page.click("[data-testid=retention-save]")

        text.filter(has_text="2 days").wait_for(timeout=flows.TIMEOUT_MS)
        assert "chosen by the owner" in text.inner_text()
        assert errors == []
    finally:
        context.close()
