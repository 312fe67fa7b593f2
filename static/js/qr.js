/**
 * QR codes for invitation links, drawn in the browser.
 *
 * The invitation holds the group secret in its fragment, so the code is never
 * rendered by the server: it is drawn here, on a canvas or as an SVG element,
 * from the vendored qrcode-generator library. Both renderings are black on
 * white with a white quiet zone whatever the page theme is, because phone
 * cameras read dark modules on a light ground far more reliably than the
 * inverse. Nothing here writes markup from a string, so the encoded text can
 * never become HTML.
 *
 * @module qr
 */
import qrcode from '../vendor/qrcode-generator/qrcode.mjs';

const SVG_NS = 'http://www.w3.org/2000/svg';
const DARK = '#000000';
const LIGHT = '#ffffff';

/**
 * Turns text into a string holding one UTF-8 byte per character.
 *
 * The library's default byte encoder keeps only the low byte of each UTF-16
 * code unit, which mangles anything outside Latin-1. Handing it the UTF-8
 * bytes this way makes the code carry exactly the UTF-8 form of the text,
 * which is what readers assume when no character set is declared.
 *
 * @param {string} text
 * @returns {string}
 */
function utf8ByteString(text) {
  let bytes = '';
  for (const byte of new TextEncoder().encode(text)) {
    bytes += String.fromCharCode(byte);
  }
  return bytes;
}

/**
 * Checks that a size option is a whole number within the given floor.
 *
 * @param {string} name
 * @param {number} value
 * @param {number} least
 * @returns {number}
 */
function checkedSize(name, value, least) {
  if (!Number.isInteger(value) || value < least) {
    throw new RangeError(`${name} must be an integer of at least ${least}`);
  }
  return value;
}

/**
 * Builds the module matrix for the text: error correction level M (about 15 %
 * of the symbol may be damaged), smallest type number that fits.
 *
 * @param {string} text
 * @returns {{count: number, isDark: (row: number, col: number) => boolean}}
 */
function buildCode(text) {
  if (typeof text !== 'string' || text.length === 0) {
    throw new TypeError('QR text must be a non-empty string');
  }
  const code = qrcode(0, 'M');
  code.addData(utf8ByteString(text), 'Byte');
  try {
    code.make();
  } catch (reason) {
    // The library throws plain strings; a RangeError says the text is too long.
    throw new RangeError(`text does not fit in a QR code: ${reason}`);
  }
  return { count: code.getModuleCount(), isDark: (row, col) => code.isDark(row, col) };
}

/**
 * Draws the QR code of `text` onto a canvas, black on white.
 *
 * The canvas's width and height attributes are set to the code's size in
 * device pixels, `(modules + 2 * margin) * scale`; any CSS sizing is left to
 * the page (the `.hw-qr` class keeps the modules sharp when scaled).
 *
 * @param {HTMLCanvasElement} canvas the element to draw on; its content is replaced
 * @param {string} text the text to encode (UTF-8, byte mode)
 * @param {{scale?: number, margin?: number}} [options] pixels per module, and
 *   the quiet zone in modules (4 is what the QR standard asks for)
 * @returns {number} the side of the drawn square in pixels
 * @throws {TypeError} if `text` is empty or not a string
 * @throws {RangeError} if an option is invalid or the text is too long for a QR code
 */
export function drawQr(canvas, text, { scale = 6, margin = 4 } = {}) {
  checkedSize('scale', scale, 1);
  checkedSize('margin', margin, 0);
  const { count, isDark } = buildCode(text);
  const side = (count + 2 * margin) * scale;

  canvas.width = side;
  canvas.height = side;
  const context = canvas.getContext('2d');
  context.fillStyle = LIGHT;
  context.fillRect(0, 0, side, side);

  context.fillStyle = DARK;
  for (let row = 0; row < count; row += 1) {
    for (let col = 0; col < count; col += 1) {
      if (isDark(row, col)) {
        context.fillRect((col + margin) * scale, (row + margin) * scale, scale, scale);
      }
    }
  }
  return side;
}

/**
 * Builds the SVG path data for the dark modules, one rectangle per horizontal
 * run of dark modules in a row, in module units offset by the margin.
 *
 * @param {{count: number, isDark: (row: number, col: number) => boolean}} code
 * @param {number} margin
 * @returns {string}
 */
function darkPath(code, margin) {
  const parts = [];
  for (let row = 0; row < code.count; row += 1) {
    let col = 0;
    while (col < code.count) {
      if (!code.isDark(row, col)) {
        col += 1;
        continue;
      }
      const start = col;
      while (col < code.count && code.isDark(row, col)) {
        col += 1;
      }
      const run = col - start;
      parts.push(`M${start + margin} ${row + margin}h${run}v1h-${run}z`);
    }
  }
  return parts.join('');
}

/**
 * Creates an `<svg>` element showing the QR code of `text`, black on white.
 *
 * Only attributes are set, never a `style` attribute, so the element is fine
 * under a CSP without `'unsafe-inline'`. The drawing scales with its
 * `viewBox`; the width and height attributes give it a natural size of
 * `scale` pixels per module.
 *
 * @param {string} text the text to encode (UTF-8, byte mode)
 * @param {{scale?: number, margin?: number, label?: string}} [options] scale and
 *   margin as for {@link drawQr}; `label` is the element's accessible name
 * @returns {SVGSVGElement} a detached element for the caller to insert
 * @throws {TypeError} if `text` is empty or not a string
 * @throws {RangeError} if an option is invalid or the text is too long for a QR code
 */
export function qrSvgElement(text, { scale = 6, margin = 4, label = 'QR code' } = {}) {
  checkedSize('scale', scale, 1);
  checkedSize('margin', margin, 0);
  const code = buildCode(text);
  const units = code.count + 2 * margin;

  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('xmlns', SVG_NS);
  svg.setAttribute('viewBox', `0 0 ${units} ${units}`);
  svg.setAttribute('width', String(units * scale));
  svg.setAttribute('height', String(units * scale));
  svg.setAttribute('shape-rendering', 'crispEdges');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);

  const background = document.createElementNS(SVG_NS, 'rect');
  background.setAttribute('width', String(units));
  background.setAttribute('height', String(units));
  background.setAttribute('fill', LIGHT);
  const modules = document.createElementNS(SVG_NS, 'path');
  modules.setAttribute('d', darkPath(code, margin));
  modules.setAttribute('fill', DARK);
  svg.append(background, modules);
  return svg;
}
