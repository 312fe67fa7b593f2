/**
 * The chat page: group list, history, composer, invitations, live events.
 * All encryption goes through crypto.js; this module only moves sealed
 * payloads between the page, IndexedDB and the API.
 * @module chat
 */

import { ApiError, apiGet, apiPost } from './api.js';
import {
  DEFAULT_ITERATIONS, SALT_BYTES, b64encode, decryptJson, deriveGroupKeys,
  encryptJson, invitationFragment, messageAad, nameAad, newGroupId, newGroupSecret, open,
  passphraseSecret, randomBytes, seal,
} from './crypto.js';
import {
  currentEpoch, deleteGroupKey, encKeyForEpoch, loadGroupKey, rememberGroupName, saveGroupKey,
} from './keystore.js';
import { drawQr } from './qr.js';
import { closeGroup, initMembers, membersChanged, showGroup } from './members.js';
import {
  FEATURE_EVENTS, afterGroupsLoaded, composeDocument, composeSent, decorateGroupItem,
  installFeatures, isValidDocument, onFeatureEvent, onIncoming, onSelect, timelineNodes,
} from './features/index.js';
import { bodyOf } from './features/doc.js';
import {
  applyRoving, bindMessageKeys, focusSnapshot, restoreFocus,
} from './features/timeline.js';
import { FILE_TYPES, attachedBlobs, attachmentElement, bindMedia } from './media.js';
import {
  clearPresence, initPresence, onMessage as presenceOnMessage, onPresence, onTyping,
  showPresence,
} from './presence.js';
import { startRealtime } from './realtime.js';

const root = document.getElementById('hw-app');
const userId = root.dataset.userId;
const $ = (role) => document.querySelector(`[data-role="${role}"]`);
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();
// What a sender is told when the server refuses a message sealed with a replaced key.
const KEY_REPLACED_SEND = 'The group key was replaced: open the new invitation, then send again.';

/** Sending is not possible from this browser now; the message says why. */
class CannotSend extends Error {}

const state = {
  groups: new Map(), // id -> {info, key, name, lastName, unread}
  active: null,
  messages: new Map(), // group id -> Map(message id -> entry)
  seenNonces: new Map(), // group id -> Set(nonce)
  hasMore: new Map(),
  loadingOlder: null, // the promise of the page of older messages being loaded
};

/* ---------- groups ---------- */

async function decryptName(groupId, info, key) {
  if (!key) return null;
  try {
    // The name is sealed again at each rotation, under the new epoch's key.
    const nameKey = encKeyForEpoch(key, info.epoch) || key.encKey;
    const bytes = await open(nameKey, info.name, nameAad(groupId));
    return textDecoder.decode(bytes);
  } catch {
    return null;
  }
}

async function loadGroups() {
  const { groups } = await apiGet('/api/groups/');
  const fresh = new Map();
  for (const info of groups) {
    const previous = state.groups.get(info.id);
    let key = (previous && previous.key) || null;
    // After a rotation the keystore holds a newer epoch than this page does.
    if (!key || currentEpoch(key) !== info.epoch) {
      key = (await loadGroupKey(userId, info.id)) || key;
    }
    const name = await decryptName(info.id, info, key);
    if (name !== null && key && key.name !== name) {
      // Kept with the keys: after a rotation the list still says which group it is.
      key.name = name;
      rememberGroupName(userId, info.id, name).catch(() => {});
    }
    const lastName = name ?? previous?.lastName ?? key?.name ?? null;
    fresh.set(info.id, { info, key, name, lastName, unread: previous ? previous.unread : 0 });
  }
  state.groups = fresh;
  renderGroupList();
  syncComposer();
}

/** The owner replaced the group key and this browser holds only older ones. */
function keyReplaced(group) {
  return Boolean(group.key) && group.info.epoch > currentEpoch(group.key);
}

function groupLabel(group) {
  if (group.name !== null) return group.name;
  if (keyReplaced(group)) {
    // The name is sealed under the new key; the one read before still tells
    // which group needs the new invitation (the epoch notice says the same).
    return group.lastName
      ? `${group.lastName} — key replaced: open the new invitation`
      : 'Key replaced: open the new invitation';
  }
  return group.key ? 'Unreadable name' : 'Locked group (no key here)';
}

