"""The chat features, two people, two Chromium contexts, one real server.

Alice and Bob share a group. Each test drives one feature in one browser and
checks that the other browser's view changes live: a reply quotes, a
reaction appears and goes, an edit replaces the text, a delete removes it,
the description shows. Then unread counts, notifications, search, private
chats and the message list's look; screenshots for the README; and last, a
scan of everything the server kept for the words and emoji used.

The tests run in file order and share the two signed-up people, because
signing up (Argon2, TOTP) is the slow part of every browser test.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

from tests.e2e import flows, lifecycle_flows
from tests.e2e.canary import database_cells, encodings, find_leaks, server_files
from tests.e2e.server import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page, Request

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
T = flows.TIMEOUT_MS

GROUP_NAME = "Dachgarten-Kollektiv 🌻"
DESCRIPTION = "Gießplan: Montags Tomaten, donnerstags Kürbisse 🎃"
FIRST = "Wer bringt am Samstag die Setzlinge mit?"
REPLY = "Ich bringe die Setzlinge, versprochen 🌱"
ORIGINAL = "Treffen um halb neun am Tor"
EDITED = "Korrektur: Treffen um zehn Uhr am Nordtor"
DOOMED = "Bitte löschen: Torcode lautet 4711-Kranich"
SEARCH_TARGET = "Die Wasserpumpe braucht neue Dichtungsringe"
SEARCH_QUERY = "dichtungsring"
LINK = "https://tracker.example.invalid/path?id=8123"
LONG = "Langer-Text-ohne-Leerzeichen-" * 30
PICKED_EMOJI = "🦩"  # chosen through the picker's search ("flamingo")
QUICK_EMOJI = "👍"
DIRECT_NAME = "alice ↔ bob"
UNSEEN_1 = "Nachricht während Bob woanders ist, eins"
UNSEEN_2 = "Nachricht während Bob woanders ist, zwei"
NOTIFIED = "Geheimer Inhalt der Benachrichtigung 🔔"
MUTED = "Diese Nachricht bleibt stumm"

# Records notifications while letting the real constructor run, and lets a
# test say the tab is hidden (a headless page is always "visible").
NOTIFICATION_SPY = """
(() => {
  window.__notes = [];
  window.__hidden = false;
  const Real = window.Notification;
  if (Real) {
    class Spy extends Real {
      constructor(title, options) {
        super(title, options);
        window.__notes.push({ title, body: options && options.body });
      }
    }
    Object.defineProperty(Spy, 'permission', { get: () => Real.permission });
    window.Notification = Spy;
  }
  Object.defineProperty(document, 'visibilityState', {
    configurable: true,
    get: () => (window.__hidden ? 'hidden' : 'visible'),
  });
})();
"""


@dataclass
class Chat:
    base: str
    alice: Page
    bob: Page
    alice_ctx: BrowserContext
    bob_ctx: BrowserContext
    group_id: str
    invitation: str
    urls: list[str] = field(default_factory=list)
    posts: list[bytes] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def watch(
    page: Page, chat_urls: list[str], posts: list[bytes], errors: list[str]
) -> None:
    def on_request(request: Request) -> None:
        chat_urls.append(request.url)
        body = request.post_data_buffer
        if body:
            posts.append(body)

    page.on("request", on_request)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" else None,
    )


@pytest.fixture(scope="module")
def chat(server: ServerProcess, browser: Browser) -> Iterator[Chat]:
    base = server.base_url
    alice_ctx = browser.new_context()
    bob_ctx = browser.new_context()
    bob_ctx.grant_permissions(["notifications"], origin=base)
    bob_ctx.add_init_script(NOTIFICATION_SPY)
    try:
        alice, bob = alice_ctx.new_page(), bob_ctx.new_page()
        state = Chat(base, alice, bob, alice_ctx, bob_ctx, "", "")
        for page in (alice, bob):
            watch(page, state.urls, state.posts, state.errors)
        flows.register(alice, base, "alice", "alice-" + secrets.token_urlsafe(12))
        flows.register(bob, base, "bob", "bob-" + secrets.token_urlsafe(12))
        state.invitation = flows.create_group(alice, GROUP_NAME)
        state.group_id = state.invitation.split("#v1.")[1].split(".")[0]
        bob.goto(state.invitation)
        bob.wait_for_url(re.compile(r"/chat/[\w-]{22}/$"), timeout=T)
        flows.wait_ready(bob)
        yield state
    finally:
        alice_ctx.close()
        bob_ctx.close()


def message(page: Page, text: str) -> Locator:
    return page.locator(
        "article.hw-msg", has=page.locator(".hw-msg-body", has_text=text)
    )


def act(page: Page, text: str, action: str) -> None:
    """Use one of a message's action buttons (shown on hover or focus)."""
    item = message(page, text)
    item.hover()
    item.locator(f"[data-msg-action={action}]").click()


