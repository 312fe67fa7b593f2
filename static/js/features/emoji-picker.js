/**
 * The emoji picker: a native <dialog> drawn by this module, over the emoji
 * data and search index of the vendored emoji-picker-element package.
 *
 * The package's own <emoji-picker> element styles itself with <style>
 * elements and style attributes inside its shadow root, which the page's CSP
 * (no 'unsafe-inline') blocks; its Database class needs no styles at all. The
 * data file is served from our static files, and searching runs on the
 * IndexedDB copy in this browser, so no query ever leaves it.
 * @module features/emoji-picker
 */

import Database from '../../vendor/emoji-picker-element/database.js';

/** Offered first, one tap away. */
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏'];

// Emojibase group numbers; group 2 holds skin-tone components only.
const CATEGORIES = [
  [0, 'Smileys', 'fa-face-smile'],
  [1, 'People', 'fa-hand'],
  [3, 'Animals and nature', 'fa-leaf'],
  [4, 'Food and drink', 'fa-mug-hot'],
  [5, 'Travel and places', 'fa-plane'],
  [6, 'Activities', 'fa-futbol'],
  [7, 'Objects', 'fa-lightbulb'],
  [8, 'Symbols', 'fa-heart'],
  [9, 'Flags', 'fa-flag'],
];
const MAX_RESULTS = 120;

let database = null;
let resolveOpen = null;
let searchTimer = 0;

const dialog = () => document.querySelector('[data-role="emoji-dialog"]');
const grid = () => dialog().querySelector('[data-role="emoji-grid"]');

function db() {
  if (!database) {
    const root = document.getElementById('hw-app');
    database = new Database({ dataSource: root.dataset.emojiData });
  }
  return database;
}

function emojiButton(emoji, label) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'btn hw-emoji';
  button.dataset.emoji = emoji;
  button.setAttribute('aria-label', label);
  button.title = label;
  button.textContent = emoji;
  return button;
}

let measure = null;
const support = new Map();

/**
 * Whether this browser's fonts draw an emoji as one picture. An emoji newer
 * than the installed font shows as an empty box, or a sequence falls apart
 * into several pictures; both differ in width from a known emoji.
 */
function drawable(emoji) {
  if (support.has(emoji)) return support.get(emoji);
  if (!measure) {
    measure = document.createElement('canvas').getContext('2d');
    if (!measure) return true;
    measure.font = '32px sans-serif';
  }
  const reference = measure.measureText('😀').width;
  const width = measure.measureText(emoji).width;
  const ok = width > reference * 0.8 && width < reference * 1.3;
  support.set(emoji, ok);
  return ok;
}

function showEmojis(list, emptyText) {
  const box = grid();
  box.replaceChildren();
  const usable = list.filter((item) => item.unicode && drawable(item.unicode));
  for (const item of usable.slice(0, MAX_RESULTS)) {
    box.append(emojiButton(item.unicode, item.annotation || item.unicode));
  }
  if (!box.childElementCount) {
    const note = document.createElement('p');
    note.className = 'small text-body-secondary m-2';
    note.textContent = emptyText;
    box.append(note);
  }
}

async function showCategory(group) {
  for (const button of dialog().querySelectorAll('[data-emoji-group]')) {
    button.setAttribute('aria-pressed', String(Number(button.dataset.emojiGroup) === group));
  }
  try {
    showEmojis(await db().getEmojiByGroup(group), 'No emoji here.');
  } catch {
    showEmojis([], 'The emoji list could not be loaded.');
  }
}

async function search(query) {
  if (!query.trim()) {
    await showCategory(CATEGORIES[0][0]);
    return;
  }
  try {
    showEmojis(await db().getEmojiBySearchQuery(query), 'No emoji match.');
  } catch {
    showEmojis([], 'The emoji list could not be loaded.');
  }
}

function finish(value) {
  const done = resolveOpen;
  resolveOpen = null;
  if (dialog().open) dialog().close();
  if (done) done(value);
}

function build() {
  const box = dialog();
  const quick = box.querySelector('[data-role="emoji-quick"]');
  for (const emoji of QUICK_REACTIONS) quick.append(emojiButton(emoji, `React with ${emoji}`));
  const nav = box.querySelector('[data-role="emoji-categories"]');
  for (const [group, label, iconName] of CATEGORIES) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'btn btn-sm btn-outline-secondary';
    button.dataset.emojiGroup = String(group);
    button.setAttribute('aria-label', label);
    button.setAttribute('aria-pressed', 'false');
    button.title = label;
    const i = document.createElement('i');
    i.className = `fa-solid ${iconName}`;
    i.setAttribute('aria-hidden', 'true');
    button.append(i);
    nav.append(button);
  }
  box.addEventListener('click', (event) => {
    const pick = event.target.closest('[data-emoji]');
    if (pick) {
      db().incrementFavoriteEmojiCount(pick.dataset.emoji).catch(() => {});
      finish(pick.dataset.emoji);
      return;
    }
    const category = event.target.closest('[data-emoji-group]');
    if (category) {
      box.querySelector('[data-role="emoji-search"]').value = '';
      showCategory(Number(category.dataset.emojiGroup));
    }
  });
  box.addEventListener('keydown', moveFocus);
  box.querySelector('[data-role="emoji-search"]').addEventListener('input', (event) => {
    clearTimeout(searchTimer);
    const { value } = event.target;
    searchTimer = setTimeout(() => search(value), 150);
  });
  // Escape, the close button and a click on the backdrop all end with "no pick".
  box.addEventListener('close', () => finish(null));
  box.addEventListener('click', (event) => {
    if (event.target === box) finish(null);
  });
}

/**
 * Arrow keys move between the emoji of the grid (and down into it from the
 * search field), so a keyboard never has to Tab through hundreds of buttons.
 */
function moveFocus(event) {
  const buttons = [...grid().querySelectorAll('[data-emoji]')];
  if (!buttons.length) return;
  const search = dialog().querySelector('[data-role="emoji-search"]');
  if (document.activeElement === search) {
    if (event.key === 'ArrowDown') {
      event.preventDefault();
      buttons[0].focus();
    }
    return;
  }
  const index = buttons.indexOf(document.activeElement);
  if (index < 0) return;
  const columns = buttons.filter((b) => b.offsetTop === buttons[0].offsetTop).length || 1;
  const steps = {
    ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns,
    Home: -index, End: buttons.length,
  };
  if (!(event.key in steps)) return;
  event.preventDefault();
  const next = index + steps[event.key];
  if (next < 0 && event.key === 'ArrowUp') {
    search.focus();
    return;
  }
  buttons[Math.max(0, Math.min(buttons.length - 1, next))].focus();
}

let built = false;

/**
 * Opens the picker; resolves with the chosen emoji, or null if closed.
 * @param {string} title - what the dialog is for, e.g. "Add a reaction"
 * @returns {Promise<string|null>}
 */
export function pickEmoji(title) {
  if (!built) {
    build();
    built = true;
  }
  if (resolveOpen) finish(null);
  const box = dialog();
  box.querySelector('[data-role="emoji-title"]').textContent = title;
  box.querySelector('[data-role="emoji-search"]').value = '';
  return new Promise((resolve) => {
    resolveOpen = resolve;
    box.showModal();
    box.querySelector('[data-role="emoji-search"]').focus();
    showCategory(CATEGORIES[0][0]);
  });
}
