"""axe-core finds no serious or critical problem on any page, in either theme.

axe-core is vendored under static/vendor/axe-core and served like any of
our static files, so the test loads it into each page as a same-origin
script, which the page's CSP allows. Each page is checked with the system
asking for light and for dark, which is what the theme toggle follows until
a person picks a theme.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import pyotp
import pytest

from tests.e2e import flows
from tests.e2e.server import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

AXE = "/static/vendor/axe-core/axe.min.js"
Theme = Literal["light", "dark"]
THEMES: tuple[Theme, ...] = ("light", "dark")
T = flows.TIMEOUT_MS

ACCOUNT_PAGES = (
    "/accounts/security/",
    "/accounts/security/password/",
    "/accounts/security/recovery-codes/",
    "/accounts/security/authenticator/",
    "/accounts/security/delete/",
    "/accounts/my-data/",
)

RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    targets: v.nodes.slice(0, 5).map(
      (n) => `${n.target.join(' ')} ${n.html.slice(0, 90)}`,
    ),
  }));
}"""


def serious(page: Page, theme: Theme) -> list[dict[str, Any]]:
    """The serious and critical violations on the page as it is now."""
    page.evaluate("() => localStorage.removeItem('hashwhisper-theme')")
    page.emulate_media(color_scheme=theme)
    page.wait_for_function(
        "(theme) => document.documentElement.dataset.bsTheme === theme", arg=theme
    )
    # Bootstrap fades colours over 0.15 s; axe must see the settled colours.
    page.wait_for_function(
        "() => document.getAnimations().every((a) => a.playState !== 'running')"
    )
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(url=AXE)
    found: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    return [v for v in found if v["impact"] in ("serious", "critical")]


def check(page: Page, label: str, report: dict[str, list[dict[str, Any]]]) -> None:
    for theme in THEMES:
        problems = serious(page, theme)
        if problems:
            report[f"{label} ({theme})"] = problems


@pytest.fixture(scope="module")
def person(server: ServerProcess, browser: Browser) -> Iterator[dict[str, Any]]:
    """One signed-up person with a group, a conversation and a key."""
    context = browser.new_context()
    page = context.new_page()
    password = "axe-" + secrets.token_urlsafe(12)
    report: dict[str, list[dict[str, Any]]] = {}
    try:
        page.goto(f"{server.base_url}/accounts/login/")
        check(page, "login", report)
        page.goto(f"{server.base_url}/accounts/register/")
        check(page, "register", report)
        page.fill("#id_username", "ada")
        page.fill("#id_password1", password)
        page.fill("#id_password2", password)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/accounts/totp/enrol/$"), timeout=T)
        check(page, "TOTP enrolment", report)
        key = page.locator("[data-testid=totp-key]").inner_text().replace(" ", "")
        totp = pyotp.TOTP(key)
        used: set[str] = set()
        page.fill("#id_code", flows.fresh_code(totp, used))
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/chat/$"), timeout=T)
        flows.wait_ready(page)
        yield {
            "page": page,
            "base": server.base_url,
            "password": password,
            "totp": totp,
            "used": used,
            "report": report,
        }
    finally:
        context.close()


def dialog_check(
    page: Page,
    label: str,
    report: dict[str, list[dict[str, Any]]],
    open_it: Callable[[], None],
    role: str,
) -> None:
    open_it()
    page.locator(f"[data-role={role}]").wait_for(state="visible", timeout=T)
    check(page, label, report)
    page.keyboard.press("Escape")
    page.locator(f"[data-role={role}]").wait_for(state="hidden", timeout=T)


def test_every_page_and_dialog_has_no_serious_violation(
    person: dict[str, Any],
) -> None:
    page: Page = person["page"]
    base: str = person["base"]
    report: dict[str, list[dict[str, Any]]] = person["report"]

    check(page, "chat without groups", report)
    dialog_check(
        page,
        "new group dialog",
        report,
        lambda: page.click("[data-testid=new-group]"),
        "new-group-dialog",
    )
    flows.create_group(page, "Barrierefrei 🌍")
    for text in (
        "Erste Nachricht mit Link https://example.invalid/a",
        "👍🎉",
        "Zweite Nachricht, etwas länger, damit sie umbricht " * 3,
    ):
        flows.send(page, text)
    item = page.locator("article.hw-msg").first
    item.hover()
    item.locator("[data-msg-action=reply]").click()
    flows.send(page, "Eine Antwort")
    item.hover()
    item.locator("[data-msg-action=react]").click()
    page.locator("[data-role=emoji-quick] [data-emoji]").first.click()
    page.locator(".hw-reaction").first.wait_for(timeout=T)
    check(page, "chat with a conversation", report)

    dialog_check(
        page,
        "invite dialog",
        report,
        lambda: page.click("[data-testid=invite]"),
        "invite-dialog",
    )
    dialog_check(
        page,
        "group info dialog",
        report,
        lambda: page.click("[data-testid=group-info]"),
        "info-dialog",
    )

    def open_search() -> None:
        page.click("[data-testid=search]")
        page.fill("[data-testid=search-input]", "Nachricht")
        page.locator("[data-search-hit]").first.wait_for(timeout=T)

    dialog_check(page, "search dialog", report, open_search, "search-dialog")

    def open_picker() -> None:
        item.hover()
        item.locator("[data-msg-action=react]").click()
        page.locator("[data-role=emoji-grid] [data-emoji]").first.wait_for(timeout=T)

    dialog_check(page, "emoji picker", report, open_picker, "emoji-dialog")

    def open_delete() -> None:
        item.hover()
        item.locator("[data-msg-action=delete]").click()

    dialog_check(page, "delete dialog", report, open_delete, "delete-dialog")

    page.set_viewport_size({"width": 390, "height": 844})
    check(page, "chat on a phone", report)
    page.set_viewport_size({"width": 1280, "height": 720})

    page.goto(f"{base}/g/join#v1.not-a-valid-invitation")
    page.locator("#hw-join [data-role=status]", has_text="").wait_for(timeout=T)
    check(page, "join page", report)

    from playwright.sync_api import Error as PlaywrightError

    # The account pages; a page that needs a form posted first is skipped.
    checked = []
    for path in ACCOUNT_PAGES:
        try:
            response = page.goto(f"{base}{path}")
        except PlaywrightError:
            continue  # Chromium refuses to show an error answer without a body.
        if response is not None and response.ok and page.url.endswith(path):
            check(page, path, report)
            checked.append(path)
    assert "/accounts/security/" in checked

    # Every page past login carries the log-out button in its navigation bar.
    page.click("form[action$='/logout/'] button")
    page.wait_for_url(re.compile(r"/accounts/login/"), timeout=T)
    page.fill("#id_username", "ada")
    page.fill("#id_password", person["password"])
    page.click("button[type=submit]")
    page.locator("#id_code").wait_for(timeout=T)
    check(page, "login code step", report)
    if page.locator("a[href$='/login/recovery/']").count():
        page.click("a[href$='/login/recovery/']")
        page.wait_for_url(re.compile(r"/login/recovery/$"), timeout=T)
        check(page, "login with a recovery code", report)

    assert report == {}, describe(report)


def describe(report: dict[str, list[dict[str, Any]]]) -> str:
    """One line per page, rule and element, so a failure reads at a glance."""
    return "\n".join(
        f"{where}: {v['impact']} {v['id']} ({v['help']}) at {target}"
        for where, found in report.items()
        for v in found
        for target in v["targets"]
    )