def test_message_list_shows_days_groups_links_long_text_and_large_emoji(
    chat: Chat,
) -> None:
    alice, bob = chat.alice, chat.bob
    composer = alice.locator("[data-testid=composer]")
    composer.fill(FIRST)
    composer.press("Enter")  # Enter sends.
    message(alice, FIRST).wait_for(timeout=T)
    composer.fill("Zeile eins")
    composer.press("Shift+Enter")  # Shift+Enter breaks the line instead.
    composer.type("Zeile zwei")
    assert composer.input_value() == "Zeile eins\nZeile zwei"
    composer.press("Enter")
    for text in (f"Die Liste: {LINK}.", LONG, "🌻🌻🎉"):
        flows.send(alice, text)
    flows.wait_for_message(bob, "🌻🌻🎉")

    two_lines = message(bob, "Zeile eins").locator(".hw-msg-body")
    assert two_lines.inner_text() == "Zeile eins\nZeile zwei"
    # One day separator, reading "Today" in the browser's locale.
    assert bob.locator("[data-role=day-separator]").all_inner_texts() == ["Today"]
    # Alice's messages after the first one follow without her name repeated.
    items = bob.locator("article.hw-msg")
    assert "hw-msg-cont" not in (items.nth(0).get_attribute("class") or "")
    assert "hw-msg-cont" in (items.nth(1).get_attribute("class") or "")
    # The time is written in the user's locale, as a <time> element.
    assert items.nth(0).locator("time").count() == 1

    linked = message(bob, LINK)
    assert linked.locator("a").count() == 0, "links are text, never anchors"
    assert linked.locator(".hw-link").inner_text() == LINK
    assert linked.locator("[data-copy]").get_attribute("data-copy") == LINK
    assert not [u for u in chat.urls if "example.invalid" in u], "never fetched"

    sizes = bob.evaluate(
        """() => {
          const box = document.querySelector('[data-role=messages]');
          const bodies = [...document.querySelectorAll('.hw-msg-body')];
          const size = (el) => parseFloat(getComputedStyle(el).fontSize);
          const long = bodies.find((b) => b.textContent.startsWith('Langer'));
          const emoji = bodies.find((b) => b.textContent === '🌻🌻🎉');
          return {
            overflow: box.scrollWidth - box.clientWidth,
            longWidth: long.getBoundingClientRect().width,
            boxWidth: box.clientWidth,
            emoji: size(emoji),
            plain: size(bodies[0]),
          };
        }"""
    )
    assert sizes["overflow"] <= 0, "a long word wraps inside the list"
    assert sizes["longWidth"] < sizes["boxWidth"]
    assert sizes["emoji"] >= 2 * sizes["plain"], "emoji alone are drawn large"


def test_on_touch_screens_a_tapped_message_shows_its_actions(chat: Chat) -> None:
    # Touch emulation makes Chromium answer "(hover: none)", as phones do; a
    # page of its own keeps it away from the other tests.
    page = chat.bob_ctx.new_page()
    try:
        cdp = chat.bob_ctx.new_cdp_session(page)
        cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": True})
        page.goto(f"{chat.base}/chat/{chat.group_id}/")
        flows.wait_ready(page)
        assert page.evaluate("() => matchMedia('(hover: none)').matches")
        first = message(page, FIRST)
        second = message(page, "Zeile eins")
        first.wait_for(timeout=T)
        actions = first.locator(".hw-msg-actions")
        assert actions.is_hidden()
        first.locator(".hw-msg-body").click()
        assert actions.is_visible()
        second.locator(".hw-msg-body").click()  # one open message at a time
        assert actions.is_hidden()
        assert second.locator(".hw-msg-actions").is_visible()
        second.locator(".hw-msg-body").click()
        assert second.locator(".hw-msg-actions").is_hidden()
    finally:
        page.close()


