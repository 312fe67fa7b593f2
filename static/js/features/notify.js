/**
 * Browser notifications that say only which group has something new: never
 * the text, never the sender. They are shown only while the tab is hidden,
 * only after the user allowed them, and never for a muted group. Mutes are
 * kept in this browser (localStorage); the server never learns of them.
 * @module features/notify
 */

const MUTED_KEY = 'hashwhisper-muted-groups';

function readMuted() {
  try {
    const list = JSON.parse(window.localStorage.getItem(MUTED_KEY) || '[]');
    return new Set(Array.isArray(list) ? list.filter((id) => typeof id === 'string') : []);
  } catch {
    return new Set();
  }
}

/**
 * Whether a group is muted in this browser.
 * @param {string} groupId
 * @returns {boolean}
 */
export function isMuted(groupId) {
  return readMuted().has(groupId);
}

/**
 * Mutes or unmutes a group in this browser.
 * @param {string} groupId
 * @param {boolean} muted
 */
export function setMuted(groupId, muted) {
  const set = readMuted();
  if (muted) set.add(groupId);
  else set.delete(groupId);
  try {
    window.localStorage.setItem(MUTED_KEY, JSON.stringify([...set]));
  } catch {
    // Without storage the mute lasts as long as the page: nothing to store it in.
  }
}

/**
 * The notification permission: 'granted', 'denied', 'default', or
 * 'unsupported' where the browser has no Notification API.
 * @returns {string}
 */
export function permission() {
  return 'Notification' in window ? Notification.permission : 'unsupported';
}

/**
 * Asks the browser for permission (needs a user gesture).
 * @returns {Promise<string>} the resulting permission
 */
export async function askPermission() {
  if (!('Notification' in window)) return 'unsupported';
  return Notification.requestPermission();
}

/**
 * Shows "New message in <group>" if the tab is hidden, notifications are
 * allowed and the group is not muted. Clicking it brings the tab forward.
 * @param {string} groupId
 * @param {string} groupName - the decrypted name, shown locally only
 * @param {(groupId: string) => void} open - opens the group on click
 * @returns {boolean} whether a notification was shown
 */
export function notifyNewMessage(groupId, groupName, open) {
  if (document.visibilityState !== 'hidden') return false;
  if (permission() !== 'granted' || isMuted(groupId)) return false;
  const note = new Notification('HashWhisper', {
    body: `New message in ${groupName}`,
    tag: `hashwhisper-${groupId}`,
  });
  note.addEventListener('click', () => {
    window.focus();
    open(groupId);
    note.close();
  });
  return true;
}
