/**
 * Light, dark or system theme for Bootstrap's colour modes.
 *
 * Importing the module sets `data-bs-theme` on the root element from the
 * choice stored in localStorage, or else from the system's
 * `prefers-color-scheme`, and makes every `[data-theme-toggle]` button step
 * through the three modes. From "system" a press switches to the theme the
 * system does not show, so every press but the one back to "system" changes
 * what is seen; the button's label always names the mode and the next one.
 * Pages load it as a module script in `<head>`, since a strict CSP rules out
 * the usual inline snippet. Module scripts are deferred, so the attribute is
 * set once the document has been parsed; a long page that the browser paints
 * earlier can show the light theme for a moment, which only a server-rendered
 * attribute would avoid.
 *
 * @module theme
 */

const STORAGE_KEY = 'hashwhisper-theme';
const THEMES = ['light', 'dark'];
const MODES = ['light', 'dark', 'system'];
const TOGGLE_SELECTOR = '[data-theme-toggle]';
const DARK_QUERY = '(prefers-color-scheme: dark)';
const ICONS = { light: 'fa-sun', dark: 'fa-moon', system: 'fa-circle-half-stroke' };

/**
 * Reads the stored choice, ignoring anything that is not a known theme.
 *
 * @returns {string | null}
 */
function storedTheme() {
  try {
    const value = window.localStorage.getItem(STORAGE_KEY);
    return THEMES.includes(value) ? value : null;
  } catch {
    // Storage can be switched off or full; the system preference still applies.
    return null;
  }
}

/**
 * Saves the choice (or forgets it, for "system"), if the browser lets the
 * page store anything.
 *
 * @param {string} mode
 */
function storeMode(mode) {
  try {
    if (mode === 'system') {
      window.localStorage.removeItem(STORAGE_KEY);
    } else {
      window.localStorage.setItem(STORAGE_KEY, mode);
    }
  } catch {
    // Without storage the choice simply lasts until the page is left.
  }
}

/**
 * @returns {string} the theme the system asks for
 */
function preferredTheme() {
  return window.matchMedia(DARK_QUERY).matches ? 'dark' : 'light';
}

/**
 * The mode a press of the toggle moves to from `mode`.
 *
 * @param {string} mode
 * @returns {string}
 */
function nextMode(mode) {
  const preferred = preferredTheme();
  if (mode === 'system') {
    return preferred === 'dark' ? 'light' : 'dark';
  }
  // The other theme first; from the one the system shows, back to "system".
  return mode === preferred ? 'system' : preferred;
}

function modeName(mode) {
  return mode === 'system' ? `system (${preferredTheme()})` : mode;
}

/**
 * Brings one toggle button in line with the mode: its icon shows the mode,
 * its label names the mode and the one a press switches to.
 *
 * @param {Element} button
 * @param {string} mode
 */
function syncToggle(button, mode) {
  const next = nextMode(mode);
  const target = next === 'system' ? 'the system theme' : next;
  const label = `Theme: ${modeName(mode)}. Switch to ${target}`;
  button.setAttribute('aria-label', label);
  button.setAttribute('title', label);
  button.dataset.themeMode = mode;

  let icon = button.querySelector('i.fa-moon, i.fa-sun, i.fa-circle-half-stroke');
  if (!icon) {
    icon = document.createElement('i');
    icon.classList.add('fa-solid');
    button.prepend(icon);
  }
  for (const name of MODES) {
    icon.classList.toggle(ICONS[name], name === mode);
  }
  icon.setAttribute('aria-hidden', 'true');
}

/**
 * Shows a mode on the page and on every toggle, without storing it.
 *
 * @param {string} mode
 */
function showMode(mode) {
  const theme = mode === 'system' ? preferredTheme() : mode;
  document.documentElement.setAttribute('data-bs-theme', theme);
  for (const button of document.querySelectorAll(TOGGLE_SELECTOR)) {
    syncToggle(button, mode);
  }
}

/**
 * The theme currently applied to the page.
 *
 * @returns {'light' | 'dark'}
 */
export function currentTheme() {
  return document.documentElement.getAttribute('data-bs-theme') === 'dark' ? 'dark' : 'light';
}

/**
 * The mode chosen: an explicit theme, or "system" when none is stored.
 *
 * @returns {'light' | 'dark' | 'system'}
 */
export function currentMode() {
  return storedTheme() ?? 'system';
}

/**
 * Applies a mode as the user's choice: sets `data-bs-theme` on the root
 * element, updates every `[data-theme-toggle]` button and stores the choice
 * so that later pages (and other open tabs) use it too. "system" forgets
 * any stored choice and follows `prefers-color-scheme` from then on.
 *
 * @param {'light' | 'dark' | 'system'} name
 * @throws {RangeError} if `name` is not a known mode
 */
export function applyTheme(name) {
  if (!MODES.includes(name)) {
    throw new RangeError(`unknown theme: ${name}`);
  }
  storeMode(name);
  showMode(name);
}

/**
 * Moves to the next mode when a toggle is pressed. One listener on the
 * document covers buttons that scripts add later as well.
 *
 * @param {MouseEvent} event
 */
function onClick(event) {
  if (!(event.target instanceof Element) || !event.target.closest(TOGGLE_SELECTOR)) {
    return;
  }
  applyTheme(nextMode(currentMode()));
}

/**
 * Follows a choice made in another tab.
 *
 * @param {StorageEvent} event
 */
function onStorage(event) {
  if (event.key === STORAGE_KEY || event.key === null) {
    showMode(currentMode());
  }
}

/**
 * Follows the system setting for as long as the user has made no choice.
 */
function onSystemChange() {
  showMode(currentMode());
}

showMode(currentMode());
document.addEventListener('click', onClick);
window.addEventListener('storage', onStorage);
window.matchMedia(DARK_QUERY).addEventListener('change', onSystemChange);
if (document.readyState === 'loading') {
  // Only reached if the module is imported before the page is parsed; the
  // buttons further down then get their state once they exist.
  document.addEventListener('DOMContentLoaded', () => showMode(currentMode()));
}