def test_a_reply_quotes_the_message_it_answers(chat: Chat) -> None:
    alice, bob = chat.alice, chat.bob
    act(bob, FIRST, "reply")
    context = bob.locator("[data-testid=compose-context]")
    assert FIRST in context.inner_text()
    flows.send(bob, REPLY)
    assert context.is_hidden()

    reply = message(alice, REPLY)
    reply.wait_for(timeout=T)
    quote = reply.locator(".hw-quote")
    assert quote.locator(".hw-quote-sender").inner_text() == "You"
    assert quote.locator(".hw-quote-text").inner_text() == FIRST
    # The quote leads to the message it answers.
    quote.click()
    alice.locator("article.hw-msg-hit", has_text=FIRST).wait_for(timeout=T)

    # Escape ends a reply that is being written.
    act(alice, REPLY, "reply")
    assert alice.locator("[data-testid=compose-context]").is_visible()
    alice.locator("[data-testid=composer]").press("Escape")
    assert alice.locator("[data-testid=compose-context]").is_hidden()


def test_reactions_from_the_picker_appear_and_go_live(chat: Chat) -> None:
    alice, bob = chat.alice, chat.bob
    act(bob, FIRST, "react")
    dialog = bob.locator("[data-role=emoji-dialog]")
    dialog.wait_for(state="visible", timeout=T)
    dialog.locator("[data-testid=emoji-search]").fill("flamingo")
    dialog.locator(f"[data-emoji='{PICKED_EMOJI}']").first.click(timeout=T)
    assert dialog.is_hidden()

    chip = message(alice, FIRST).locator(f"[data-react-toggle='{PICKED_EMOJI}']")
    chip.wait_for(timeout=T)
    assert chip.inner_text().replace("\n", " ") == f"{PICKED_EMOJI} 1"
    assert chip.get_attribute("aria-pressed") == "false"

    # Alice adds a quick reaction; Bob's view counts it.
    act(alice, FIRST, "react")
    alice.locator(f"[data-role=emoji-quick] [data-emoji='{QUICK_EMOJI}']").click()
    bob_quick = message(bob, FIRST).locator(f"[data-react-toggle='{QUICK_EMOJI}']")
    bob_quick.wait_for(timeout=T)
    # Bob joins in with one click on the chip: two people now.
    bob_quick.click()
    expect_text(
        alice, message(alice, FIRST), f"[data-react-toggle='{QUICK_EMOJI}']", "2"
    )

    # Taking a reaction back removes it from the other view.
    message(bob, FIRST).locator(f"[data-react-toggle='{PICKED_EMOJI}']").click()
    chip.wait_for(state="detached", timeout=T)


def test_a_reaction_can_be_picked_with_the_keyboard_alone(chat: Chat) -> None:
    alice, bob = chat.alice, chat.bob
    # Tab reaches a message's actions (they show on focus); Enter opens the
    # picker with the focus in its search field.
    message(bob, REPLY).locator("[data-msg-action=react]").focus()
    bob.keyboard.press("Enter")
    search = bob.locator("[data-testid=emoji-search]")
    search.wait_for(state="visible", timeout=T)
    assert search.evaluate("(el) => el === document.activeElement")
    bob.locator("[data-role=emoji-grid] [data-emoji]").first.wait_for(timeout=T)
    bob.keyboard.press("ArrowDown")
    bob.keyboard.press("ArrowRight")
    bob.keyboard.press("ArrowDown")
    focused = bob.evaluate("() => document.activeElement.dataset.emoji")
    second_row_second = bob.evaluate(
        """() => {
          const grid = document.querySelector('[data-role=emoji-grid]');
          const all = [...grid.querySelectorAll('[data-emoji]')];
          const columns = all.filter((b) => b.offsetTop === all[0].offsetTop).length;
          return all[columns + 1].dataset.emoji;
        }"""
    )
    assert focused == second_row_second
    bob.keyboard.press("Enter")
    chip = message(alice, REPLY).locator(f"[data-react-toggle='{focused}']")
    chip.wait_for(timeout=T)


def expect_text(page: Page, scope: Locator, selector: str, text: str) -> None:
    scope.locator(selector, has_text=text).wait_for(timeout=T)


