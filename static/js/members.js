/**
 * The members panel of a group: who is in it, its verified membership history, the
 * group safety number, and what the owner may do (remove a member, hand ownership
 * over, replace the group secret).
 *
 * chat.js calls showGroup when a group opens and membersChanged when the server
 * announces a change; everything shown here comes from the members and chain APIs,
 * checked by chain.js. Names reach the page through textContent only.
 * @module members
 */

import { ApiError, apiGet, apiPost } from './api.js';
import {
  acknowledgeAlarm, checkChain, fetchChain, groupSafetyNumber,
} from './chain.js';
import {
  DEFAULT_ITERATIONS, SALT_BYTES, b64encode, deriveGroupKeys, invitationFragment, nameAad,
  newGroupSecret, open, randomBytes, seal,
} from './crypto.js';
import { descriptionAad } from './features/index.js';
import { currentEpoch, encKeyForEpoch, saveGroupKey } from './keystore.js';
import { drawQr } from './qr.js';

const $ = (role) => document.querySelector(`[data-role="${role}"]`);
const PRESENCE_MS = 30000;
// The member list shows the same presence as the live indicators
// (heartbeats, presence.js), refreshed every PRESENCE_MS.
const PRESENCE_BADGES = {
  online: 'text-bg-success',
  away: 'text-bg-warning',
  offline: 'text-bg-light',
};
const textEncoder = new TextEncoder();

let hooks = null;
const view = {
  groupId: null,
  members: [],
  chain: null,
  result: null,
  changedBy: 0,
};

function show(role, visible) {
  $(role).classList.toggle('d-none', !visible);
}

function say(text) {
  $('members-error').textContent = text;
}

function me() {
  return view.members.find((member) => String(member.id) === hooks.userId) || null;
}

/* ---------- members ---------- */

function formatDay(iso) {
  return new Date(iso).toLocaleDateString(undefined, {
    day: 'numeric', month: 'short', year: 'numeric',
  });
}

function actionButton(action, userId, label, style) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = `btn btn-sm ${style}`;
  button.dataset.memberAction = action;
  button.dataset.userId = String(userId);
  button.textContent = label;
  return button;
}

function memberItem(member, ownerView) {
  const item = document.createElement('li');
  item.className = 'list-group-item d-flex align-items-center gap-2 flex-wrap';
  item.dataset.memberId = String(member.id);
  const dot = document.createElement('span');
  const state = PRESENCE_BADGES[member.presence] ? member.presence : 'offline';
  dot.className = `badge rounded-pill ${PRESENCE_BADGES[state]}`;
  dot.textContent = state;
  const name = document.createElement('span');
  name.className = 'fw-semibold';
  name.textContent = member.username;
  const role = document.createElement('span');
  role.className = 'badge text-bg-secondary';
  role.textContent = member.role;
  const joined = document.createElement('span');
  joined.className = 'small text-body-secondary flex-grow-1';
  joined.textContent = `joined ${formatDay(member.joined_at)}`;
  item.append(dot, name, role, joined);
  if (ownerView && String(member.id) !== hooks.userId) {
    item.append(
      actionButton('owner', member.id, 'Make owner', 'btn-outline-secondary'),
      actionButton('remove', member.id, 'Remove', 'btn-danger'),
    );
  }
  return item;
}

function renderMembers() {
  const ownerView = me()?.role === 'owner';
  $('member-list').replaceChildren(...view.members.map((m) => memberItem(m, ownerView)));
  show('owner-actions', ownerView);
}

async function loadMembers(groupId) {
  const body = await apiGet(`/api/groups/${groupId}/members`);
  if (view.groupId !== groupId) return;
  view.members = body.members;
  renderMembers();
}

/* ---------- chain and safety number ---------- */

