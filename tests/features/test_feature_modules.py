"""The feature modules' pure parts, run in Chromium under the page CSP.

These are the rules the two-browser tests cannot reach one by one: who may
edit a message, which reaction counts, what a link turns into, what counts
as "emoji alone", and how search matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.browser import (
    STATIC_ROOT,
    STRICT_CSP,
    StaticServer,
    chromium,
    chromium_missing_reason,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

PAGES = Path(__file__).resolve().parent / "pages"


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    mounts = {"/static": STATIC_ROOT, "/pages": PAGES}
    with StaticServer(mounts, csp=STRICT_CSP) as server, chromium() as browser:
        context = browser.new_context()
        opened = context.new_page()
        errors: list[str] = []
        opened.on("pageerror", lambda error: errors.append(str(error)))
        opened.goto(server.url("/pages/modules.html"))
        yield opened
        assert errors == []
        context.close()


def run(page: Page, module: str, body: str, arg: Any = None) -> Any:
    """Import a module as ``m`` and run an async arrow function's body."""
    script = f"""async (arg) => {{
      const m = await import('/static/js/features/{module}');
      {body}
    }}"""
    return page.evaluate(script, arg)


RAW = {"group": "g", "created_at": "2026-01-01T10:00:00+00:00"}


def entry(
    message_id: int, sender: int, doc: dict[str, Any] | None, name: str = "x"
) -> dict[str, Any]:
    raw = {**RAW, "id": message_id, "sender": sender, "sender_name": name}
    return {"raw": raw, "failed": doc is None, "doc": doc}


