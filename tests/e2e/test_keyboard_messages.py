"""The message list with the keyboard: one tab stop, arrows between messages.

The list is a feed of articles with a roving tabindex: one message is in the
tab order, the arrow keys (and Home and End) move between messages, Enter
goes into a message's buttons and Escape comes back out. Redrawing the list
when a message arrives keeps the focus where it was, on the message or on
the button inside it, and leaves the view where the reader is.

Alice and Bob are signed up once and share one group with five messages;
each test opens Alice's page anew.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e import flows
from tests.e2e import lifecycle_flows as life
from tests.e2e.people import DESKTOP, Person, signed_up
from tests.e2e.server import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

pytestmark = pytest.mark.e2e

# What has the focus: the message (by id) it is in, and which control.
FOCUS = """() => {
  const active = document.activeElement;
  const item = active.closest('[data-role=messages] [data-message-id]');
  return {
    tag: active.tagName.toLowerCase(),
    inList: Boolean(active.closest('[data-role=messages]')),
    inComposer: Boolean(active.closest('[data-role=composer]')),
    message: item ? item.dataset.messageId : null,
    onMessage: Boolean(item) && item === active,
    action: active.dataset.msgAction || null,
  };
}"""

# The ids of the messages shown, oldest first.
MESSAGE_IDS = """() => [...document.querySelectorAll(
  '[data-role=messages] article[data-message-id]')].map((m) => m.dataset.messageId)"""

# Everything in the message list that Tab would stop at.
TAB_STOPS = """() => {
  const box = document.querySelector('[data-role=messages]');
  const candidates = [box, ...box.querySelectorAll(
    'button, a[href], input, select, textarea, audio, video, [tabindex]')];
  return candidates.filter((el) => el.tabIndex >= 0 && !el.disabled
    && el.getClientRects().length > 0).map((el) => el.dataset.messageId || el.tagName);
}"""

# Where the message list is scrolled to, and whether a message is in view.
VIEW = """(id) => {
  const box = document.querySelector('[data-role=messages]');
  const item = box.querySelector(`[data-message-id="${id}"]`);
  const outer = box.getBoundingClientRect();
  const inner = item.getBoundingClientRect();
  return {
    top: box.scrollTop,
    scrollable: box.scrollHeight > box.clientHeight + 40,
    visible: inner.bottom > outer.top && inner.top < outer.bottom,
  };
}"""

SHORT: ViewportSize = {"width": DESKTOP["width"], "height": 480}


@dataclass
class Conversation:
    alice: Person
    bob: Person
    group_id: str
    sent: int = 0

    def open(self) -> Page:
        page = self.alice.chat(self.group_id)
        page.locator("article.hw-msg").first.wait_for(timeout=flows.TIMEOUT_MS)
        return page

    def bob_says(self) -> str:
        """Bob sends a message; it reaches Alice through the live stream."""
        self.sent += 1
        text = f"Bob, live {self.sent}"
        flows.send(self.bob.page, text)
        flows.wait_for_message(self.alice.page, text)
        return text


@pytest.fixture(scope="module")
def people(server: ServerProcess, browser: Browser) -> Iterator[dict[str, Person]]:
    with signed_up(server, browser, "alice", "bob") as crowd:
        yield crowd


@pytest.fixture(scope="module")
def talk(people: dict[str, Person]) -> Conversation:
    alice = people["alice"].chat()
    link = flows.create_group(alice, "Keyboard")
    group_id = life.group_id_of(alice)
    bob = people["bob"].page
    life.open_invitation(bob, link)
    # Five messages, each with its buttons (reaction, reply; edit and delete
    # on one's own), from both people.
    for number in range(1, 6):
        page = alice if number % 2 else bob
        flows.send(page, f"Message {number}, with buttons")
    flows.wait_for_message(alice, "Message 4, with buttons")
    return Conversation(people["alice"], people["bob"], group_id)


def focus(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(FOCUS)
    return result


def tab_into_list(page: Page) -> None:
    """From the last button of the group's header, Tab into the list."""
    page.focus("[data-action=leave]")
    page.keyboard.press("Tab")


