/**
 * How message text is shown: links as plain text with a copy button (never
 * fetched, never followed: a preview would tell a third party who reads the
 * link), and a message of emoji alone drawn large.
 * @module features/text
 */

// A link is http(s):// or www. up to the next space; trailing punctuation
// that usually ends the sentence is left outside. Invisible format
// characters (bidi overrides and isolates, zero-width marks) also end it:
// inside a link they would show one address while the copy button copies
// another.
const LINK = /\b(?:https?:\/\/|www\.)[^\s<>"'\p{Cf}]+/giu;
// Punctuation that ends a sentence rather than the address before it.
const TRAILING = new Set('.,;:!?)]}\'"');
const EMOJI_PART = new RegExp(
  '^(?:\\p{Extended_Pictographic}|\\p{Emoji_Modifier}|\\p{Regional_Indicator}'
    + '|[\\u200d\\ufe0f\\u20e3#*0-9\\u{e0020}-\\u{e007f}])+$',
  'u',
);
const PICTURE = /\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20e3/u;
const MAX_LARGE_EMOJI = 8;

function copyButton(link) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'btn btn-link btn-sm p-0 ms-1 hw-copy-link';
  button.dataset.copy = link;
  button.setAttribute('aria-label', 'Copy link');
  button.title = 'Copy link';
  const icon = document.createElement('i');
  icon.className = 'fa-solid fa-copy';
  icon.setAttribute('aria-hidden', 'true');
  button.append(icon);
  return button;
}

/**
 * A link without the punctuation after it, read back from its end: linear
 * in any engine. (A regular expression anchored at the end, /[.,]+$/, is
 * tried again from each character of a long run that does not end the
 * link; in Node 20's V8 a message of 8 000 dots then took 78 ms. Chromium
 * 156 does not show it, other engines' backtracking may.)
 */
function withoutTrailing(found) {
  let end = found.length;
  while (end > 0 && TRAILING.has(found[end - 1])) end -= 1;
  return found.slice(0, end);
}

function linkNode(link) {
  const span = document.createElement('span');
  span.className = 'hw-link';
  // Isolated and left to right: a right-to-left override in the text before
  // it cannot turn the address around.
  span.dir = 'ltr';
  span.textContent = link;
  return span;
}

/**
 * The nodes that show a message text: text nodes, and each link as a span
 * followed by a copy button. Nothing is parsed as HTML.
 * @param {string} text
 * @returns {DocumentFragment}
 */
export function formatText(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    const link = withoutTrailing(match[0]);
    if (link.length < 5) continue;
    fragment.append(document.createTextNode(text.slice(last, match.index)));
    fragment.append(linkNode(link), copyButton(link));
    last = match.index + link.length;
  }
  fragment.append(document.createTextNode(text.slice(last)));
  return fragment;
}

/**
 * Whether a text is a few emoji and nothing else (spaces aside).
 * @param {string} text
 * @returns {boolean}
 */
export function isEmojiOnly(text) {
  const trimmed = text.trim();
  if (!trimmed || !PICTURE.test(trimmed)) return false;
  const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  let count = 0;
  for (const { segment } of segmenter.segment(trimmed)) {
    if (/^\s+$/u.test(segment)) continue;
    if (!EMOJI_PART.test(segment)) return false;
    count += 1;
    if (count > MAX_LARGE_EMOJI) return false;
  }
  return count > 0;
}

/**
 * Whether a text is exactly one emoji: one grapheme made only of emoji parts
 * (sequences joined by zero-width joiners, skin tones, flags, keycaps and
 * tag sequences included), with a picture in it. A reaction must be one, or
 * a member could hang words ("✅ checked by the admin") or a made-up count
 * under someone else's message.
 * @param {string} text
 * @returns {boolean}
 */
export function isOneEmoji(text) {
  if (typeof text !== 'string' || !EMOJI_PART.test(text)) return false;
  if (!PICTURE.test(text) && !/\p{Emoji_Modifier}/u.test(text)) return false;
  const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  const [first, second] = segmenter.segment(text);
  return Boolean(first) && !second;
}

/**
 * Copies a link from a copy button's data to the clipboard; when the
 * clipboard is refused, the link text is selected for a manual copy.
 * @param {HTMLElement} button
 */
export async function copyFromButton(button) {
  const text = button.dataset.copy || '';
  try {
    await navigator.clipboard.writeText(text);
    button.title = 'Copied';
  } catch {
    const span = button.previousElementSibling;
    if (span) window.getSelection().selectAllChildren(span);
  }
}