/** "1 event", "2 events": a count with its noun in the right number. */
function eventCount(count, noun = 'event') {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function nameOf(id) {
  if (id === null) return 'nobody';
  return view.chain?.users?.[String(id)] ?? `user #${id}`;
}

function describe(event) {
  const actor = nameOf(event.actor);
  const subject = nameOf(event.subject);
  switch (event.kind) {
    case 'create': return `${actor} created the group`;
    case 'join': return `${subject} joined`;
    case 'leave': return `${subject} left`;
    case 'remove': return `${actor} removed ${subject}`;
    case 'owner': return `${actor} made ${subject} the owner`;
    case 'retain': return `${actor} set messages to last ${event.subject} days`;
    default: return `${actor} replaced the group key (epoch ${event.epoch})`;
  }
}

function renderHistory() {
  const items = (view.chain?.events ?? []).map((event) => {
    const item = document.createElement('li');
    item.textContent = `${describe(event)} · ${new Date(event.at).toLocaleString()}`;
    return item;
  });
  $('chain-events').replaceChildren(...items.reverse());
}

function alarmText(alarm) {
  return `${alarm.reason} (event #${alarm.seq}). Someone may have rewritten who is in `
    + 'this group. Compare the safety number with the other members in person or on a '
    + 'call before you trust anyone new.';
}

function renderChainState() {
  const { result } = view;
  const alarm = result.alarm;
  const bad = result.status !== 'ok' || Boolean(alarm);
  show('chain-alert', bad);
  show('chain-mark', bad);
  show('members-chain-alert', bad);
  // Only a history that verifies in itself can be accepted after comparing.
  show('chain-ack', result.status !== 'tampered');
  show('members-chain-ack', result.status !== 'tampered');
  const text = alarm ? alarmText(alarm) : '';
  $('chain-alert-text').textContent = text;
  $('members-chain-alert-text').textContent = text;
  const status = $('chain-status');
  status.dataset.status = result.status;
  if (result.status === 'ok') {
    status.textContent = `Verified in this browser: ${eventCount(result.head.seq)}.`;
  } else {
    status.textContent = `Does not verify at event #${result.seq}.`;
  }
  renderHistory();
}

async function renderSafety(groupId) {
  const group = hooks.groupOf(groupId);
  const number = $('safety-number');
  const head = view.result.head;
  const usable = group?.key && currentEpoch(group.key) === group.info.epoch;
  if (!head || !usable) {
    number.textContent = '—';
    number.dataset.value = '';
    $('safety-hint').textContent = head
      ? 'Open the newest invitation of this group to see its safety number.'
      : 'No safety number while the history does not verify.';
    show('safety-changed', false);
    return;
  }
  const value = await groupSafetyNumber(group.key, groupId, head.hash);
  if (view.groupId !== groupId) return;
  number.textContent = value;
  number.dataset.value = value;
  number.dataset.seq = String(head.seq);
  $('safety-hint').textContent = 'Equal numbers mean the same key and the same membership '
    + 'history. Read it aloud, or scan each other\'s code.';
  drawQr($('safety-qr'), `HashWhisper safety number ${value}`, { scale: 4 });
  view.changedBy += view.result.grew;
  $('safety-changed').textContent = 'The safety number changed: '
    + `${eventCount(view.changedBy, 'membership event')} `
    + `${view.changedBy === 1 ? 'was' : 'were'} added since you last looked. Compare it again.`;
  show('safety-changed', view.changedBy > 0);
}

async function verify(groupId) {
  const chain = await fetchChain(groupId);
  if (view.groupId !== groupId) return;
  view.chain = chain;
  view.result = await checkChain(hooks.userId, groupId, chain);
  renderChainState();
  await renderSafety(groupId);
}

/* ---------- the group's key epoch ---------- */

function renderEpoch(groupId) {
  const group = hooks.groupOf(groupId);
  const behind = Boolean(group?.key) && group.info.epoch > currentEpoch(group.key);
  // chat.js turns the composer off meanwhile (field, send, attach and voice).
  show('epoch-notice', behind);
}

/* ---------- owner actions ---------- */

function showInvitation(groupId, secret) {
  const link = `${window.location.origin}/g/join#${invitationFragment(groupId, secret)}`;
  $('invite-link').value = link;
  drawQr($('invite-qr'), link);
  $('invite-dialog').showModal();
}

/**
 * The group's description sealed again under `encKey`, or undefined when there is none
 * or no key of this browser opens it (it then stays as it was, under its old key).
 */
async function resealedDescription(group, groupId, encKey) {
  const sealed = group.info.description;
  if (!sealed) return undefined;
  const aad = descriptionAad(groupId);
  const epochs = Object.keys(group.key.keys || {}).map(Number).sort((a, b) => b - a);
  for (const epoch of epochs) {
    try {
      const text = await open(encKeyForEpoch(group.key, epoch), sealed, aad);
      return seal(encKey, text, aad);
    } catch {
      // Sealed under another epoch's key; the next one is tried.
    }
  }
  return undefined;
}

/**
 * Makes a new secret, salt and token here, seals the name (and the description, if any)
 * again under the new key and asks the server to move the group to the next epoch. The
 * new key is stored beside the old ones, and the new invitation is shown for the owner
 * to pass on.
 */
async function rotate(groupId) {
  const group = hooks.groupOf(groupId);
  if (!group?.key || currentEpoch(group.key) !== group.info.epoch || group.name === null) {
    throw new Error('Open the newest invitation of this group first.');
  }
  const secret = newGroupSecret();
  const salt = randomBytes(SALT_BYTES);
  const iterations = DEFAULT_ITERATIONS;
  const { encKey, memberToken } = await deriveGroupKeys(secret, salt, iterations);
  const name = await seal(encKey, textEncoder.encode(group.name), nameAad(groupId));
  const description = await resealedDescription(group, groupId, encKey);
  const rotated = await apiPost(`/api/groups/${groupId}/rotate`, {
    epoch: group.info.epoch,
    salt: b64encode(salt),
    iterations,
    token: b64encode(memberToken),
    name,
    description,
  });
  // The invitation is shown even if storing fails: it holds the new secret.
  showInvitation(groupId, secret);
  await saveGroupKey(hooks.userId, {
    groupId, secret, salt, iterations, encKey, epoch: rotated.epoch,
  });
  await hooks.reloadGroups();
}

async function memberAction(action, userId) {
  const groupId = view.groupId;
  const target = view.members.find((member) => String(member.id) === userId);
  if (!groupId || !target) return;
  const question = action === 'remove'
    ? `Remove ${target.username}? Replace the group key afterwards, or they can still `
      + 'read what the old key protects.'
    : `Make ${target.username} the owner? You become an ordinary member.`;
  // eslint-disable-next-line no-alert
  if (!window.confirm(question)) return;
  await apiPost(`/api/groups/${groupId}/${action}`, { user: target.id });
  await showGroup(groupId);
}

function reportFailure(error) {
  say(error instanceof ApiError || error instanceof Error ? error.message : 'It failed.');
}

function bindPanel() {
  document.querySelector('[data-action="members"]').addEventListener('click', () => {
    say('');
    $('members-dialog').showModal();
    if (view.groupId) showGroup(view.groupId).catch(reportFailure);
  });
  $('member-list').addEventListener('click', (event) => {
    const button = event.target.closest('[data-member-action]');
    if (!button) return;
    say('');
    memberAction(button.dataset.memberAction, button.dataset.userId).catch(reportFailure);
  });
  document.querySelector('[data-action="rotate"]').addEventListener('click', () => {
    const groupId = view.groupId;
    say('');
    // eslint-disable-next-line no-alert
    if (!groupId || !window.confirm('Replace the group key? Every member needs the new '
      + 'invitation to keep writing; older messages stay readable.')) return;
    $('members-dialog').close();
    rotate(groupId).catch((error) => {
      $('members-dialog').showModal();
      reportFailure(error);
    });
  });
  for (const role of ['chain-ack', 'members-chain-ack']) {
    $(role).addEventListener('click', async () => {
      const groupId = view.groupId;
      if (!groupId || !view.chain) return;
      await acknowledgeAlarm(hooks.userId, groupId, view.chain);
      view.changedBy = 0;
      await verify(groupId);
    });
  }
}

function refreshPresence() {
  if (!view.groupId || document.visibilityState !== 'visible') return;
  loadMembers(view.groupId).catch(() => {});
}

/**
 * Binds the panel's controls. Call once, before showGroup.
 *
 * @param {{userId: string, groupOf: (groupId: string) => ?object,
 *          reloadGroups: () => Promise<void>}} options - groupOf gives chat.js's state
 *   of a group ({info, key, name}); reloadGroups refreshes the group list
 */
export function initMembers(options) {
  hooks = options;
  bindPanel();
  // The presence dots of the member list, read again every half minute.
  setInterval(refreshPresence, PRESENCE_MS);
}

/**
 * Shows a group's members, verifies its chain and updates every warning.
 *
 * @param {string} groupId
 * @returns {Promise<void>}
 */
export async function showGroup(groupId) {
  if (view.groupId !== groupId) {
    view.groupId = groupId;
    view.members = [];
    view.chain = null;
    view.changedBy = 0;
  }
  renderEpoch(groupId);
  await Promise.all([loadMembers(groupId), verify(groupId)]);
}

/**
 * The server announced a membership change in a group; re-check it if it is open.
 *
 * @param {string} groupId
 * @returns {Promise<void>}
 */
export async function membersChanged(groupId) {
  if (groupId === view.groupId && hooks.groupOf(groupId)) await showGroup(groupId);
}

/**
 * Forgets the open group, for example after leaving it or being removed.
 */
export function closeGroup() {
  view.groupId = null;
  for (const role of ['chain-alert', 'chain-mark', 'epoch-notice']) show(role, false);
}