def test_the_message_list_is_one_tab_stop(talk: Conversation) -> None:
    page = talk.open()
    ids = page.evaluate(MESSAGE_IDS)
    assert len(ids) == 5

    tab_into_list(page)
    # The list is entered on its newest message, a tab stop of its own.
    assert focus(page) | {"tag": ""} == {
        "tag": "",
        "inList": True,
        "inComposer": False,
        "message": ids[-1],
        "onMessage": True,
        "action": None,
    }
    # One tab stop in the whole list, however many buttons its messages have.
    assert page.evaluate(TAB_STOPS) == [ids[-1]]
    page.keyboard.press("Tab")
    assert focus(page)["inComposer"], focus(page)
    page.keyboard.press("Shift+Tab")
    assert focus(page)["message"] == ids[-1]

    feed = page.locator("[data-role=messages]")
    assert feed.get_attribute("role") == "feed"
    # The keys are told to screen readers with the list.
    keys = page.locator(f"[id='{feed.get_attribute('aria-describedby')}']")
    assert "Enter" in keys.inner_text() and "Escape" in keys.inner_text()
    newest = page.locator(f"article[data-message-id='{ids[-1]}']")
    assert newest.get_attribute("aria-posinset") == "5"
    assert newest.get_attribute("aria-setsize") == "5"
    # Named by its sender and time; the text is not copied into attributes.
    label_id = newest.get_attribute("aria-labelledby") or ""
    label = page.locator(f"[id='{label_id}']").inner_text()
    assert label.startswith("You · "), label
    attributes = newest.evaluate(
        "(m) => [...m.attributes].map((a) => a.value).join(' ')"
    )
    assert "with buttons" not in attributes


def test_arrows_home_and_end_move_between_messages(talk: Conversation) -> None:
    page = talk.open()
    ids = page.evaluate(MESSAGE_IDS)
    tab_into_list(page)
    assert focus(page)["message"] == ids[-1]

    page.keyboard.press("ArrowUp")
    assert focus(page)["message"] == ids[-2]
    page.keyboard.press("ArrowUp")
    assert focus(page)["message"] == ids[-3]
    page.keyboard.press("ArrowDown")
    assert focus(page)["message"] == ids[-2]
    page.keyboard.press("Home")
    assert focus(page)["message"] == ids[0]
    page.keyboard.press("ArrowUp")  # Nothing older: it stays.
    assert focus(page)["message"] == ids[0]
    page.keyboard.press("End")
    assert focus(page)["message"] == ids[-1]
    page.keyboard.press("ArrowDown")
    assert focus(page)["message"] == ids[-1]
    # Control+End and Control+Home leave the list, as in the feed pattern.
    page.keyboard.press("Control+End")
    assert focus(page)["inComposer"], focus(page)
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Control+Home")
    assert page.evaluate("document.activeElement.dataset.action") == "leave"
    page.keyboard.press("Tab")
    assert focus(page)["message"] == ids[-1]

    # The message moved to is the list's one tab stop now.
    page.keyboard.press("ArrowUp")
    assert page.evaluate(TAB_STOPS) == [ids[-2]]
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")
    assert focus(page) | {"tag": ""} == {
        "tag": "",
        "inList": True,
        "inComposer": False,
        "message": ids[-2],
        "onMessage": True,
        "action": None,
    }


def test_enter_goes_into_a_message_and_escape_comes_back(
    talk: Conversation,
) -> None:
    page = talk.open()
    ids = page.evaluate(MESSAGE_IDS)
    tab_into_list(page)
    page.keyboard.press("ArrowUp")  # Bob's message 4: react and reply.

    page.keyboard.press("Enter")
    inside = focus(page)
    assert inside["message"] == ids[-2] and not inside["onMessage"], inside
    assert inside["action"] == "react"
    page.keyboard.press("Tab")
    assert focus(page)["action"] == "reply"
    assert focus(page)["message"] == ids[-2]
    page.keyboard.press("Shift+Tab")
    assert focus(page)["action"] == "react"

    page.keyboard.press("Escape")
    assert focus(page)["message"] == ids[-2]
    assert focus(page)["onMessage"]
    # Out of the message, its buttons leave the tab order again.
    assert page.evaluate(TAB_STOPS) == [ids[-2]]
    page.keyboard.press("ArrowUp")
    assert focus(page)["message"] == ids[-3]