def test_an_edit_replaces_the_text_in_the_other_view(chat: Chat) -> None:
    alice, bob = chat.alice, chat.bob
    flows.send(alice, ORIGINAL)
    flows.wait_for_message(bob, ORIGINAL)
    act(alice, ORIGINAL, "edit")
    composer = alice.locator("[data-testid=composer]")
    assert composer.input_value() == ORIGINAL
    composer.fill(EDITED)
    composer.press("Enter")

    edited = message(bob, EDITED)
    edited.wait_for(timeout=T)
    assert message(bob, ORIGINAL).count() == 0
    assert edited.locator("[data-role=edited]").count() == 1
    # Only one's own messages offer an edit.
    edited.hover()
    assert edited.locator("[data-msg-action=edit]").count() == 0


def test_a_delete_removes_the_message_everywhere(
    chat: Chat, server: ServerProcess
) -> None:
    alice, bob = chat.alice, chat.bob
    flows.send(alice, DOOMED)
    flows.wait_for_message(bob, DOOMED)
    rows_before = count_messages(server)
    act(alice, DOOMED, "delete")
    alice.locator("[data-testid=confirm-delete]").click()
    message(bob, DOOMED).wait_for(state="detached", timeout=T)
    message(alice, DOOMED).wait_for(state="detached", timeout=T)
    assert count_messages(server) == rows_before - 1
    # The edited message goes with its edit: both rows hold its text.
    rows_before = count_messages(server)
    act(alice, EDITED, "delete")
    alice.locator("[data-testid=confirm-delete]").click()
    for page in (alice, bob):
        for text in (EDITED, ORIGINAL):
            message(page, text).wait_for(state="detached", timeout=T)
    alice.wait_for_function(
        "() => !document.querySelector('[data-role=send-error]').textContent"
    )
    wait_until(lambda: count_messages(server) == rows_before - 2)


def wait_until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def count_messages(server: ServerProcess) -> int:
    return sum(1 for key, _ in database_cells(server) if key == "chat_message.id")


def test_the_encrypted_description_shows_for_members_live(chat: Chat) -> None:
    alice, bob = chat.alice, chat.bob
    alice.click("[data-testid=group-info]")
    alice.fill("[data-testid=info-description]", DESCRIPTION)
    alice.click("[data-testid=info-save]")
    shown = bob.locator("[data-testid=group-description]")
    shown.wait_for(state="visible", timeout=T)
    assert shown.inner_text() == DESCRIPTION
    # Bob is a member, not the owner: he reads it but cannot change it.
    bob.click("[data-testid=group-info]")
    assert bob.locator("[data-testid=info-description]").input_value() == DESCRIPTION
    assert bob.locator("[data-testid=info-description]").get_attribute("readonly") == ""
    assert bob.locator("[data-testid=info-save]").is_hidden()
    bob.keyboard.press("Escape")  # Escape closes dialogs.
    bob.locator("[data-role=info-dialog]").wait_for(state="hidden", timeout=T)


def test_search_runs_in_the_browser_and_sends_nothing(chat: Chat) -> None:
    alice, bob = chat.alice, chat.bob
    flows.send(alice, SEARCH_TARGET)
    flows.wait_for_message(bob, SEARCH_TARGET)
    sent_before = len(chat.urls)
    bob.click("[data-testid=search]")
    bob.fill("[data-testid=search-input]", SEARCH_QUERY)
    hit = bob.locator("[data-search-hit]")
    hit.first.wait_for(timeout=T)
    assert hit.count() == 1
    assert hit.locator("mark").inner_text().lower() == SEARCH_QUERY
    hit.click()
    bob.locator("article.hw-msg-hit", has_text=SEARCH_TARGET).wait_for(timeout=T)
    # Nothing about the query left the browser: no URL and no request body.
    for url in chat.urls[sent_before:]:
        assert SEARCH_QUERY not in url.lower()
    for body in chat.posts:
        assert SEARCH_QUERY.encode() not in body.lower()


def notes(page: Page) -> list[dict[str, str]]:
    found: list[dict[str, str]] = page.evaluate("() => window.__notes")
    return found