/** Why nothing can be sent to a group from this browser, or '' if it can. */
function cannotSend(groupId) {
  const group = state.groups.get(groupId);
  if (!group || !group.key) return 'Open a group whose key this browser holds.';
  return keyReplaced(group) ? KEY_REPLACED_SEND : '';
}

/**
 * The composer's field and buttons (send, attach, voice, emoji) are off while the
 * open group cannot be written to: no key here, or a key the owner replaced (the
 * epoch notice or the no-key notice says why).
 */
function syncComposer() {
  const locked = !state.active || Boolean(cannotSend(state.active));
  for (const control of $('composer').querySelectorAll('textarea, button')) {
    control.disabled = locked;
  }
}

function renderGroupList() {
  const list = $('group-list');
  // Redrawing replaces the buttons; a keyboard user keeps the focus on the
  // group it was on instead of dropping back to the top of the page.
  const focusedId = list.contains(document.activeElement)
    ? document.activeElement.dataset.groupId : null;
  list.replaceChildren();
  $('no-groups').classList.toggle('d-none', state.groups.size > 0);
  for (const [id, group] of state.groups) {
    // A list of plain buttons: a list item cannot also be a button.
    const item = document.createElement('button');
    item.type = 'button';
    item.className = 'list-group-item list-group-item-action d-flex align-items-center gap-2';
    item.classList.toggle('active', id === state.active);
    if (id === state.active) item.setAttribute('aria-current', 'true');
    item.dataset.groupId = id;
    const icon = document.createElement('i');
    icon.className = group.key && !keyReplaced(group) ? 'fa-solid fa-lock' : 'fa-solid fa-key';
    icon.setAttribute('aria-hidden', 'true');
    const label = document.createElement('span');
    label.className = 'flex-grow-1 text-truncate';
    label.textContent = groupLabel(group);
    // The label may be cut short in a narrow list; the tooltip shows all of it.
    label.title = label.textContent;
    item.append(icon, label);
    if (group.unread > 0 && id !== state.active) {
      const badge = document.createElement('span');
      badge.className = 'badge rounded-pill text-bg-primary hw-unread';
      badge.textContent = String(group.unread);
      item.append(badge);
    }
    decorateGroupItem(item, id, group);
    list.append(item);
  }
  const refocus = focusedId
    ? [...list.children].find((item) => item.dataset.groupId === focusedId) : null;
  if (refocus && refocus.offsetParent !== null) refocus.focus();
}

/** On narrow screens the group list and the conversation take turns. */
function showGroupsPanel(show) {
  $('groups-panel').classList.toggle('show', show);
  const toggle = document.querySelector('[data-action="toggle-groups"]');
  if (toggle) toggle.setAttribute('aria-expanded', String(show));
}

/* ---------- messages ---------- */

function messageStore(groupId) {
  if (!state.messages.has(groupId)) state.messages.set(groupId, new Map());
  if (!state.seenNonces.has(groupId)) state.seenNonces.set(groupId, new Set());
  return state.messages.get(groupId);
}

async function decryptMessage(groupId, raw) {
  const group = state.groups.get(groupId);
  const entry = { raw, body: null, failed: false };
  if (!group || !group.key) {
    entry.failed = true;
    entry.reason = 'No key for this group in this browser.';
    return entry;
  }
  const encKey = encKeyForEpoch(group.key, raw.epoch);
  if (!encKey) {
    entry.failed = true;
    entry.reason = `Sealed with the group key of epoch ${raw.epoch}, which this browser `
      + 'never received.';
    return entry;
  }
  try {
    const doc = await decryptJson(encKey, raw, messageAad(groupId, raw.sender));
    if (!isValidDocument(doc)) throw new Error('bad document');
    entry.doc = doc;
    entry.body = bodyOf(doc) ?? '';
  } catch {
    entry.failed = true;
    entry.reason = 'This message could not be decrypted: it was altered, or sent with '
      + 'another key.';
  }
  return entry;
}

/** Add messages to a group's store; nonces seen before are replays and dropped. */
async function ingest(groupId, raws) {
  const store = messageStore(groupId);
  const nonces = state.seenNonces.get(groupId);
  const added = [];
  for (const raw of raws) {
    if (store.has(raw.id)) continue;
    if (nonces.has(raw.nonce)) continue;
    nonces.add(raw.nonce);
    const entry = await decryptMessage(groupId, raw);
    store.set(raw.id, entry);
    added.push(entry);
  }
  return added;
}