def test_focus_on_a_message_survives_a_new_message(talk: Conversation) -> None:
    page = talk.open()
    # A short window, so the list scrolls and the reader is away from its end.
    page.set_viewport_size(SHORT)
    try:
        ids = page.evaluate(MESSAGE_IDS)
        tab_into_list(page)
        page.keyboard.press("Home")
        assert focus(page)["message"] == ids[0]
        before = page.evaluate(VIEW, ids[0])
        assert before["scrollable"] and before["visible"], before

        talk.bob_says()
        # Before the change the redrawn list dropped the focus to <body>.
        assert focus(page)["message"] == ids[0]
        assert focus(page)["onMessage"]
        after = page.evaluate(VIEW, ids[0])
        assert after["top"] == before["top"], (before, after)
        assert after["visible"]
        page.keyboard.press("ArrowDown")
        assert focus(page)["message"] == ids[1]
    finally:
        page.set_viewport_size(DESKTOP)


def test_focus_on_a_button_in_a_message_survives_a_new_message(
    talk: Conversation,
) -> None:
    page = talk.open()
    ids = page.evaluate(MESSAGE_IDS)
    # Alice's own message 3 has react, reply, edit and delete.
    page.locator(f"article[data-message-id='{ids[2]}'] [data-msg-action=edit]").focus()
    assert focus(page)["action"] == "edit"

    talk.bob_says()
    assert focus(page) == {
        "tag": "button",
        "inList": True,
        "inComposer": False,
        "message": ids[2],
        "onMessage": False,
        "action": "edit",
    }
    # Still inside the message: Tab goes on to its next button.
    page.keyboard.press("Tab")
    assert focus(page)["action"] == "delete"
    assert focus(page)["message"] == ids[2]


# Sends messages through the composer, one after another.
SEND_MANY = """async (count) => {
  const input = document.querySelector('[data-testid=composer]');
  const form = document.querySelector('[data-role=composer]');
  for (let number = 1; number <= count; number += 1) {
    input.value = `Filler ${number}`;
    form.requestSubmit();
    await new Promise((resolve) => {
      const check = () => (input.value === '' && !input.disabled
        ? resolve() : setTimeout(check, 20));
      check();
    });
  }
}"""


def test_moving_up_past_the_oldest_loads_older_messages(
    people: dict[str, Person],
) -> None:
    page = people["alice"].chat()
    flows.create_group(page, "Long history")
    group_id = life.group_id_of(page)
    page.evaluate(SEND_MANY, 53)  # A page of history holds 50.
    page = people["alice"].chat(group_id)
    ids = page.evaluate(MESSAGE_IDS)
    assert len(ids) == 50
    assert (
        page.locator(f"article[data-message-id='{ids[0]}']").get_attribute(
            "aria-setsize"
        )
        == "-1"
    )  # More are on the server.

    tab_into_list(page)
    # Up from the oldest loaded message, at once (before the scrolling that
    # Home does has loaded anything): the older ones are loaded and the
    # focus moves on to the one right above.
    page.keyboard.press("Home")
    page.keyboard.press("ArrowUp")
    page.wait_for_function(
        "(n) => document.querySelectorAll('article[data-message-id]').length > n",
        arg=50,
        timeout=flows.TIMEOUT_MS,
    )
    everything = page.evaluate(MESSAGE_IDS)
    assert len(everything) == 53
    page.wait_for_function(
        "(id) => document.activeElement.dataset.messageId === id",
        arg=everything[2],
        timeout=flows.TIMEOUT_MS,
    )
    assert everything[3] == ids[0]
    first = page.locator(f"article[data-message-id='{everything[0]}']")
    assert first.get_attribute("aria-setsize") == "53"