def test_notifications_name_only_the_group_and_respect_mute(chat: Chat) -> None:
    alice, bob = chat.alice, chat.bob
    assert bob.evaluate("() => Notification.permission") == "granted"
    # While the tab is visible, nothing is shown.
    flows.send(alice, "Sichtbar, also keine Benachrichtigung")
    flows.wait_for_message(bob, "Sichtbar, also keine")
    assert notes(bob) == []

    bob.evaluate("() => { window.__hidden = true; }")
    flows.send(alice, NOTIFIED)
    flows.wait_for_message(bob, NOTIFIED)
    bob.wait_for_function("() => window.__notes.length === 1", timeout=T)
    assert notes(bob) == [
        {"title": "HashWhisper", "body": f"New message in {GROUP_NAME}"}
    ]

    show(bob)
    bob.click("[data-testid=group-info]")
    bob.check("[data-testid=mute-group]")
    bob.keyboard.press("Escape")
    bob.evaluate("() => { window.__hidden = true; }")
    flows.send(alice, MUTED)
    flows.wait_for_message(bob, MUTED)
    bob.wait_for_timeout(300)
    assert len(notes(bob)) == 1, "a muted group stays silent"
    assert bob.locator("[data-group-id] .fa-bell-slash").count() == 1
    show(bob)


def show(page: Page) -> None:
    """Bring the tab back, as a real browser would, with its event."""
    page.evaluate(
        """() => {
          window.__hidden = false;
          document.dispatchEvent(new Event('visibilitychange'));
        }"""
    )


def test_unread_counts_and_the_new_messages_divider(chat: Chat) -> None:
    alice, bob = chat.alice, chat.bob
    flows.create_group(bob, "Bobs Notizen")  # Bob now looks at another group.
    flows.send(alice, UNSEEN_1)
    flows.send(alice, UNSEEN_2)
    badge = bob.locator(f"[data-group-id='{chat.group_id}'] .hw-unread")
    expect_badge(bob, chat.group_id, "2")

    # After a reload the count comes from the server's read marker.
    bob.goto(f"{chat.base}/chat/")
    flows.wait_ready(bob)
    expect_badge(bob, chat.group_id, "2")

    # The page marks the group read shortly after drawing it; the reload
    # below must come after the server has stored that marker, however slow
    # the machine (a fixed 800 ms wait failed when the POST came later).
    read_marker = f"/api/groups/{chat.group_id}/read"
    with bob.expect_response(
        lambda answer: answer.url.endswith(read_marker) and answer.ok, timeout=T
    ):
        bob.click(f"[data-group-id='{chat.group_id}']")
        divider = bob.locator("[data-role=new-divider]")
        divider.wait_for(timeout=T)
        following = bob.locator("[data-role=new-divider] + article.hw-msg")
        assert UNSEEN_1 in following.inner_text()
        assert badge.count() == 0

    # Once read, the marker is on the server: a reload shows no divider.
    bob.reload()
    flows.wait_ready(bob)
    message(bob, UNSEEN_2).wait_for(timeout=T)
    assert bob.locator("[data-role=new-divider]").count() == 0


def expect_badge(page: Page, group_id: str, text: str) -> None:
    page.locator(f"[data-group-id='{group_id}'] .hw-unread", has_text=text).wait_for(
        timeout=T
    )


def test_a_private_chat_starts_from_a_member_and_has_its_own_invitation(
    chat: Chat,
) -> None:
    alice, bob = chat.alice, chat.bob
    alice.click("[data-testid=group-info]")
    alice.click("[data-direct-to=bob]")
    note = alice.locator("[data-testid=invite-direct-note]")
    note.wait_for(state="visible", timeout=T)
    assert "bob" in note.inner_text()
    invitation = alice.locator("[data-testid=invite-link]").input_value()
    assert invitation != chat.invitation
    direct_id = invitation.split("#v1.")[1].split(".")[0]
    assert direct_id != chat.group_id
    alice.click("[data-role=invite-dialog] [data-action=close-dialog]")
    assert alice.locator("[data-role=group-name]").inner_text() == DIRECT_NAME

    # Bob receives the invitation out of band and opens it.
    bob.goto(invitation)
    bob.wait_for_url(re.compile(rf"/chat/{direct_id}/$"), timeout=T)
    flows.wait_ready(bob)
    bob.locator("[data-role=group-name]", has_text=DIRECT_NAME).wait_for(timeout=T)
    flows.send(bob, "Nur zwischen uns beiden")
    flows.wait_for_message(alice, "Nur zwischen uns beiden")
    # Back to the shared group for the tests that follow.
    for page in (alice, bob):
        page.click(f"[data-group-id='{chat.group_id}']")
        page.locator("[data-role=group-name]", has_text=GROUP_NAME).wait_for(timeout=T)


