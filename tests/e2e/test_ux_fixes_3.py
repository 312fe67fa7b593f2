"""Third round of interface faults found by walking through the chat.

Each test drives the real server in Chromium and fails on the code before its
fix: names of icon-only buttons, the composer's placeholder on a phone and
where the "New messages" divider goes.

Alice and Bob are signed up once (Argon2 and TOTP make signing up slow); each
test works in a group of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.e2e import flows
from tests.e2e import lifecycle_flows as life
from tests.e2e.people import DESKTOP, Person, signed_up
from tests.e2e.server import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        Page,
        ViewportSize,
    )

pytestmark = pytest.mark.e2e

T = flows.TIMEOUT_MS
PHONE: ViewportSize = {"width": 375, "height": 700}

# The buttons of the chat header, the composer and the reply/edit line that
# show only an icon at the current width, with their title and aria-label.
ICON_ONLY_BUTTONS = """() => {
  const places = 'header, [data-role=composer], [data-role=compose-context]';
  const found = [];
  for (const place of document.querySelectorAll(places)) {
    for (const button of place.querySelectorAll('button')) {
      if (!button.offsetParent) continue;  // not shown at this width
      const copy = button.cloneNode(true);
      for (const hidden of copy.querySelectorAll('.visually-hidden, .d-none')) {
        hidden.remove();
      }
      // Text hidden at this width (d-sm-inline and the like) does not count.
      const shown = [...button.querySelectorAll('span')].some(
        (span) => !span.classList.contains('visually-hidden')
          && span.offsetParent && span.textContent.trim());
      if (shown) continue;
      found.push({
        action: button.dataset.action || button.dataset.testid || button.type,
        title: button.getAttribute('title') || '',
        label: button.getAttribute('aria-label') || '',
      });
    }
  }
  return found;
}"""

# Whether the composer's placeholder fits on the field's one line.
PLACEHOLDER_FIT = """() => {
  const field = document.querySelector('[data-testid=composer]');
  const style = getComputedStyle(field);
  const context = document.createElement('canvas').getContext('2d');
  context.font = style.font;
  const inner = field.clientWidth - parseFloat(style.paddingLeft)
    - parseFloat(style.paddingRight);
  return {
    text: field.placeholder,
    textWidth: context.measureText(field.placeholder).width,
    inner,
  };
}"""


@pytest.fixture(scope="module")
def people(server: ServerProcess, browser: Browser) -> Iterator[dict[str, Person]]:
    with signed_up(server, browser, "alice", "bob") as crowd:
        yield crowd


def test_icon_only_buttons_have_a_tooltip_and_a_name(
    people: dict[str, Person],
) -> None:
    alice = people["alice"].chat()
    flows.create_group(alice, "Buttons")
    leave = alice.locator("[data-action=leave]")
    assert leave.get_attribute("title") == "Leave this group"
    assert leave.get_attribute("aria-label") == "Leave this group"

    try:
        for viewport in (DESKTOP, PHONE):
            alice.set_viewport_size(viewport)
            buttons = alice.evaluate(ICON_ONLY_BUTTONS)
            actions = {button["action"] for button in buttons}
            assert {"leave", "send", "attach"} <= actions, buttons
            unnamed = [b for b in buttons if not (b["title"] and b["label"])]
            assert unnamed == [], viewport
    finally:
        alice.set_viewport_size(DESKTOP)


def test_the_composer_placeholder_fits_a_phone_screen(
    people: dict[str, Person],
) -> None:
    alice = people["alice"].chat()
    flows.create_group(alice, "Small screen")
    try:
        alice.set_viewport_size(PHONE)
        fit = alice.evaluate(PLACEHOLDER_FIT)
        assert fit["text"].strip(), fit
        assert "encrypt" in fit["text"].lower(), fit
        assert fit["textWidth"] <= fit["inner"], fit
    finally:
        alice.set_viewport_size(DESKTOP)


def dividers(page: Page) -> int:
    return page.locator("[data-role=new-divider]").count()


def test_the_new_messages_divider_marks_only_what_came_while_away(
    people: dict[str, Person],
) -> None:
    alice = people["alice"].chat()
    link = flows.create_group(alice, "Divider")
    group_id = life.group_id_of(alice)
    bob = people["bob"].page
    life.open_invitation(bob, link)
    # Alice has the group open and in view: what Bob sends now is read at once.
    assert alice.evaluate("document.visibilityState") == "visible"
    flows.send(bob, "Seen as it came")
    flows.wait_for_message(alice, "Seen as it came")
    assert dividers(alice) == 0

    # Alice looks at another group while Bob writes, then comes back.
    flows.create_group(alice, "Elsewhere")
    flows.send(bob, "Came while away")
    item = alice.locator(f"[data-role=group-list] [data-group-id='{group_id}']")
    item.locator(".hw-unread").wait_for(timeout=T)
    item.click()
    flows.wait_for_message(alice, "Came while away")
    assert dividers(alice) == 1
    after = alice.locator("[data-role=new-divider] + *")
    assert "Came while away" in after.inner_text()
    assert "Seen as it came" not in after.inner_text()


def test_no_page_error_happened(people: dict[str, Person]) -> None:
    for person in people.values():
        assert person.errors == []
