"""The chat layout of static/css/app.css with Bootstrap's bundle, under CSP.

A page built from the classes app.css documents is measured in Chromium at a
desktop and a phone size: the app fills the viewport without the page
scrolling, only the message list scrolls, bubbles sit on their side, and the
group list is a sidebar on wide screens and a collapsible panel on narrow ones.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.frontend.conftest import PageOpener
from tests.frontend.support import WatchedPage

pytestmark = pytest.mark.browser

DANGER = "rgb(220, 53, 69)"

MEASURE = """() => {
  const box = (selector) => {
    const rect = document.querySelector(selector).getBoundingClientRect();
    return { left: rect.left, right: rect.right, top: rect.top, bottom: rect.bottom,
             width: rect.width, height: rect.height };
  };
  const style = (selector) => getComputedStyle(document.querySelector(selector));
  const list = document.getElementById('messages');
  return {
    viewport: { width: window.innerWidth, height: window.innerHeight },
    pageScroll: document.scrollingElement.scrollHeight,
    app: box('.hw-app'),
    list: box('#messages'),
    listScrolls: list.scrollHeight > list.clientHeight,
    listContentRight: list.getBoundingClientRect().left + list.clientWidth,
    composer: box('.hw-composer'),
    groupsDisplay: style('#groups').display,
    groups: box('#groups'),
    mine: box('.hw-msg-mine'),
    theirs: box('.hw-msg-theirs:not(.hw-msg-failed)'),
    failedBorder: style('.hw-msg-failed').borderTopColor,
    metaSize: style('.hw-msg-meta').fontSize,
    emptyUnread: style('.hw-groups a:nth-child(2) .hw-unread').display,
    unread: style('.hw-unread').display,
  };
}"""


def open_chat(open_page: PageOpener, viewport: tuple[int, int]) -> WatchedPage:
    watched = open_page("chat.html", viewport=viewport)
    watched.page.wait_for_function("() => document.body.dataset.chatState === 'filled'")
    return watched


def measure(watched: WatchedPage) -> dict[str, Any]:
    result: dict[str, Any] = watched.page.evaluate(MEASURE)
    return result


def assert_fills_viewport_and_scrolls_inside(sizes: dict[str, Any]) -> None:
    height = sizes["viewport"]["height"]
    assert sizes["app"]["height"] == height
    assert sizes["pageScroll"] == height, "the page itself must not scroll"
    assert sizes["listScrolls"]
    assert sizes["composer"]["bottom"] == height
    assert sizes["list"]["bottom"] == sizes["composer"]["top"]


def assert_bubbles(sizes: dict[str, Any]) -> None:
    """Mine against the right edge, theirs against the left, failed marked."""
    padding = 12  # 0.75rem of .hw-messages
    assert sizes["mine"]["right"] == pytest.approx(sizes["listContentRight"] - padding)
    assert sizes["theirs"]["left"] == pytest.approx(sizes["list"]["left"] + padding)
    assert sizes["mine"]["width"] <= 0.85 * sizes["list"]["width"]
    assert sizes["failedBorder"] == DANGER
    assert sizes["metaSize"] == "12px"
    # Inside the flex row of a group link the badge is blockified.
    assert sizes["unread"] == "block"
    assert sizes["emptyUnread"] == "none"


def test_desktop_layout_has_a_sidebar(open_page: PageOpener) -> None:
    watched = open_chat(open_page, (1024, 768))
    sizes = measure(watched)

    assert_fills_viewport_and_scrolls_inside(sizes)
    assert_bubbles(sizes)
    assert sizes["groupsDisplay"] == "block"
    assert sizes["groups"]["width"] == 256
    assert sizes["groups"]["right"] == sizes["list"]["left"]
    assert not watched.page.locator("#groups-toggle").is_visible()
    watched.assert_clean()


def test_phone_layout_collapses_the_group_list(open_page: PageOpener) -> None:
    watched = open_chat(open_page, (375, 700))
    page = watched.page
    sizes = measure(watched)

    assert_fills_viewport_and_scrolls_inside(sizes)
    assert_bubbles(sizes)
    assert sizes["groupsDisplay"] == "none"

    page.click("#groups-toggle")
    page.wait_for_function(
        "() => document.getElementById('groups').className.includes('show')"
        " && !document.getElementById('groups').className.includes('collapsing')"
    )
    opened = measure(watched)
    assert opened["groupsDisplay"] == "block"
    assert opened["groups"]["width"] == 375
    assert opened["groups"]["bottom"] == opened["list"]["top"]
    assert_fills_viewport_and_scrolls_inside(opened)
    watched.assert_clean()


def test_bootstrap_dropdown_works_under_the_csp(open_page: PageOpener) -> None:
    """Popper positions the menu without needing inline styles."""
    watched = open_chat(open_page, (1024, 768))
    page = watched.page
    page.click("#menu")
    page.wait_for_function(
        "() => document.getElementById('menu-list').classList.contains('show')"
    )
    assert page.locator("#menu-list").is_visible()
    assert page.get_attribute("#menu", "aria-expanded") == "true"
    watched.assert_clean()


def test_dark_theme_recolours_the_chat(open_page: PageOpener) -> None:
    watched = open_page("chat.html", color_scheme="dark")
    colours = watched.page.evaluate(
        """() => {
          const colour = (selector) =>
            getComputedStyle(document.querySelector(selector)).backgroundColor;
          document.getElementById('dialog').showModal();
          return {
            composer: colour('.hw-composer'),
            mine: colour('.hw-msg-mine'),
            dialog: colour('.hw-dialog'),
          };
        }"""
    )
    # Bootstrap's dark body and primary-bg-subtle colours.
    assert colours == {
        "composer": "rgb(33, 37, 41)",
        "mine": "rgb(3, 22, 51)",
        "dialog": "rgb(33, 37, 41)",
    }
    watched.assert_clean()
