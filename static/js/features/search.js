/**
 * Search over the messages this browser has decrypted, entirely in the page.
 * The query never leaves it: when older history is wanted, the ordinary
 * history pages are fetched (which say nothing of the query) and searched here.
 * @module features/search
 */

const MAX_HITS = 50;
const SNIPPET = 60;

/**
 * Case- and accent-insensitive form of a text, for matching.
 * @param {string} text
 * @returns {string}
 */
export function fold(text) {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLocaleLowerCase();
}

/**
 * Finds the messages whose current text contains the query.
 * @param {{id: number, text: string}[]} items - newest last
 * @param {string} query
 * @returns {{id: number, text: string, at: number}[]} newest first; `at` is
 *   the match's offset in the text
 */
export function findMatches(items, query) {
  const needle = fold(query.trim());
  if (!needle) return [];
  const hits = [];
  for (let i = items.length - 1; i >= 0 && hits.length < MAX_HITS; i -= 1) {
    const at = fold(items[i].text).indexOf(needle);
    if (at >= 0) hits.push({ ...items[i], at });
  }
  return hits;
}

/**
 * A short piece of the text around a match, with the match marked; built from
 * text nodes and a <mark>, never from HTML.
 * @param {string} text
 * @param {number} at - offset of the match in the folded text
 * @param {number} length - length of the folded query
 * @returns {DocumentFragment}
 */
export function snippet(text, at, length) {
  // Folding can change lengths (ß, ligatures); offsets are then approximate,
  // which only shifts the highlight, never what is searched.
  const start = Math.max(0, at - SNIPPET / 2);
  const end = Math.min(text.length, at + length + SNIPPET / 2);
  const fragment = document.createDocumentFragment();
  fragment.append(`${start > 0 ? '…' : ''}${text.slice(start, at)}`);
  const mark = document.createElement('mark');
  mark.textContent = text.slice(at, at + length);
  fragment.append(mark, `${text.slice(at + length, end)}${end < text.length ? '…' : ''}`);
  return fragment;
}
