/**
 * Light and dark theme for Bootstrap's colour modes.
 *
 * Importing the module sets `data-bs-theme` on the root element from the
 * choice stored in localStorage, or else from the system's
 * `prefers-color-scheme`, and makes every `[data-theme-toggle]` button flip
 * the theme. Pages load it as a module script in `<head>`, since a strict CSP
 * rules out the usual inline snippet. Module scripts are deferred, so the
 * attribute is set once the document has been parsed; a long page that the
 * browser paints earlier can show the light theme for a moment, which only a
 * server-rendered attribute would avoid.
 *
 * @module theme
 */

const STORAGE_KEY = 'hashwhisper-theme';
const THEMES = ['light', 'dark'];
const TOGGLE_SELECTOR = '[data-theme-toggle]';
const DARK_QUERY = '(prefers-color-scheme: dark)';

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
 * Saves the choice, if the browser lets the page store anything.
 *
 * @param {string} name
 */
function storeTheme(name) {
  try {
    window.localStorage.setItem(STORAGE_KEY, name);
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
 * Brings one toggle button in line with the theme: pressed while dark, the
 * icon and label naming the theme a press switches to.
 *
 * @param {Element} button
 * @param {string} theme
 */
function syncToggle(button, theme) {
  const dark = theme === 'dark';
  const label = dark ? 'Switch to light theme' : 'Switch to dark theme';
  button.setAttribute('aria-pressed', String(dark));
  button.setAttribute('aria-label', label);
  button.setAttribute('title', label);

  let icon = button.querySelector('i.fa-moon, i.fa-sun');
  if (!icon) {
    icon = document.createElement('i');
    icon.classList.add('fa-solid');
    button.prepend(icon);
  }
  icon.classList.toggle('fa-moon', !dark);
  icon.classList.toggle('fa-sun', dark);
  icon.setAttribute('aria-hidden', 'true');
}

/**
 * Sets the theme on the page and on every toggle, without storing it.
 *
 * @param {string} name
 */
function showTheme(name) {
  document.documentElement.setAttribute('data-bs-theme', name);
  for (const button of document.querySelectorAll(TOGGLE_SELECTOR)) {
    syncToggle(button, name);
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
 * Applies a theme as the user's choice: sets `data-bs-theme` on the root
 * element, updates every `[data-theme-toggle]` button and stores the choice
 * so that later pages (and other open tabs) use it too.
 *
 * @param {'light' | 'dark'} name
 * @throws {RangeError} if `name` is not a known theme
 */
export function applyTheme(name) {
  if (!THEMES.includes(name)) {
    throw new RangeError(`unknown theme: ${name}`);
  }
  storeTheme(name);
  showTheme(name);
}

/**
 * Flips the theme when a toggle is pressed. One listener on the document
 * covers buttons that scripts add later as well.
 *
 * @param {MouseEvent} event
 */
function onClick(event) {
  if (!(event.target instanceof Element) || !event.target.closest(TOGGLE_SELECTOR)) {
    return;
  }
  applyTheme(currentTheme() === 'dark' ? 'light' : 'dark');
}

/**
 * Follows a choice made in another tab.
 *
 * @param {StorageEvent} event
 */
function onStorage(event) {
  if (event.key === STORAGE_KEY) {
    showTheme(storedTheme() ?? preferredTheme());
  }
}

/**
 * Follows the system setting for as long as the user has made no choice.
 */
function onSystemChange() {
  if (storedTheme() === null) {
    showTheme(preferredTheme());
  }
}

showTheme(storedTheme() ?? preferredTheme());
document.addEventListener('click', onClick);
window.addEventListener('storage', onStorage);
window.matchMedia(DARK_QUERY).addEventListener('change', onSystemChange);
if (document.readyState === 'loading') {
  // Only reached if the module is imported before the page is parsed; the
  // buttons further down then get their state once they exist.
  document.addEventListener('DOMContentLoaded', () => showTheme(currentTheme()));
}
