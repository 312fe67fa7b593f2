"""Helpers of the front-end suite: a watched page and a small PNG reader.

``WatchedPage`` keeps everything that went wrong while a test page was open:
CSP violations (recorded in the page by an init script that runs before any
page script), console errors, uncaught script errors and failed responses.
``png_to_gray`` turns a Chromium screenshot into grey pixels for the QR
decoder, since the suite has no imaging library to do it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page, Response

# The policy of the product's pages. Bootstrap's CSS draws some controls with
# data: SVG images, which is why img-src allows data: and nothing else does.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'"
)

# Registered before any page script runs, so violations caused by the very
# first style sheet or script are caught too.
VIOLATION_RECORDER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push({
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    sample: event.sample,
  });
});
"""


@dataclass
class WatchedPage:
    """A page together with everything that went wrong while it was open."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)
    loaded_urls: list[str] = field(default_factory=list)

    def watch(self) -> WatchedPage:
        """Install the violation recorder and the event listeners."""
        self.page.add_init_script(VIOLATION_RECORDER)
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        self.page.on("response", self._on_response)
        return self

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _on_response(self, response: Response) -> None:
        self.loaded_urls.append(response.url)
        if response.status >= 400:
            self.failed_responses.append(f"{response.status} {response.url}")

    def csp_violations(self) -> list[dict[str, str]]:
        """The violations the page has reported since it was last loaded."""
        result: list[dict[str, str]] = self.page.evaluate(
            "() => window.__cspViolations"
        )
        return result

    def assert_clean(self) -> None:
        """Fail on a CSP violation, console or script error, or a 4xx/5xx."""
        violations = self.csp_violations()
        assert violations == [], f"CSP violations: {violations}"
        assert self.console_errors == [], f"console errors: {self.console_errors}"
        assert self.page_errors == [], f"script errors: {self.page_errors}"
        assert self.failed_responses == [], f"failed: {self.failed_responses}"


def png_to_gray(png: bytes) -> tuple[int, int, bytes]:
    """Decode an 8-bit RGB or RGBA PNG, as Chromium writes them, to grey.

    Only what Playwright's screenshots use is supported: no interlacing, no
    palette, 8 bits per channel. Returns width, height and one byte per pixel.
    """
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, bytearray(), b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unsupported PNG"
    channels = 3 if colour == 2 else 4
    rows = _unfilter(zlib.decompress(bytes(idat)), width * channels, height, channels)
    gray = bytearray(width * height)
    for y, row in enumerate(rows):
        for x in range(width):
            r, g, b = row[x * channels : x * channels + 3]
            gray[y * width + x] = (299 * r + 587 * g + 114 * b) // 1000
    return width, height, bytes(gray)


def _unfilter(data: bytes, stride: int, height: int, bpp: int) -> list[bytes]:
    """Reverse PNG's per-row filters (none, sub, up, average, Paeth)."""
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, raw = data[start], bytearray(data[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = raw[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                raw[i] = (raw[i] + left) & 0xFF
            elif kind == 2:
                raw[i] = (raw[i] + up) & 0xFF
            elif kind == 3:
                raw[i] = (raw[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                raw[i] = (raw[i] + _paeth(left, up, corner)) & 0xFF
        rows.append(bytes(raw))
        previous = raw
    return rows


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c
