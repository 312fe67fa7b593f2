"""static/js/media.js: what it renders inline, what it accepts, how it reads.

The helpers run in Chromium; the source checks hold the module to the
page's rules (no inline code, no eval, no string timers, JSDoc on exports).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.browser import (
    STATIC_ROOT,
    StaticServer,
    chromium,
    chromium_missing_reason,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

PAGES = Path(__file__).resolve().parent / "pages"
SOURCE = (STATIC_ROOT / "js" / "media.js").read_text(encoding="utf-8")
EXPORT = re.compile(
    r"^export (?:async function\*?|function\*?|const|class) (\w+)", re.M
)

SAMPLES = {
    "png": "89504e470d0a1a0a0000000d49484452",
    "jpeg": "ffd8ffe000104a464946000101000001",
    "gif": "474946383961010001000000002c0000",
    "webp": "52494646240000005745425056503820",
    "webm": "1a45dfa39f4286810142f7810142f281",
    "mp4": "000000206674797069736f6d00000200",
    "ogg": "4f67675300020000000000000000a1b2",
    "wav": "52494646240800005741564566d74206",
    "mp3": "494433030000000000215450453100",
    "svg": "3c73766720786d6c6e733d2268747470",
    "html": "3c21646f63747970652068746d6c3e3c",
}


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    reason = chromium_missing_reason()
    if reason is not None:
        print(f"skipping media module tests: {reason}")
        pytest.skip(reason)
    with (
        StaticServer({"/static": STATIC_ROOT, "/pages": PAGES}) as server,
        chromium() as browser,
    ):
        loaded = browser.new_page()
        loaded.goto(server.url("/pages/harness.html"))
        yield loaded
        loaded.close()


def run(page: Page, body: str, arg: Any = None) -> Any:
    return page.evaluate(
        "async (a) => { const m = await import('/static/js/media.js');"
        "const hex = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)));"
        f"{body} }}",
        arg,
    )


@pytest.mark.browser
def test_inline_only_for_allowlisted_types_whose_bytes_match(page: Page) -> None:
    cases = [
        ("image/png", "png", "image"),
        ("image/jpeg", "jpeg", "image"),
        ("image/gif", "gif", "image"),
        ("image/webp", "webp", "image"),
        ("video/webm", "webm", "video"),
        ("audio/webm", "webm", "audio"),
        ("video/mp4", "mp4", "video"),
        ("audio/mp4", "mp4", "audio"),
        ("audio/ogg", "ogg", "audio"),
        ("audio/wav", "wav", "audio"),
        ("audio/mpeg", "mp3", "audio"),
        # Declared types that never render, whatever the bytes.
        ("image/svg+xml", "svg", None),
        ("text/html", "html", None),
        ("application/pdf", "png", None),
        ("image/bmp", "png", None),
        # Allowlisted declarations whose content is something else.
        ("image/png", "svg", None),
        ("image/png", "html", None),
        ("image/jpeg", "png", None),
        ("video/mp4", "webm", None),
        ("audio/wav", "webp", None),
        ("image/webp", "wav", None),
    ]
    result = run(
        page,
        "return a.cases.map(([t, sample]) => m.inlineKind(t, hex(a.samples[sample])));",
        {"cases": [[mime, sample] for mime, sample, _ in cases], "samples": SAMPLES},
    )
    assert result == [kind for _, _, kind in cases]


@pytest.mark.browser
def test_file_documents_are_checked_field_by_field(page: Page) -> None:
    good: dict[str, Any] = {
        "v": 1,
        "type": "image",
        "blob": {
            "id": "A" * 32,
            "name": "x.png",
            "mime": "image/png",
            "size": 10,
            "chunk": 1 << 20,
        },
        "ts": 1,
    }
    bad_blobs: list[dict[str, Any]] = [
        {"id": "../" + "A" * 29},
        {"id": "A" * 10},
        {"name": ""},
        {"name": "n" * 256},
        {"mime": "image/png; charset=x"},
        {"mime": "IMAGE"},
        {"size": -1},
        {"size": 1.5},
        {"chunk": "1"},
    ]
    variants = [
        good,
        {**good, "type": "file"},
        {**good, "type": "audio", "duration": 1200},
    ]
    variants += [{**good, "blob": {**good["blob"], **change}} for change in bad_blobs]
    variants += [
        {**good, "v": 2},
        {**good, "type": "text"},
        {**good, "body": 5},
        {**good, "thumb": "x" * 40_000},
        {**good, "duration": -1},
        {k: v for k, v in good.items() if k != "blob"},
    ]
    result = run(page, "return a.map((doc) => m.isFileDocument(doc));", variants)
    assert result == [True, True, True] + [False] * (len(variants) - 3)
    blobs = run(
        page, "return [m.attachedBlobs(a[0]), m.attachedBlobs(a[1])];", [good, {}]
    )
    assert blobs == [{"blobs": ["A" * 32]}, {}]


@pytest.mark.browser
def test_types_sizes_and_kinds(page: Page) -> None:
    result = run(
        page,
        """return {
          base: ['audio/webm;codecs=opus', ' Image/PNG ', '', 'nonsense', 'a/b/c']
            .map(m.baseType),
          kinds: ['image/png', 'video/webm', 'audio/ogg', 'image/svg+xml', 'text/html']
            .map(m.mediaKind),
          sizes: [0, 999, 1000, 1_400_000, 25 * 1024 * 1024].map(m.formatSize),
        };""",
    )
    assert result == {
        "base": ["audio/webm", "image/png", "", "", ""],
        "kinds": ["image", "video", "audio", "file", "file"],
        "sizes": ["0 B", "999 B", "1.0 kB", "1.4 MB", "26 MB"],
    }


def code_without_comments(source: str) -> str:
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    return re.sub(r"^\s*//.*$", "", source, flags=re.MULTILINE)


@pytest.mark.parametrize(
    "forbidden",
    [
        "eval(",
        "new Function",
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        ".onload =",
        ".onerror =",
        "setAttribute('on",
        "subtle.",
        "getRandomValues",
        "localStorage",
    ],
)
def test_source_keeps_to_the_page_rules(forbidden: str) -> None:
    """No HTML from strings, no handler attributes, no crypto of its own."""
    assert forbidden not in code_without_comments(SOURCE)


def test_timers_are_given_functions() -> None:
    calls = re.findall(r"set(?:Timeout|Interval)\(([^,]+),", SOURCE)
    assert calls and all(c.strip().startswith(("(", "()")) for c in calls)


def test_every_export_has_jsdoc_and_lines_fit() -> None:
    lines = SOURCE.splitlines()
    exported = [n for n, line in enumerate(lines) if EXPORT.match(line)]
    assert len(exported) >= 8
    assert [
        lines[n] for n in exported if not lines[n - 1].rstrip().endswith("*/")
    ] == []
    assert [n for n, line in enumerate(lines, 1) if len(line) > 100] == []
