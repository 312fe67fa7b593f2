"""QR codes drawn by static/js/qr.js scan back to the exact text they encode.

The codes are read from screenshots of the real rendering with zxing-cpp, an
independent decoder, and their size is checked against the Python ``qrcode``
package's choice of version for the same bytes at error correction level M.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
import qrcode
import qrcode.util

from tests.frontend.conftest import PageOpener
from tests.frontend.support import WatchedPage, png_to_gray

pytestmark = pytest.mark.browser

INVITATION = (
    "https://chat.example.org/g/join#v1.8d1f0c2e-4b7a-4e65-9d3c-2a6f1b0e7c55."
    "Zq3xK9pQ2mN7vB4tR8yW1eL6uJ0hG5sD3fA9cX2kV7o"
)
TEXTS = {
    "invitation": INVITATION,
    "non_latin": "Grüße — 秘密の合言葉 🔐",
    "markup": '<img src=x onerror="alert(1)">&amp;<script>x</script>',
    "long": "0123456789abcdef" * 75,
}
SCALE = 6
MARGIN = 4


def expected_side(text: str) -> int:
    """Side in pixels of a byte-mode, level-M code of the text as UTF-8."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(qrcode.util.QRData(text.encode(), mode=qrcode.util.MODE_8BIT_BYTE))
    code.make(fit=True)
    modules = code.version * 4 + 17
    return (modules + 2 * MARGIN) * SCALE


def read_codes(png: bytes) -> list[Any]:
    zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp is not installed")
    width, height, gray = png_to_gray(png)
    image = memoryview(gray).cast("B", (height, width))
    return list(zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode))


def assert_black_on_white(png: bytes) -> None:
    """Only pure black and white pixels, and a white quiet zone all round."""
    width, height, gray = png_to_gray(png)
    assert set(gray) == {0, 255}
    ring = MARGIN * SCALE
    for y in range(height):
        row = gray[y * width : (y + 1) * width]
        if y < ring or y >= height - ring:
            assert set(row) == {255}, f"quiet zone broken in row {y}"
        else:
            assert set(row[:ring]) == {255} and set(row[-ring:]) == {255}


def open_drawn(open_page: PageOpener, text: str, **kw: Any) -> WatchedPage:
    watched = open_page("qr.html?" + urlencode({"text": text}), **kw)
    page = watched.page
    page.wait_for_function("() => document.body.dataset.qrState !== undefined")
    assert page.evaluate("() => document.body.dataset.qrState") == "drawn"
    return watched


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_canvas_code_decodes_to_the_text(open_page: PageOpener, name: str) -> None:
    text = TEXTS[name]
    watched = open_drawn(open_page, text)
    canvas = watched.page.locator("#qr-canvas")
    side = expected_side(text)

    assert canvas.get_attribute("width") == str(side)
    assert canvas.get_attribute("height") == str(side)
    assert canvas.get_attribute("style") is None
    png = canvas.screenshot()
    assert_black_on_white(png)
    codes = read_codes(png)
    assert len(codes) == 1
    assert codes[0].bytes == text.encode()
    assert codes[0].text == text
    assert codes[0].ec_level == "M"
    watched.assert_clean()


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_svg_code_decodes_to_the_text(open_page: PageOpener, name: str) -> None:
    text = TEXTS[name]
    watched = open_drawn(open_page, text)
    page = watched.page
    svg = page.locator("#qr-svg > svg")

    assert svg.get_attribute("width") == str(expected_side(text))
    assert svg.get_attribute("aria-label") == "Invitation"
    # Only the three elements qrSvgElement builds, none with a style attribute.
    tags = page.evaluate(
        "() => [...document.querySelectorAll('#qr-svg *')].map((e) => e.localName)"
    )
    assert tags == ["svg", "rect", "path"]
    assert page.locator("#qr-svg [style], img, script:not([src])").count() == 0
    png = svg.screenshot()
    assert_black_on_white(png)
    codes = read_codes(png)
    assert [code.bytes for code in codes] == [text.encode()]
    watched.assert_clean()


def test_code_stays_black_on_white_in_dark_theme(
    open_page: PageOpener,
) -> None:
    watched = open_drawn(open_page, INVITATION, color_scheme="dark")
    page = watched.page
    assert page.evaluate("() => document.documentElement.dataset.bsTheme") == "dark"
    body_background = page.evaluate(
        "() => getComputedStyle(document.body).backgroundColor"
    )
    assert body_background == "rgb(33, 37, 41)"

    png = page.locator("#qr-canvas").screenshot()
    assert_black_on_white(png)
    assert [code.text for code in read_codes(png)] == [INVITATION]
    watched.assert_clean()


REFUSALS = """async () => {
  const { drawQr, qrSvgElement } = await import('/static/js/qr.js');
  const canvas = document.createElement('canvas');
  const outcome = (call) => {
    try {
      call();
      return 'ok';
    } catch (error) {
      return error.name;
    }
  };
  return {
    empty: outcome(() => drawQr(canvas, '')),
    notText: outcome(() => qrSvgElement(42)),
    largest: outcome(() => drawQr(canvas, 'x'.repeat(2331))),
    tooLong: outcome(() => drawQr(canvas, 'x'.repeat(2332))),
    tooLongUtf8: outcome(() => qrSvgElement('é'.repeat(1166))),
    zeroScale: outcome(() => drawQr(canvas, 'a', { scale: 0 })),
    fractionalScale: outcome(() => drawQr(canvas, 'a', { scale: 1.5 })),
    negativeMargin: outcome(() => qrSvgElement('a', { margin: -1 })),
  };
}"""


def test_bad_input_is_refused_with_typed_errors(
    open_page: PageOpener,
) -> None:
    """2331 bytes is the byte-mode capacity of version 40 at level M."""
    watched = open_drawn(open_page, "x")
    outcomes = watched.page.evaluate(REFUSALS)
    assert outcomes == {
        "empty": "TypeError",
        "notText": "TypeError",
        "largest": "ok",
        "tooLong": "RangeError",
        "tooLongUtf8": "RangeError",
        "zeroScale": "RangeError",
        "fractionalScale": "RangeError",
        "negativeMargin": "RangeError",
    }
    watched.assert_clean()


def test_scale_and_margin_set_the_canvas_size(
    open_page: PageOpener,
) -> None:
    """A version-1 code is 21 modules wide."""
    watched = open_drawn(open_page, "x")
    size = watched.page.evaluate(
        """async () => {
          const { drawQr } = await import('/static/js/qr.js');
          const canvas = document.createElement('canvas');
          const side = drawQr(canvas, 'hello', { scale: 2, margin: 0 });
          return [side, canvas.getAttribute('width'), canvas.getAttribute('height')];
        }"""
    )
    assert size == [42, "42", "42"]
