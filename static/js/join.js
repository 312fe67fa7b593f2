/**
 * The invitation landing page. The secret arrives in the URL fragment, which
 * browsers never send; it is moved to sessionStorage at once (so it survives
 * a detour through login) and wiped from the address bar.
 * @module join
 */

import { ApiError, apiGet, apiPost } from './api.js';
import { b64decode, b64encode, deriveGroupKeys, parseInvitation } from './crypto.js';
import { saveGroupKey } from './keystore.js';

const PENDING = 'hashwhisper-pending-invitation';
const root = document.getElementById('hw-join');
const status = root.querySelector('[data-role="status"]');

function say(text, kind = 'secondary') {
  status.textContent = text;
  status.className = `text-${kind}`;
}

/** Move an invitation from the address bar (fragment, or a mangled %23 path). */
function captureInvitation() {
  const { hash, pathname } = window.location;
  let found = '';
  if (hash.length > 1) {
    found = hash.slice(1);
  } else if (/%23|#/i.test(pathname)) {
    found = pathname;
  }
  if (found) {
    sessionStorage.setItem(PENDING, found);
    history.replaceState(null, '', '/g/join');
  }
  return sessionStorage.getItem(PENDING);
}

async function join(text) {
  const { groupId, secret } = parseInvitation(text);
  say('Deriving the group key in this browser…');
  const params = await apiGet(`/api/groups/${groupId}/params`);
  const salt = b64decode(params.salt);
  // deriveGroupKeys refuses weak parameters, whatever the server says.
  const { encKey, memberToken } = await deriveGroupKeys(secret, salt, params.iterations);
  await apiPost(`/api/groups/${groupId}/join`, { token: b64encode(memberToken) });
  // A member who opens the invitation of a rotated secret keeps the older
  // epochs' keys: the keystore adds this epoch beside them.
  await saveGroupKey(root.dataset.userId, {
    groupId, secret, salt, iterations: params.iterations, encKey, epoch: params.epoch,
  });
  return groupId;
}

async function start() {
  const invitation = captureInvitation();
  if (!invitation) {
    say('No invitation found. Open the full link you were given.', 'danger');
    return;
  }
  if (root.dataset.authenticated !== '1') {
    say('Log in or create an account first; you will come back here.');
    window.location.assign(root.dataset.loginUrl);
    return;
  }
  try {
    const groupId = await join(invitation);
    sessionStorage.removeItem(PENDING);
    say('Joined. Opening the group…', 'success');
    window.location.assign(`${root.dataset.chatUrl}${groupId}/`);
  } catch (err) {
    sessionStorage.removeItem(PENDING);
    if (err instanceof ApiError && err.status === 404) {
      say('This invitation is not valid, or the group no longer exists.', 'danger');
    } else {
      say(err.message || 'Joining failed.', 'danger');
    }
  }
}

start();
