"""The browser side's pure parts, run in Chromium under the page CSP.

The back-off before reconnecting grows exponentially, stays under its cap,
and is spread by jitter so browsers do not return in the same instant.
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
SOURCES = [STATIC_ROOT / "js" / "realtime.js", STATIC_ROOT / "js" / "presence.js"]


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    reason = chromium_missing_reason()
    if reason:
        print(f"skipped: {reason}")
        pytest.skip(reason)
    mounts = {"/static": STATIC_ROOT, "/pages": PAGES}
    with StaticServer(mounts, csp=STRICT_CSP) as server, chromium() as browser:
        opened = browser.new_page()
        opened.goto(f"{server.base_url}/pages/blank.html")
        yield opened


def delays(page: Page, attempts: list[int], randoms: list[float]) -> Any:
    return page.evaluate(
        """async ([attempts, randoms]) => {
          const { backoffDelay } = await import('/static/js/realtime.js');
          return attempts.map((a) => randoms.map((r) => backoffDelay(a, () => r)));
        }""",
        [attempts, randoms],
    )


def test_backoff_doubles_within_jitter_and_stops_at_the_cap(page: Page) -> None:
    found = delays(page, [0, 1, 2, 3, 4, 5, 6, 10], [0.0, 0.5, 0.999999])
    ceilings = [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
    for (low, middle, high), ceiling in zip(found, ceilings, strict=True):
        assert low == ceiling // 2
        assert middle == round(ceiling * 0.75)
        assert high == ceiling
    assert [row[0] for row in found][:5] == [500, 1000, 2000, 4000, 8000]


def test_jitter_spreads_browsers_apart(page: Page) -> None:
    spread = page.evaluate(
        """async () => {
          const { backoffDelay } = await import('/static/js/realtime.js');
          return Array.from({ length: 200 }, () => backoffDelay(3));
        }"""
    )
    assert min(spread) >= 4000 and max(spread) <= 8000
    assert len(set(spread)) > 100


def test_the_modules_run_under_the_strict_csp() -> None:
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        assert "eval(" not in text and "new Function" not in text
        assert "setTimeout('" not in text and 'setTimeout("' not in text
        assert "innerHTML" not in text
        assert max(len(line) for line in text.splitlines()) <= 100
