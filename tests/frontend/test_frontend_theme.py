"""The theme module, Bootstrap and Font Awesome, run under the page CSP.

static/js/theme.js picks the theme from the stored choice or the system
preference, and its toggle buttons step through dark, light and system. The
same page shows that the vendored Bootstrap CSS and the Font Awesome webfonts
load and apply without breaking the policy.
"""

from __future__ import annotations

import pytest

from tests.frontend.conftest import PageOpener
from tests.frontend.support import WatchedPage

pytestmark = pytest.mark.browser

STORAGE_KEY = "hashwhisper-theme"
LIGHT_BODY = "rgb(255, 255, 255)"
DARK_BODY = "rgb(33, 37, 41)"


def theme_of(watched: WatchedPage) -> str | None:
    theme: str | None = watched.page.evaluate(
        "() => document.documentElement.getAttribute('data-bs-theme')"
    )
    return theme


def stored(watched: WatchedPage) -> str | None:
    value: str | None = watched.page.evaluate(
        "(key) => localStorage.getItem(key)", STORAGE_KEY
    )
    return value


def toggle_state(watched: WatchedPage, selector: str) -> dict[str, object]:
    """The toggle's mode, label and the classes of its icon."""
    state: dict[str, object] = watched.page.evaluate(
        """(selector) => {
          const button = document.querySelector(selector);
          const icons = button.querySelectorAll('i');
          return {
            mode: button.dataset.themeMode,
            label: button.getAttribute('aria-label'),
            icons: icons.length,
            moon: icons[0].classList.contains('fa-moon'),
            sun: icons[0].classList.contains('fa-sun'),
            system: icons[0].classList.contains('fa-circle-half-stroke'),
            hidden: icons[0].getAttribute('aria-hidden'),
          };
        }""",
        selector,
    )
    return state


def body_background(watched: WatchedPage) -> str:
    colour: str = watched.page.evaluate(
        "() => getComputedStyle(document.body).backgroundColor"
    )
    return colour


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_without_a_stored_choice_the_system_preference_applies(
    open_page: PageOpener, scheme: str
) -> None:
    watched = open_page("theme.html", color_scheme=scheme)
    dark = scheme == "dark"

    assert theme_of(watched) == scheme
    assert stored(watched) is None
    assert body_background(watched) == (DARK_BODY if dark else LIGHT_BODY)
    state = toggle_state(watched, "#toggle")
    assert state["mode"] == "system"
    assert (state["moon"], state["sun"], state["system"]) == (False, False, True)
    other = "light" if dark else "dark"
    assert state["label"] == f"Theme: system ({scheme}). Switch to {other}"
    watched.assert_clean()


def test_toggle_steps_through_three_modes_and_the_choice_survives_a_reload(
    open_page: PageOpener,
) -> None:
    watched = open_page("theme.html", color_scheme="light")
    page = watched.page

    page.click("#toggle")
    assert theme_of(watched) == "dark"
    assert stored(watched) == "dark"
    assert body_background(watched) == DARK_BODY
    assert toggle_state(watched, "#toggle") == {
        "mode": "dark",
        "label": "Theme: dark. Switch to light",
        "icons": 1,
        "moon": True,
        "sun": False,
        "system": False,
        "hidden": "true",
    }

    page.reload()
    assert theme_of(watched) == "dark", "the stored choice beats the system"
    assert toggle_state(watched, "#toggle")["mode"] == "dark"

    page.click("#bare-toggle")
    assert theme_of(watched) == "light"
    assert stored(watched) == "light"
    assert toggle_state(watched, "#toggle")["label"] == (
        "Theme: light. Switch to the system theme"
    )
    page.reload()
    assert theme_of(watched) == "light"

    page.click("#toggle")
    assert stored(watched) is None, "system mode forgets the stored choice"
    assert toggle_state(watched, "#toggle")["mode"] == "system"
    page.emulate_media(color_scheme="dark")
    page.wait_for_function(
        "() => document.documentElement.getAttribute('data-bs-theme') === 'dark'"
    )
    watched.assert_clean()


def test_a_toggle_without_an_icon_gets_one(open_page: PageOpener) -> None:
    watched = open_page("theme.html", color_scheme="dark")
    assert toggle_state(watched, "#bare-toggle") == {
        "mode": "system",
        "label": "Theme: system (dark). Switch to light",
        "icons": 1,
        "moon": False,
        "sun": False,
        "system": True,
        "hidden": "true",
    }
    watched.assert_clean()


def test_an_unknown_stored_value_is_ignored(open_page: PageOpener) -> None:
    watched = open_page("theme.html", color_scheme="dark")
    watched.page.evaluate("(key) => localStorage.setItem(key, 'purple')", STORAGE_KEY)
    watched.page.reload()
    assert theme_of(watched) == "dark"
    watched.assert_clean()