# The contrast between the focused message's ring and the list behind it
# (WCAG's relative luminance; a focus indicator needs 3:1).
RING_CONTRAST = """() => {
  const parse = (text) => {
    const probe = document.createElement('canvas').getContext('2d');
    probe.fillStyle = text;
    probe.fillRect(0, 0, 1, 1);
    return [...probe.getImageData(0, 0, 1, 1).data];
  };
  const over = (top, bottom) => top.slice(0, 3).map(
    (c, i) => c * (top[3] / 255) + bottom[i] * (1 - top[3] / 255));
  const luminance = (rgb) => {
    const [r, g, b] = rgb.map((c) => {
      const v = c / 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const box = document.querySelector('[data-role=messages]');
  let back = [255, 255, 255, 255];
  for (let el = box; el; el = el.parentElement) {
    const color = parse(getComputedStyle(el).backgroundColor);
    if (color[3] > 0) { back = color; break; }
  }
  if (back[3] === 0) back = parse(getComputedStyle(document.body).backgroundColor);
  const ring = over(parse(getComputedStyle(document.activeElement).outlineColor), back);
  const [a, b] = [luminance(ring), luminance(back.slice(0, 3))].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


def test_the_focus_ring_stands_out_in_both_themes(talk: Conversation) -> None:
    page = talk.open()
    for theme in ("light", "dark"):
        page.evaluate(
            "(theme) => document.documentElement.setAttribute('data-bs-theme', theme)",
            theme,
        )
        tab_into_list(page)
        assert focus(page)["onMessage"]
        contrast = page.evaluate(RING_CONTRAST)
        assert contrast >= 3, (theme, contrast)


# Live regions that hold the conversation: each would read it out anew at
# every redraw.
LIVE_AROUND_MESSAGES = """() => [...document.querySelectorAll('[aria-live]')]
  .filter((region) => region.querySelector('[data-role=messages]')).length"""


def test_screen_readers_hear_one_sentence_for_a_new_message(
    talk: Conversation,
) -> None:
    page = talk.open()
    # Before the change the whole chat section was a polite live region.
    assert page.evaluate(LIVE_AROUND_MESSAGES) == 0
    text = talk.bob_says()
    announcer = page.get_by_test_id("announcer")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=announcer]').textContent",
        timeout=flows.TIMEOUT_MS,
    )
    said = announcer.text_content() or ""
    # Bob's user name is "bob" and a suffix of the run.
    assert re.fullmatch(r"New message from bob\w*\.?", said), said
    assert text not in said
    assert announcer.get_attribute("aria-live") == "polite"


# How a message sits in the list: its top below the list's top, its bottom
# above the list's bottom (both in pixels, negative when cut off).
EDGES = """(id) => {
  const box = document.querySelector('[data-role=messages]');
  const outer = box.getBoundingClientRect();
  const inner = box.querySelector(`[data-message-id="${id}"]`).getBoundingClientRect();
  return { top: inner.top - outer.top, bottom: outer.bottom - inner.bottom,
           scroll: box.scrollTop, height: outer.height };
}"""


def test_a_message_taller_than_the_list_is_read_with_the_arrows(
    talk: Conversation,
) -> None:
    tall_text = "\n".join(f"Line {n} of a long message" for n in range(1, 81))
    flows.send(talk.bob.page, tall_text)
    talk.bob_says()
    page = talk.open()
    page.set_viewport_size(SHORT)
    ids = page.evaluate(MESSAGE_IDS)
    tall = ids[-2]
    tab_into_list(page)
    page.keyboard.press("ArrowUp")
    assert focus(page)["message"] == tall
    edges = page.evaluate(EDGES, tall)
    assert edges["top"] >= 0 and edges["bottom"] < -edges["height"], edges

    # Down goes through the message a screen at a time, then on.
    scrolls = [edges["scroll"]]
    while focus(page)["message"] == tall:
        assert len(scrolls) < 40, "the arrows never got past the message"
        page.keyboard.press("ArrowDown")
        scrolls.append(page.evaluate(EDGES, tall)["scroll"])
    assert focus(page)["message"] == ids[-1]
    # The last press moved the focus on: not a step through the message.
    steps = [after - before for before, after in itertools.pairwise(scrolls[:-1])]
    assert len(steps) >= 3 and min(steps) > 0, scrolls
    # Each step leaves some of what was shown in view.
    assert max(steps) < edges["height"], (steps, edges)

    # Up comes back to its top, and goes through it from the end upwards.
    page.keyboard.press("ArrowUp")
    assert focus(page)["message"] == tall
    assert page.evaluate(EDGES, tall)["top"] >= 0
    page.keyboard.press("End")
    page.keyboard.press("ArrowUp")
    for _ in range(40):
        if page.evaluate(EDGES, tall)["bottom"] >= 0:
            break
        page.keyboard.press("ArrowDown")
    assert focus(page)["message"] == tall
    assert page.evaluate(EDGES, tall)["bottom"] >= 0
    page.keyboard.press("ArrowUp")
    assert focus(page)["message"] == tall
    assert page.evaluate(EDGES, tall)["top"] < 0
    while focus(page)["message"] == tall:
        assert page.evaluate(EDGES, tall)["scroll"] > 0
        page.keyboard.press("ArrowUp")
    assert focus(page)["message"] == ids[-3]


def test_no_page_error_happened(people: dict[str, Person]) -> None:
    for person in people.values():
        assert person.errors == []