def test_the_description_survives_a_key_rotation(chat: Chat, browser: Browser) -> None:
    """Rotation seals it again under the new key, so a member who only ever
    held the new key reads it."""
    alice = chat.alice
    lifecycle_flows.open_members(alice)
    invitation = lifecycle_flows.rotate(alice)
    alice.reload()
    flows.wait_ready(alice)
    shown = alice.locator("[data-testid=group-description]")
    shown.wait_for(state="visible", timeout=T)
    assert shown.inner_text() == DESCRIPTION

    context = browser.new_context()
    try:
        carol = context.new_page()
        flows.register(carol, chat.base, "carol", "carol-" + secrets.token_urlsafe(12))
        carol.goto(invitation)
        carol.wait_for_url(re.compile(rf"/chat/{chat.group_id}/$"), timeout=T)
        flows.wait_ready(carol)
        seen = carol.locator("[data-testid=group-description]")
        seen.wait_for(state="visible", timeout=T)
        assert seen.inner_text() == DESCRIPTION
    finally:
        context.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots_of_the_main_pages(
    chat: Chat, theme: Literal["light", "dark"]
) -> None:
    """Phone and desktop sizes, both themes, for the README."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    alice = chat.alice
    alice.evaluate("() => localStorage.removeItem('hashwhisper-theme')")
    alice.emulate_media(color_scheme=theme)  # "system" follows the browser.
    for name, size in (("phone", (390, 844)), ("desktop", (1440, 900))):
        alice.set_viewport_size({"width": size[0], "height": size[1]})
        alice.goto(f"{chat.base}/chat/{chat.group_id}/")
        flows.wait_ready(alice)
        message(alice, SEARCH_TARGET).wait_for(timeout=T)
        assert alice.evaluate("() => document.documentElement.dataset.bsTheme") == theme
        alice.wait_for_timeout(200)
        path = SCREENSHOTS / f"chat-{name}-{theme}.png"
        alice.screenshot(path=str(path))
        assert path.stat().st_size > 10_000
    with_picker = SCREENSHOTS / f"reactions-desktop-{theme}.png"
    act(alice, SEARCH_TARGET, "react")
    alice.locator("[data-role=emoji-grid] [data-emoji]").first.wait_for(timeout=T)
    alice.screenshot(path=str(with_picker))
    alice.keyboard.press("Escape")
    alice.set_viewport_size({"width": 1280, "height": 720})


def test_login_page_screenshots(chat: Chat, browser: Browser) -> None:
    themes: tuple[Literal["light", "dark"], ...] = ("light", "dark")
    for theme in themes:
        for name, (width, height) in (("phone", (390, 844)), ("desktop", (1440, 900))):
            context = browser.new_context(
                viewport={"width": width, "height": height}, color_scheme=theme
            )
            try:
                page = context.new_page()
                page.goto(f"{chat.base}/accounts/login/")
                page.locator("#id_username").wait_for(timeout=T)
                page.screenshot(path=str(SCREENSHOTS / f"login-{name}-{theme}.png"))
            finally:
                context.close()


def test_no_page_error_happened(chat: Chat) -> None:
    assert chat.errors == []


def test_the_server_kept_none_of_the_words_or_emoji(
    chat: Chat, server: ServerProcess
) -> None:
    canaries: dict[str, bytes | str] = {
        "group name": GROUP_NAME,
        "description": DESCRIPTION,
        "reply": REPLY,
        "edit": EDITED,
        "original": ORIGINAL,
        "deleted": DOOMED,
        "search query": SEARCH_QUERY,
        "search target": SEARCH_TARGET,
        "direct chat name": DIRECT_NAME,
        "notified text": NOTIFIED,
        # The plaintext shape of the feature documents.
        "reaction document": f'"emoji":"{PICKED_EMOJI}"',
        "reaction type": '"type":"reaction"',
        "edit type": '"type":"edit"',
        "reply type": '"reply_to"',
    }
    rows = list(database_cells(server))
    files = list(server_files(server))
    leaks = find_leaks(canaries, iter(rows)) + find_leaks(canaries, iter(files))
    # A single emoji is four bytes, below find_leaks' noise floor: look for
    # its raw and escaped forms on their own.
    short = {"picked emoji": PICKED_EMOJI, "quick emoji": QUICK_EMOJI}
    for label, emoji in short.items():
        forms = encodings(emoji)
        for where, blob in rows + files:
            for form in ("utf-8", "json-escaped"):
                if forms[form] in blob:
                    leaks.append(f"{label} ({form}) in {where}")
    assert leaks == []
    assert server.log_path.stat().st_size > 0