function formatTime(iso) {
  const when = new Date(iso);
  return when.toLocaleString(undefined, {
    hour: '2-digit', minute: '2-digit', day: 'numeric', month: 'short',
  });
}

function messageElement(entry) {
  const { raw } = entry;
  const mine = String(raw.sender) === userId;
  const item = document.createElement('article');
  item.className = `hw-msg ${mine ? 'hw-msg-mine' : 'hw-msg-theirs'}`;
  item.dataset.messageId = String(raw.id);
  const meta = document.createElement('div');
  meta.className = 'hw-msg-meta';
  meta.textContent = `${mine ? 'You' : raw.sender_name} · ${formatTime(raw.created_at)}`;
  const body = document.createElement('div');
  body.className = 'hw-msg-body';
  if (entry.failed) {
    item.classList.add('hw-msg-failed');
    item.dataset.failed = '1';
    const icon = document.createElement('i');
    icon.className = 'fa-solid fa-triangle-exclamation me-1';
    icon.setAttribute('aria-hidden', 'true');
    body.append(icon, document.createTextNode(entry.reason));
  } else {
    body.textContent = entry.body;
  }
  item.append(meta, body);
  // A file message shows its attachment above the caption, if it has one; a
  // malformed one says so instead of looking like an empty message.
  if (!entry.failed && FILE_TYPES.has(entry.doc.type)) body.before(attachmentElement(entry));
  return item;
}

/** What an empty conversation shows instead of a blank area. */
function noMessagesHint() {
  const hint = document.createElement('p');
  hint.className = 'hw-no-messages small text-body-secondary';
  hint.dataset.testid = 'no-messages';
  hint.textContent = cannotSend(state.active)
    ? 'No messages yet.'
    : 'No messages yet. Say hello — only members with the key can read it.';
  return hint;
}

function renderMessages(keepScroll = false) {
  const box = $('messages');
  const store = messageStore(state.active);
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const oldHeight = box.scrollHeight;
  const oldTop = box.scrollTop;
  // The list is drawn anew: the keyboard focus, if it is on a message or
  // in one, goes back there afterwards instead of falling to the page.
  const focused = box.dataset.group === state.active ? focusSnapshot(box) : null;
  box.dataset.group = state.active;
  const loader = $('loading-older');
  const nodes = timelineNodes(state.active, store, messageElement);
  if (nodes.length === 0 && !state.hasMore.get(state.active)) nodes.push(noMessagesHint());
  box.replaceChildren(loader, ...nodes);
  applyRoving(box, { complete: !state.hasMore.get(state.active) });
  if (keepScroll === 'stay' || (focused && !keepScroll)) {
    // A message changed in place (reaction, edit, delete), or one arrived
    // while the keyboard is on an older one: the view stays put.
    box.scrollTop = nearBottom ? box.scrollHeight : oldTop;
  } else if (keepScroll) {
    box.scrollTop = oldTop + (box.scrollHeight - oldHeight);
  } else {
    box.scrollTop = box.scrollHeight;
  }
  restoreFocus(box, focused);
}

async function loadHistory(groupId, params = '') {
  const page = await apiGet(`/api/groups/${groupId}/messages${params}`);
  await ingest(groupId, page.messages);
  return page;
}

async function fetchOlder() {
  const groupId = state.active;
  if (!groupId || !state.hasMore.get(groupId)) return;
  const store = messageStore(groupId);
  if (store.size === 0) return;
  $('loading-older').classList.remove('d-none');
  $('messages').setAttribute('aria-busy', 'true');
  try {
    const oldest = Math.min(...store.keys());
    const page = await loadHistory(groupId, `?before=${oldest}`);
    state.hasMore.set(groupId, page.has_more);
    if (state.active === groupId) renderMessages(true);
  } finally {
    $('loading-older').classList.add('d-none');
    $('messages').removeAttribute('aria-busy');
  }
}

/**
 * Loads the page of messages before the oldest shown. A call while a page
 * is loading waits for that page (the keyboard moves on once it is drawn).
 */