def test_exports_apply_store_and_report_the_theme(open_page: PageOpener) -> None:
    watched = open_page("theme.html", color_scheme="light")
    result = watched.page.evaluate(
        """async () => {
          const { applyTheme, currentTheme } = await import('/static/js/theme.js');
          const before = currentTheme();
          applyTheme('dark');
          const after = currentTheme();
          let refused = 'no error';
          try {
            applyTheme('sepia');
          } catch (error) {
            refused = error.name;
          }
          return { before, after, refused, still: currentTheme() };
        }"""
    )
    assert result == {
        "before": "light",
        "after": "dark",
        "refused": "RangeError",
        "still": "dark",
    }
    assert stored(watched) == "dark"
    assert toggle_state(watched, "#toggle")["moon"] is True
    back = watched.page.evaluate(
        """async () => {
          const { applyTheme, currentMode, currentTheme } = await import(
            '/static/js/theme.js'
          );
          applyTheme('system');
          return [currentMode(), currentTheme()];
        }"""
    )
    assert back == ["system", "light"]
    assert stored(watched) is None
    watched.assert_clean()


def test_other_tabs_follow_a_choice(open_page: PageOpener) -> None:
    first = open_page("theme.html", color_scheme="light")
    second = open_page("theme.html", beside=first)
    assert theme_of(second) == "light"

    first.page.click("#toggle")
    second.page.wait_for_function(
        "() => document.documentElement.getAttribute('data-bs-theme') === 'dark'"
    )
    assert toggle_state(second, "#toggle")["mode"] == "dark"
    first.assert_clean()
    second.assert_clean()


def test_system_changes_apply_only_until_a_choice_is_made(
    open_page: PageOpener,
) -> None:
    watched = open_page("theme.html", color_scheme="light")
    page = watched.page

    page.emulate_media(color_scheme="dark")
    page.wait_for_function(
        "() => document.documentElement.getAttribute('data-bs-theme') === 'dark'"
    )
    page.click("#toggle")
    assert theme_of(watched) == "light"
    page.emulate_media(color_scheme="light")
    page.emulate_media(color_scheme="dark")
    # The change event is delivered asynchronously; a round trip through
    # the page's task queue lets it run before the attribute is read.
    page.evaluate("() => new Promise((resolve) => setTimeout(resolve, 50))")
    assert theme_of(watched) == "light"
    watched.assert_clean()


def test_bootstrap_styles_apply(open_page: PageOpener) -> None:
    watched = open_page("theme.html")
    styles = watched.page.evaluate(
        """() => ({
          primary: getComputedStyle(document.getElementById('primary')).backgroundColor,
          hidden: getComputedStyle(document.getElementById('hidden')).display,
          font: getComputedStyle(document.body).fontFamily,
        })"""
    )
    assert styles["primary"] == "rgb(13, 110, 253)"
    assert styles["hidden"] == "none"
    assert styles["font"].startswith("system-ui")
    watched.assert_clean()


def test_font_awesome_webfonts_load(open_page: PageOpener) -> None:
    watched = open_page("theme.html")
    faces = watched.page.evaluate(
        """async () => {
          await document.fonts.ready;
          return [...document.fonts]
            .filter((face) => face.family.replaceAll('"', '') === 'Font Awesome 6 Free')
            .map((face) => `${face.weight}:${face.status}`)
            .sort();
        }"""
    )
    assert faces == ["400:loaded", "900:loaded"]
    glyph = watched.page.evaluate(
        """() => {
          const icon = document.querySelector('#toggle i');
          const before = getComputedStyle(icon, '::before');
          return { content: before.content, width: icon.getBoundingClientRect().width };
        }"""
    )
    assert glyph["content"] not in ("", "none", "normal")
    assert glyph["width"] > 0
    fonts = sorted(
        url.rsplit("/", 1)[1] for url in watched.loaded_urls if "/webfonts/" in url
    )
    assert fonts == ["fa-regular-400.woff2", "fa-solid-900.woff2"]
    watched.assert_clean()


def test_the_harness_reports_violations(open_page: PageOpener) -> None:
    """Inline styles are caught, or a clean result would mean nothing."""
    watched = open_page("violation.html")
    directives = sorted({v["directive"] for v in watched.csp_violations()})
    assert directives == ["style-src-attr", "style-src-elem"]
    paragraph_colour = watched.page.evaluate(
        "() => getComputedStyle(document.querySelector('p')).color"
    )
    assert paragraph_colour == "rgb(0, 0, 0)"
