"""What a person does in the browser, step by step, for the e2e tests."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import pyotp

if TYPE_CHECKING:
    from playwright.sync_api import Page

TIMEOUT_MS = 20_000


def fresh_code(totp: pyotp.TOTP, used: set[str]) -> str:
    """A code not used before: a code is refused for the rest of its window."""
    while True:
        code = totp.now()
        if code not in used:
            used.add(code)
            return code
        time.sleep(1)


def fill_registration(page: Page, username: str, password: str) -> pyotp.TOTP:
    """Fill the registration form and the enrolment step; return the TOTP."""
    page.fill("#id_username", username)
    page.fill("#id_password1", password)
    page.fill("#id_password2", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/accounts/totp/enrol/$"), timeout=TIMEOUT_MS)
    assert page.locator("[data-testid=totp-qr] svg").count() == 1
    key = page.locator("[data-testid=totp-key]").inner_text().replace(" ", "")
    totp = pyotp.TOTP(key)
    page.fill("#id_code", fresh_code(totp, set()))
    page.click("button[type=submit]")
    return totp


def register(page: Page, base_url: str, username: str, password: str) -> pyotp.TOTP:
    page.goto(f"{base_url}/accounts/register/")
    totp = fill_registration(page, username, password)
    page.wait_for_url(re.compile(r"/chat/$"), timeout=TIMEOUT_MS)
    wait_ready(page)
    return totp


def wait_ready(page: Page) -> None:
    page.wait_for_function(
        "() => document.getElementById('hw-app')?.dataset.ready === '1'",
        timeout=TIMEOUT_MS,
    )


def create_group(page: Page, name: str) -> str:
    """Create a group and return the invitation link the page shows."""
    page.click("[data-testid=new-group]")
    page.fill("[data-testid=group-name]", name)
    page.click("[data-testid=create-group]")
    link = page.locator("[data-testid=invite-link]")
    link.wait_for(state="visible", timeout=TIMEOUT_MS)
    value = link.input_value()
    page.click("[data-role=invite-dialog] [data-action=close-dialog]")
    return value


def send(page: Page, text: str) -> None:
    page.fill("[data-testid=composer]", text)
    page.click("[data-testid=send]")
    page.locator(".hw-msg-mine .hw-msg-body", has_text=text).wait_for(
        timeout=TIMEOUT_MS
    )


def wait_for_message(page: Page, text: str) -> None:
    page.locator(".hw-msg-theirs .hw-msg-body", has_text=text).wait_for(
        timeout=TIMEOUT_MS
    )