function loadOlder() {
  if (!state.loadingOlder) {
    state.loadingOlder = fetchOlder().finally(() => {
      state.loadingOlder = null;
    });
  }
  return state.loadingOlder;
}

/* ---------- selecting a group ---------- */

function memberCountText(count) {
  if (count === undefined || count === null) return '? members';
  return count === 1 ? '1 member' : `${count} members`;
}

async function selectGroup(groupId, { push = true } = {}) {
  const group = state.groups.get(groupId);
  if (!group) return;
  state.active = groupId;
  group.unread = 0;
  onSelect(groupId);
  if (push) history.pushState({ groupId }, '', `/chat/${groupId}/`);
  $('empty').classList.add('d-none');
  $('chat').classList.remove('d-none');
  $('group-name').textContent = groupLabel(group);
  $('member-count').textContent = memberCountText(group.info.member_count);
  $('no-key').classList.toggle('d-none', Boolean(group.key));
  syncComposer();
  $('removed-notice').classList.add('d-none');
  showGroupsPanel(false);
  renderGroupList();
  // Members, chain verification and the key epoch notice (members.js).
  showGroup(groupId).catch(() => {});
  // Who is here and who is typing (presence.js).
  showPresence(groupId).catch(() => {});
  if (!state.hasMore.has(groupId)) {
    const page = await loadHistory(groupId);
    state.hasMore.set(groupId, page.has_more);
  }
  if (state.active === groupId) renderMessages();
}

/* ---------- sending ---------- */

/** Seal a message document and store it; reactions and edits go this way too. */
async function sendDocument(groupId, doc) {
  const reason = cannotSend(groupId);
  if (reason) throw new CannotSend(reason);
  const group = state.groups.get(groupId);
  const sealed = await encryptJson(group.key.encKey, doc, messageAad(groupId, userId));
  // The server refuses an epoch other than the group's current one (409).
  const body = { ...sealed, epoch: currentEpoch(group.key), ...attachedBlobs(doc) };
  let raw;
  try {
    raw = await apiPost(`/api/groups/${groupId}/messages`, body);
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 'old_epoch')) {
      throw err;
    }
    // The key was replaced before this page heard of it: it catches up (notice,
    // locked composer) and says in one sentence what to do.
    onMembersEvent(groupId).catch(() => {});
    throw new CannotSend(KEY_REPLACED_SEND);
  }
  await ingest(groupId, [raw]);
  // A reaction or an edit changes a message in place: the view stays where it is.
  const inPlace = doc.type === 'reaction' || doc.type === 'edit';
  if (state.active === groupId) renderMessages(inPlace ? 'stay' : false);
}

async function sendMessage(text) {
  await sendDocument(state.active, composeDocument(text));
  composeSent();
}

function bindComposer() {
  const form = $('composer');
  const input = form.querySelector('textarea');
  const error = $('send-error');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || !state.active) return;
    error.textContent = '';
    input.disabled = true;
    try {
      await sendMessage(text);
      input.value = '';
    } catch (err) {
      // The text stays in the composer, so nothing typed is lost.
      error.textContent = err instanceof ApiError || err instanceof CannotSend
        ? err.message : 'Sending failed.';
    } finally {
      syncComposer();
      input.focus();
    }
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
}

/* ---------- creating a group and inviting ---------- */

async function createGroup(name, passphrase) {
  const secret = passphrase ? passphraseSecret(passphrase) : newGroupSecret();
  const salt = randomBytes(SALT_BYTES);
  const iterations = DEFAULT_ITERATIONS;
  const groupId = newGroupId();
  const { encKey, memberToken } = await deriveGroupKeys(secret, salt, iterations);
  const sealedName = await seal(encKey, textEncoder.encode(name), nameAad(groupId));
  await apiPost('/api/groups/', {
    id: groupId,
    salt: b64encode(salt),
    iterations,
    token: b64encode(memberToken),
    name: sealedName,
  });
  await saveGroupKey(userId, { groupId, secret, salt, iterations, encKey });
  await loadGroups();
  await selectGroup(groupId);
  return groupId;
}