def fold(page: Page, entries: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = run(
        page,
        "timeline.js",
        """const store = new Map(arg.map((e) => [e.raw.id, e]));
        const folded = m.foldStore(store);
        const reactions = {};
        for (const [id, byEmoji] of folded.reactions) {
          reactions[id] = Object.fromEntries(
            [...byEmoji].map(([emoji, list]) => [emoji, list.map((p) => p.sender)]),
          );
        }
        return {
          shown: folded.shown.map((e) => e.raw.id),
          bodies: folded.shown.map((e) => m.currentBody(e, folded.edits)),
          reactions,
        };""",
        entries,
    )
    return result


def text(body: str) -> dict[str, Any]:
    return {"v": 1, "type": "text", "body": body}


def test_only_the_author_edits_a_message_and_the_newest_edit_wins(
    page: Page,
) -> None:
    result = fold(
        page,
        [
            entry(1, 7, text("original")),
            entry(2, 8, {"v": 1, "type": "edit", "target": 1, "body": "forged"}),
            entry(3, 7, {"v": 1, "type": "edit", "target": 1, "body": "first fix"}),
            entry(4, 7, {"v": 1, "type": "edit", "target": 1, "body": "second fix"}),
            entry(5, 8, {"v": 1, "type": "edit", "target": 99, "body": "orphan"}),
        ],
    )
    assert result["shown"] == [1]
    assert result["bodies"] == ["second fix"]


def test_the_newest_reaction_of_each_person_counts(page: Page) -> None:
    def react(i: int, sender: int, emoji: str, op: str) -> dict[str, Any]:
        doc = {"v": 1, "type": "reaction", "target": 1, "emoji": emoji, "op": op}
        return entry(i, sender, doc)

    result = fold(
        page,
        [
            entry(1, 7, text("hello")),
            react(2, 8, "👍", "add"),
            react(3, 9, "👍", "add"),
            react(4, 8, "👍", "remove"),
            react(5, 8, "🎉", "add"),
            react(6, 8, "🎉", "add"),  # twice from one person counts once
            react(7, 9, "😢", "remove"),  # removing what was never added
        ],
    )
    assert result["reactions"] == {"1": {"👍": ["9"], "🎉": ["8"]}}
    assert result["shown"] == [1]


@pytest.mark.parametrize(
    ("doc", "valid"),
    [
        ({"v": 1, "type": "text", "body": "hi"}, True),
        ({"v": 1, "type": "text", "body": 5}, False),
        ({"v": 2, "type": "text", "body": "hi"}, False),
        ({"v": 1, "type": "text", "body": "x" * 8001}, False),
        ({"v": 1, "type": "reply", "body": "hi", "reply_to": 3}, True),
        ({"v": 1, "type": "reply", "body": "hi", "reply_to": "3"}, False),
        ({"v": 1, "type": "reaction", "target": 3, "emoji": "👍", "op": "add"}, True),
        ({"v": 1, "type": "reaction", "target": 3, "emoji": "", "op": "add"}, False),
        (
            {"v": 1, "type": "reaction", "target": 3, "emoji": "👍", "op": "toggle"},
            False,
        ),
        ({"v": 1, "type": "reaction", "target": 0, "emoji": "👍", "op": "add"}, False),
        ({"v": 1, "type": "edit", "target": 3, "body": "new"}, True),
        ({"v": 1, "type": "edit", "target": -3, "body": "new"}, False),
        ({"v": 1, "type": "file", "name": "a.png"}, True),
        (None, False),
        ([1], False),
    ],
)
def test_documents_are_checked_for_their_type(
    page: Page, doc: Any, valid: bool
) -> None:
    assert run(page, "doc.js", "return m.isValidDocument(arg);", doc) is valid


def test_links_become_text_with_a_copy_button_and_no_markup_is_parsed(
    page: Page,
) -> None:
    result = run(
        page,
        "text.js",
        """const box = document.createElement('div');
        box.append(m.formatText(arg));
        return {
          anchors: box.querySelectorAll('a').length,
          elements: [...box.querySelectorAll('*')].map((e) => e.tagName).sort(),
          links: [...box.querySelectorAll('.hw-link')].map((e) => e.textContent),
          copies: [...box.querySelectorAll('[data-copy]')].map((e) => e.dataset.copy),
          text: box.textContent,
        };""",
        "See https://a.example/x?y=1, and www.b.example. <img src=x onerror=alert(1)>",
    )
    assert result["anchors"] == 0
    assert result["links"] == ["https://a.example/x?y=1", "www.b.example"]
    assert result["copies"] == result["links"]
    assert result["elements"] == ["BUTTON", "BUTTON", "I", "I", "SPAN", "SPAN"]
    assert result["text"].endswith("<img src=x onerror=alert(1)>")


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("(see https://a.example/x).", ["https://a.example/x"]),
        ("at www.b.example/?q=1!?", ["www.b.example/?q=1"]),
        ('"https://c.example/a.b"', ["https://c.example/a.b"]),
        ("https://d.example/" + "." * 8000, ["https://d.example/"]),
        # Punctuation inside the address stays: only its end is trimmed.
        (
            "https://e.example/" + "." * 8000 + "x",
            ["https://e.example/" + "." * 8000 + "x"],
        ),
    ],
)
def test_a_link_ends_before_the_punctuation_after_it(
    page: Page, text: str, links: list[str]
) -> None:
    found = run(
        page,
        "text.js",
        """const box = document.createElement('div');
        box.append(m.formatText(arg));
        return [...box.querySelectorAll('.hw-link')].map((e) => e.textContent);""",
        text,
    )
    assert found == links


@pytest.mark.parametrize(
    ("text", "large"),
    [
        ("👍", True),
        ("🌻 🌻🎉", True),
        ("👨‍👩‍👧", True),
        ("🇩🇪🇫🇷", True),
        ("👍🏽", True),
        ("1️⃣", True),
        ("123", False),
        ("ok 👍", False),
        ("", False),
        ("👍" * 9, False),
        ("#", False),
    ],
)
def test_only_a_few_emoji_alone_are_drawn_large(
    page: Page, text: str, large: bool
) -> None:
    assert run(page, "text.js", "return m.isEmojiOnly(arg);", text) is large


def test_search_ignores_case_and_accents_and_lists_newest_first(page: Page) -> None:
    items = [
        {"id": 1, "text": "Grüße aus Köln"},
        {"id": 2, "text": "nichts"},
        {"id": 3, "text": "KOLN ist schön"},
    ]
    hits = run(
        page,
        "search.js",
        "return m.findMatches(arg.items, arg.query).map((h) => [h.id, h.at]);",
        {"items": items, "query": " köln "},
    )
    assert hits == [[3, 0], [1, 10]]
    nothing = run(page, "search.js", "return m.findMatches(arg, '   ');", items)
    assert nothing == []
    many = [{"id": i, "text": "treffer"} for i in range(80)]
    capped = run(
        page, "search.js", "return m.findMatches(arg, 'treffer').length;", many
    )
    assert capped == 50