function bindNewGroupDialog() {
  const dialog = $('new-group-dialog');
  const form = $('new-group-form');
  const usePass = $('use-passphrase');
  const passInput = document.getElementById('group-passphrase');
  const error = $('new-group-error');
  // The passphrase field takes part in the form's checks only while it is
  // asked for: hidden, a too-short leftover must not block the form silently;
  // shown, it must not be left empty (that would make a random secret).
  const syncPassphrase = () => {
    $('passphrase-row').classList.toggle('d-none', !usePass.checked);
    passInput.disabled = !usePass.checked;
    passInput.required = usePass.checked;
  };
  document.querySelector('[data-action="new-group"]').addEventListener('click', () => {
    form.reset();
    error.textContent = '';
    syncPassphrase();
    dialog.showModal();
  });
  usePass.addEventListener('change', syncPassphrase);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = document.getElementById('group-name').value.trim();
    const passphrase = usePass.checked ? passInput.value : '';
    if (!name) return;
    const button = form.querySelector('[type="submit"]');
    button.disabled = true;
    error.textContent = '';
    try {
      await createGroup(name, passphrase);
      dialog.close();
      await showInvite();
    } catch (err) {
      error.textContent = err.message || 'The group could not be created.';
    } finally {
      button.disabled = false;
    }
  });
}

async function showInvite() {
  const group = state.groups.get(state.active);
  if (!group || !group.key) return;
  const link = `${window.location.origin}/g/join#`
    + invitationFragment(state.active, group.key.secret);
  const field = $('invite-link');
  field.value = link;
  drawQr($('invite-qr'), link);
  $('invite-dialog').showModal();
}

function bindInvite() {
  document.querySelector('[data-action="invite"]').addEventListener('click', showInvite);
  const copyLabel = $('copy-invite-label');
  document.querySelector('[data-action="copy-invite"]').addEventListener('click', async () => {
    const field = $('invite-link');
    try {
      await navigator.clipboard.writeText(field.value);
      // Without a word the button looked as if it had done nothing.
      copyLabel.textContent = 'Copied';
    } catch {
      // No clipboard access: select the link so it can be copied by hand.
      field.focus();
      field.select();
    }
  });
  $('invite-dialog').addEventListener('close', () => {
    copyLabel.textContent = 'Copy';
  });
  for (const button of document.querySelectorAll('[data-action="close-dialog"]')) {
    button.addEventListener('click', () => button.closest('dialog').close());
  }
}

function bindLeave() {
  document.querySelector('[data-action="leave"]').addEventListener('click', async () => {
    const groupId = state.active;
    // eslint-disable-next-line no-alert
    if (!groupId || !window.confirm('Leave this group? You need a new invitation to return.')) {
      return;
    }
    try {
      await apiPost(`/api/groups/${groupId}/leave`, {});
    } catch (err) {
      // An owner must hand ownership over first; the server says so.
      $('send-error').textContent = err.message || 'Leaving failed.';
      return;
    }
    await deleteGroupKey(userId, groupId);
    closeActiveGroup();
    await loadGroups();
  });
}

/** Close the open group; `removed` says the server no longer lists us in it. */
function closeActiveGroup(removed = false) {
  const groupId = state.active;
  state.active = null;
  state.messages.delete(groupId);
  state.hasMore.delete(groupId);
  closeGroup();
  clearPresence();
  history.pushState({}, '', '/chat/');
  $('chat').classList.add('d-none');
  $('empty').classList.remove('d-none');
  $('removed-notice').classList.toggle('d-none', !removed);
  showGroupsPanel(true);
}

/* ---------- live events ---------- */

let pendingRender = null; // how the list is to be redrawn for live events, once

/**
 * Redraws the open group's list once for the live events that arrive
 * meanwhile, instead of once for each: every redraw draws the whole list, and
 * a member posting hundreds of reactions or edits in a burst otherwise held
 * the page for seconds. A new message scrolls as renderMessages(false) does
 * if any of the events brought one.
 * @param {false|'stay'} keepScroll
 */
function renderSoon(keepScroll) {
  const waiting = pendingRender !== null;
  pendingRender = pendingRender === false ? false : keepScroll;
  if (waiting) return;
  setTimeout(() => {
    const mode = pendingRender;
    pendingRender = null;
    if (state.active) renderMessages(mode);
  }, 0);
}

async function onMessageEvent(raw) {
  if (!state.groups.has(raw.group)) await loadGroups();
  const added = await ingest(raw.group, [raw]);
  if (added.length === 0) return;
  const fresh = onIncoming(raw.group, added);
  if (raw.group === state.active) {
    renderSoon(fresh ? false : 'stay');
  } else if (state.groups.has(raw.group) && fresh) {
    state.groups.get(raw.group).unread += fresh;
    renderGroupList();
  }
}

async function catchUp() {
  // Whatever arrived while live events were down is read from the history API, for
  // every group this page holds messages of; messages it already has are dropped by id.
  for (const [groupId, store] of [...state.messages]) {
    if (!state.groups.has(groupId)) continue;
    let newest = store.size ? Math.max(...store.keys()) : 0;
    for (;;) {
      const page = await apiGet(`/api/groups/${groupId}/messages?after=${newest}`);
      for (const raw of page.messages) await onMessageEvent(raw);
      if (!page.has_more || page.messages.length === 0) break;
      newest = page.messages[page.messages.length - 1].id;
    }
  }
}

async function onMembersEvent(changed) {
  await loadGroups();
  const group = state.groups.get(state.active);
  if (group) {
    $('member-count').textContent = memberCountText(group.info.member_count);
    // A rotation changes the name's key: the header says what the list says.
    $('group-name').textContent = groupLabel(group);
  }
  // The open group is gone from our list: we were removed from it.
  if (state.active === changed && !group) closeActiveGroup(true);
  if (group && state.active === changed) showPresence(changed).catch(() => {});
  return membersChanged(changed);
}

function connect() {
  // One stream per browser, shared by its tabs, with back-off, resume and polling
  // while it is down (realtime.js).
  const handlers = {
    message: (raw) => {
      presenceOnMessage(raw);
      return onMessageEvent(raw);
    },
    members: (data) => onMembersEvent(data.group),
    // Our own membership ended: we left, or the owner removed us.
    removed: (data) => onMembersEvent(data.group),
    presence: onPresence,
    typing: onTyping,
  };
  for (const kind of FEATURE_EVENTS) {
    handlers[kind] = (data) => onFeatureEvent(kind, data);
  }
  const kinds = Object.keys(handlers);
  const realtime = startRealtime({ userId, kinds, handlers, onGap: catchUp });
  initPresence({ userId, realtime, activeGroup: () => state.active });
}

/* ---------- start ---------- */

function bindGroupList() {
  const list = $('group-list');
  list.addEventListener('click', (event) => {
    const item = event.target.closest('[data-group-id]');
    if (item) selectGroup(item.dataset.groupId);
  });
  list.addEventListener('keydown', (event) => {
    const item = event.target.closest('[data-group-id]');
    if (item && (event.key === 'Enter' || event.key === ' ')) {
      event.preventDefault();
      selectGroup(item.dataset.groupId);
    }
  });
  document.querySelector('[data-action="toggle-groups"]').addEventListener('click', () => {
    showGroupsPanel(!$('groups-panel').classList.contains('show'));
  });
  $('messages').addEventListener('scroll', () => {
    if ($('messages').scrollTop < 60) loadOlder().catch(() => {});
  });
  bindMessageKeys($('messages'), { loadOlder });
  window.addEventListener('popstate', () => {
    const match = window.location.pathname.match(/^\/chat\/([A-Za-z0-9_-]{22})\/$/);
    if (match) selectGroup(match[1], { push: false });
  });
}

async function start() {
  bindComposer();
  bindNewGroupDialog();
  bindInvite();
  bindLeave();
  bindGroupList();
  installFeatures({
    userId, state, messageStore, renderMessages, renderGroupList, loadGroups, loadOlder,
    decryptMessage, sendDocument, createGroup, showInvite, groupLabel,
    openGroup: (groupId) => selectGroup(groupId),
  });
  initMembers({
    userId, groupOf: (groupId) => state.groups.get(groupId) || null, reloadGroups: loadGroups,
  });
  bindMedia({ userId, state, sendDocument, cannotSend });
  connect();
  await loadGroups();
  // Unread counts are a convenience: the page works without them.
  await afterGroupsLoaded().catch(() => {});
  const wanted = root.dataset.activeGroup;
  if (wanted && state.groups.has(wanted)) await selectGroup(wanted, { push: false });
  root.dataset.ready = '1';
}

start().catch((err) => {
  root.dataset.ready = 'error';
  $('send-error').textContent = err.message;
});

