/**
 * The chat features, wired into the chat page: reactions, replies, edits,
 * deletes, unread counts and the "new messages" divider, notifications and
 * mutes, search, the group's encrypted description, and direct messages.
 *
 * chat.js calls `installFeatures` once with the functions and state it owns,
 * then asks this module at a few points (drawing the list, selecting a group,
 * sending, live events). Everything that describes content is sealed with
 * the group key, like a message; see docs/features.md.
 * @module features
 */

import { ApiError, apiGet, apiPost } from '../api.js';
import { nameAad, open, seal } from '../crypto.js';
import { encKeyForEpoch } from '../keystore.js';
import {
  MAX_BODY, editDocument, isShown, isValidDocument, messageDocument, reactionDocument,
} from './doc.js';
import { pickEmoji } from './emoji-picker.js';
import { apiDelete, apiPatch } from './http.js';
import { askPermission, isMuted, notifyNewMessage, permission, setMuted } from './notify.js';
import { findMatches, fold as foldText, snippet } from './search.js';
import { copyFromButton } from './text.js';
import { currentBody, foldStore, hasMyReaction, layoutTimeline } from './timeline.js';

export { isValidDocument };

/** Event kinds of the live stream that this module handles. */
export const FEATURE_EVENTS = ['deleted', 'group'];

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MAX_SEARCH_PAGES = 20;

let ctx = null;
const lastRead = new Map(); // group id -> newest id marked read on the server
const dividers = new Map(); // group id -> divider position for this visit
let compose = null; // {mode: 'reply'|'edit', id: number}
const markTimers = new Map(); // group id -> pending read-marker timer

const el = (role) => document.querySelector(`[data-role="${role}"]`);
const mine = (raw) => String(raw.sender) === ctx.userId;

/**
 * The associated data of a group's sealed description:
 * "HashWhisper:v1:description|<groupId>", so it cannot pass for a name or a
 * message, nor be moved to another group.
 * @param {string} groupId
 * @returns {Uint8Array}
 */
export function descriptionAad(groupId) {
  return encoder.encode(`HashWhisper:v1:description|${groupId}`);
}

/* ---------- sending ---------- */

async function send(groupId, doc) {
  await ctx.sendDocument(groupId, doc);
}

/**
 * The document for the composer's text: a reply or an edit while one is
 * being written, plain text otherwise.
 * @param {string} text
 * @returns {object}
 */
export function composeDocument(text) {
  if (compose && compose.mode === 'edit') return editDocument(compose.id, text);
  return messageDocument(text, compose && compose.mode === 'reply' ? compose.id : null);
}

/** Called by the chat page once the composer's document was stored. */
export function composeSent() {
  setCompose(null);
}

function setCompose(next) {
  compose = next;
  const box = el('compose-context');
  const label = el('compose-context-text');
  if (!compose) {
    box.classList.add('d-none');
    label.textContent = '';
    return;
  }
  const store = ctx.messageStore(ctx.state.active);
  const entry = store.get(compose.id);
  const text = entry ? currentBody(entry, foldStore(store).edits) || '' : '';
  const short = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  if (compose.mode === 'reply') {
    const who = entry && !mine(entry.raw) ? entry.raw.sender_name : 'yourself';
    label.textContent = `Replying to ${who}: ${short}`;
  } else {
    label.textContent = 'Editing your message';
  }
  const icon = box.querySelector('i');
  icon.classList.toggle('fa-reply', compose.mode === 'reply');
  icon.classList.toggle('fa-pen', compose.mode === 'edit');
  box.classList.remove('d-none');
}

/* ---------- message actions ---------- */

async function toggleReaction(messageId, emoji) {
  const groupId = ctx.state.active;
  const had = hasMyReaction(ctx.messageStore(groupId), messageId, emoji, ctx.userId);
  await send(groupId, reactionDocument(messageId, emoji, !had));
}

async function react(messageId) {
  const emoji = await pickEmoji('Add a reaction');
  if (!emoji) return;
  const groupId = ctx.state.active;
  if (hasMyReaction(ctx.messageStore(groupId), messageId, emoji, ctx.userId)) return;
  await send(groupId, reactionDocument(messageId, emoji, true));
}

function startEdit(messageId) {
  const store = ctx.messageStore(ctx.state.active);
  const entry = store.get(messageId);
  if (!entry || !mine(entry.raw)) return;
  setCompose({ mode: 'edit', id: messageId });
  const input = el('composer').querySelector('textarea');
  input.value = currentBody(entry, foldStore(store).edits) || '';
  input.focus();
}

function startReply(messageId) {
  setCompose({ mode: 'reply', id: messageId });
  el('composer').querySelector('textarea').focus();
}

function confirmDelete() {
  const dialog = el('delete-dialog');
  return new Promise((resolve) => {
    dialog.returnValue = '';
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'delete'), {
      once: true,
    });
    dialog.showModal();
  });
}

async function deleteMessage(messageId) {
  const groupId = ctx.state.active;
  if (!(await confirmDelete())) return;
  const store = ctx.messageStore(groupId);
  // My edits of the message hold its text too, so they go as well; the
  // message goes first, so no one sees an older text come back meanwhile.
  const edits = [...store.values()].filter(
    (e) => !e.failed && e.doc && e.doc.type === 'edit' && e.doc.target === messageId
      && mine(e.raw),
  );
  for (const id of [messageId, ...edits.map((e) => e.raw.id)]) {
    try {
      await apiDelete(`/api/groups/${groupId}/messages/${id}`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
    store.delete(id);
  }
  if (ctx.state.active === groupId) ctx.renderMessages('stay');
}

function jumpTo(messageId) {
  const item = document.querySelector(`[data-message-id="${Number(messageId)}"]`);
  if (!item) return false;
  item.scrollIntoView({ block: 'center' });
  item.tabIndex = -1;
  item.focus({ preventScroll: true });
  item.classList.add('hw-msg-hit');
  setTimeout(() => item.classList.remove('hw-msg-hit'), 2000);
  return true;
}

function showError(err) {
  el('send-error').textContent = err instanceof ApiError ? err.message : 'That did not work.';
}

let openMessage = null; // on touch screens, the tapped message shows its actions

function toggleActions(item) {
  const id = Number(item.dataset.messageId);
  openMessage = openMessage === id ? null : id;
  for (const open of document.querySelectorAll('.hw-msg-open')) {
    open.classList.remove('hw-msg-open');
  }
  item.classList.toggle('hw-msg-open', openMessage === id);
}

function bindMessageList() {
  el('messages').addEventListener('click', (event) => {
    const target = event.target.closest('button');
    if (!target) {
      const item = event.target.closest('[data-message-id]');
      if (item && !window.getSelection().toString()) toggleActions(item);
      return;
    }
    const item = target.closest('[data-message-id]');
    const work = actionFor(target, item ? Number(item.dataset.messageId) : null);
    if (work instanceof Promise) work.catch(showError);
  });
}

/** What a button in the message list does; buttons of other modules pass. */
function actionFor(button, id) {
  const { dataset } = button;
  if (dataset.copy !== undefined) return copyFromButton(button);
  if (dataset.jump) return jumpTo(dataset.jump);
  if (!id) return null;
  if (dataset.reactToggle) return toggleReaction(id, dataset.reactToggle);
  switch (dataset.msgAction) {
    case 'react':
      return react(id);
    case 'reply':
      return startReply(id);
    case 'edit':
      return startEdit(id);
    case 'delete':
      return deleteMessage(id);
    default:
      return null;
  }
}

function bindComposer() {
  const input = el('composer').querySelector('textarea');
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && compose) {
      event.preventDefault();
      if (compose.mode === 'edit') input.value = '';
      setCompose(null);
    }
  });
  document.querySelector('[data-action="cancel-compose"]').addEventListener('click', () => {
    if (compose && compose.mode === 'edit') input.value = '';
    setCompose(null);
    input.focus();
  });
  document.querySelector('[data-action="insert-emoji"]').addEventListener('click', async () => {
    const emoji = await pickEmoji('Insert an emoji');
    if (!emoji) return;
    const at = input.selectionStart ?? input.value.length;
    input.setRangeText(emoji, at, input.selectionEnd ?? at, 'end');
    input.focus();
  });
}

/* ---------- timeline, unread and read markers ---------- */

/**
 * Counts an entry towards a group's unread badge and notifications: a shown
 * message from someone else (reactions and edits do not count).
 * @param {object} entry
 * @returns {boolean}
 */
export function countsAsUnread(entry) {
  return isShown(entry) && !mine(entry.raw);
}

/**
 * The nodes of the open group's message list (chat.js draws each message).
 * @param {string} groupId
 * @param {Map<number, object>} store
 * @param {(entry: object) => HTMLElement} render
 * @returns {Node[]}
 */
export function timelineNodes(groupId, store, render) {
  const nodes = layoutTimeline(store, render, {
    userId: ctx.userId,
    dividerAfter: dividers.has(groupId) ? dividers.get(groupId) : null,
  });
  for (const node of nodes) {
    if (node.dataset && Number(node.dataset.messageId) === openMessage) {
      node.classList.add('hw-msg-open');
    }
  }
  scheduleMarkRead(groupId);
  return nodes;
}

function newestId(groupId) {
  const store = ctx.messageStore(groupId);
  return store.size ? Math.max(...store.keys()) : 0;
}

/**
 * Marks what the open group shows now as read, shortly after it is drawn.
 * The newest id is taken when the list is drawn, so a message arriving after
 * the user moved to another group stays unread.
 */
function scheduleMarkRead(groupId) {
  if (document.visibilityState !== 'visible') return;
  const newest = newestId(groupId);
  clearTimeout(markTimers.get(groupId));
  markTimers.set(groupId, setTimeout(() => {
    markTimers.delete(groupId);
    markRead(groupId, newest).catch(() => {});
  }, 300));
}

async function markRead(groupId, newest) {
  if (newest <= (lastRead.get(groupId) || 0)) return;
  lastRead.set(groupId, newest);
  const answer = await apiPost(`/api/groups/${groupId}/read`, { message_id: newest });
  lastRead.set(groupId, Math.max(newest, answer.last_read_id));
}

async function countUnread(groupId, since) {
  const page = await apiGet(`/api/groups/${groupId}/messages?after=${since}`);
  let count = 0;
  for (const raw of page.messages) {
    const entry = await ctx.decryptMessage(groupId, raw);
    if (countsAsUnread(entry)) count += 1;
  }
  return { count, more: page.has_more };
}

/** Reads the server's read markers and counts what is unread in each group. */
export async function afterGroupsLoaded() {
  const { groups } = await apiGet('/api/read-state/');
  for (const item of groups) {
    lastRead.set(item.id, item.last_read_id);
    const group = ctx.state.groups.get(item.id);
    if (!group || item.unread === 0 || item.id === ctx.state.active || !group.key) continue;
    const { count, more } = await countUnread(item.id, item.last_read_id);
    group.unread = count;
    group.unreadMore = more;
  }
  ctx.renderGroupList();
}

/**
 * Called when a group is opened: places the "new messages" divider after the
 * last message read before, shows the description, ends a reply or edit.
 * @param {string} groupId
 */
export function onSelect(groupId) {
  dividers.set(groupId, lastRead.has(groupId) ? lastRead.get(groupId) : 0);
  const group = ctx.state.groups.get(groupId);
  if (group) group.unreadMore = false;
  // An edit that was being written belongs to the group left behind.
  if (compose && compose.mode === 'edit') el('composer').querySelector('textarea').value = '';
  setCompose(null);
  showDescription(groupId).catch(() => {});
}

/**
 * Messages that arrive while their group is open and in view are seen as they
 * come: the "new messages" divider moves past them, unless it already marks
 * messages that were unread when the group was opened (then it stays there).
 * @param {string} groupId
 * @param {object[]} added - decrypted entries
 */
function keepDividerAbove(groupId, added) {
  const since = dividers.has(groupId) ? dividers.get(groupId) : null;
  if (since === null) return;
  const fresh = new Set(added.map((entry) => entry.raw.id));
  for (const entry of ctx.messageStore(groupId).values()) {
    if (entry.raw.id > since && !fresh.has(entry.raw.id) && countsAsUnread(entry)) return;
  }
  dividers.set(groupId, Math.max(since, ...fresh));
}

/**
 * Called for entries that arrived live: notifies while the tab is hidden.
 * @param {string} groupId
 * @param {object[]} added - decrypted entries
 * @returns {number} how many count as unread
 */
export function onIncoming(groupId, added) {
  const fresh = added.filter(countsAsUnread);
  const count = fresh.length;
  if (groupId === ctx.state.active && document.visibilityState === 'visible') {
    keepDividerAbove(groupId, added);
  }
  const group = ctx.state.groups.get(groupId);
  if (count && group) {
    announce(groupId, ctx.groupLabel(group), fresh);
    notifyNewMessage(groupId, ctx.groupLabel(group), ctx.openGroup);
  }
  return count;
}

/**
 * Tells screen readers, in one sentence, that messages came from others: who
 * wrote in the open group, or which other group has new messages (unless it
 * is muted). The sentence names no message's text.
 * @param {string} groupId
 * @param {string} label - the group's name as shown
 * @param {object[]} fresh - the new entries written by others
 */
function announce(groupId, label, fresh) {
  if (groupId !== ctx.state.active && isMuted(groupId)) return;
  const senders = [...new Set(fresh.map((entry) => entry.raw.sender_name))];
  const many = fresh.length === 1 ? 'New message' : `${fresh.length} new messages`;
  const text = groupId === ctx.state.active
    ? `${many} from ${senders.join(', ')}`
    : `${many} in ${label}`;
  const announcer = el('announcer');
  // The same sentence twice in a row is read again only if the text changes.
  announcer.textContent = announcer.textContent === text ? `${text}.` : text;
}

/**
 * Handles the live events named in FEATURE_EVENTS.
 * @param {string} kind
 * @param {object} data
 */
export async function onFeatureEvent(kind, data) {
  if (kind === 'deleted') {
    const store = ctx.state.messages.get(data.group);
    if (store && store.delete(Number(data.id)) && ctx.state.active === data.group) {
      ctx.renderMessages('stay');
    }
  } else if (kind === 'group') {
    await ctx.loadGroups();
    if (ctx.state.active === data.group) {
      const group = ctx.state.groups.get(data.group);
      el('group-name').textContent = ctx.groupLabel(group);
      await showDescription(data.group);
    }
  }
}

/**
 * Adds the mute mark and a "50+" badge to a group list item.
 * @param {HTMLElement} item
 * @param {string} groupId
 * @param {object} group
 */
export function decorateGroupItem(item, groupId, group) {
  const badge = item.querySelector('.hw-unread');
  if (badge) {
    if (group.unreadMore) badge.textContent = `${group.unread}+`;
    const hidden = document.createElement('span');
    hidden.className = 'visually-hidden';
    hidden.textContent = ' unread';
    badge.append(hidden);
  }
  if (isMuted(groupId)) {
    const icon = document.createElement('i');
    icon.className = 'fa-solid fa-bell-slash text-body-secondary';
    icon.setAttribute('aria-hidden', 'true');
    icon.title = 'Muted';
    const label = document.createElement('span');
    label.className = 'visually-hidden';
    label.textContent = 'muted';
    item.append(icon, label);
  }
}

/* ---------- group name and description ---------- */

/** Every key this browser holds for a group, the newest epoch first. */
function keysNewestFirst(record) {
  const keys = record.keys
    ? Object.entries(record.keys).sort((a, b) => Number(b[0]) - Number(a[0])).map((e) => e[1])
    : [];
  return [record.encKey, ...keys.filter((key) => key !== record.encKey)];
}

async function decryptDescription(groupId) {
  const group = ctx.state.groups.get(groupId);
  if (!group || !group.key || !group.info.description) return '';
  // A rotation seals the description again under the new key (members.js);
  // until that has reached this browser, an older epoch's key opens it.
  for (const key of keysNewestFirst(group.key)) {
    try {
      const bytes = await open(key, group.info.description, descriptionAad(groupId));
      return decoder.decode(bytes);
    } catch {
      // Another epoch's key, perhaps; the next one is tried.
    }
  }
  return null;
}

async function showDescription(groupId) {
  const text = await decryptDescription(groupId);
  if (ctx.state.active !== groupId) return;
  const box = el('group-description');
  box.textContent = text === null ? 'The description could not be decrypted.' : text;
  box.classList.toggle('d-none', !text && text !== null);
}

async function saveInfo(groupId, name, description) {
  const group = ctx.state.groups.get(groupId);
  const key = encKeyForEpoch(group.key, group.info.epoch);
  if (!key) throw new Error('This browser does not hold the group\'s current key.');
  const body = {
    name: await seal(key, encoder.encode(name), nameAad(groupId)),
    description: description
      ? await seal(key, encoder.encode(description), descriptionAad(groupId))
      : null,
  };
  await apiPatch(`/api/groups/${groupId}/info`, body);
}

async function openInfo() {
  const groupId = ctx.state.active;
  const group = ctx.state.groups.get(groupId);
  if (!group) return;
  const owner = group.info.role === 'owner' && Boolean(group.key);
  const name = document.getElementById('info-name');
  const description = document.getElementById('info-description');
  name.value = group.name || '';
  description.value = (await decryptDescription(groupId)) || '';
  for (const field of [name, description]) field.readOnly = !owner;
  el('info-save').classList.toggle('d-none', !owner);
  el('info-owner-note').classList.toggle('d-none', owner);
  el('info-error').textContent = '';
  document.getElementById('mute-group').checked = isMuted(groupId);
  showPermission();
  el('info-dialog').showModal();
  await listMembers(groupId);
}

function showPermission() {
  const state = permission();
  const text = {
    granted: 'Notifications are allowed in this browser.',
    denied: 'Notifications are blocked in this browser\'s settings.',
    default: 'Notifications are off until you allow them.',
    unsupported: 'This browser cannot show notifications.',
  }[state];
  el('notify-status').textContent = text;
  el('allow-notifications').classList.toggle('d-none', state !== 'default');
}

function bindInfo() {
  document.querySelector('[data-action="group-info"]').addEventListener('click', () => {
    openInfo().catch(showError);
  });
  el('info-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const groupId = ctx.state.active;
    const name = document.getElementById('info-name').value.trim();
    const description = document.getElementById('info-description').value.trim();
    if (!name) return;
    try {
      await saveInfo(groupId, name, description);
      el('info-dialog').close();
      await onFeatureEvent('group', { group: groupId });
    } catch (err) {
      el('info-error').textContent = err.message || 'Saving failed.';
    }
  });
  document.getElementById('mute-group').addEventListener('change', (event) => {
    setMuted(ctx.state.active, event.target.checked);
    ctx.renderGroupList();
  });
  el('allow-notifications').addEventListener('click', async () => {
    await askPermission();
    showPermission();
  });
}

/* ---------- direct messages ---------- */

async function listMembers(groupId) {
  const list = el('info-members');
  list.replaceChildren();
  const { members } = await apiGet(`/api/groups/${groupId}/members`);
  for (const member of members) {
    const item = document.createElement('li');
    item.className = 'list-group-item d-flex align-items-center gap-2';
    const name = document.createElement('span');
    name.className = 'flex-grow-1 text-truncate';
    name.textContent = member.username + (member.role === 'owner' ? ' (owner)' : '');
    item.append(name);
    if (String(member.id) !== ctx.userId) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'btn btn-sm btn-outline-primary';
      button.dataset.directTo = member.username;
      button.setAttribute('aria-label', `Message ${member.username} privately`);
      const icon = document.createElement('i');
      icon.className = 'fa-solid fa-user-lock me-1';
      icon.setAttribute('aria-hidden', 'true');
      button.append(icon, 'Private chat');
      item.append(button);
    }
    list.append(item);
  }
}

/**
 * Starts a direct conversation with a member of a shared group: a new
 * two-person group with a secret of its own, whose invitation the user hands
 * over like any other. The shared group's key cannot carry it, since every
 * member of that group could read it.
 * @param {string} peer - the other person's user name
 * @returns {Promise<string>} the new group's id
 */
export async function startDirectMessage(peer) {
  const me = document.getElementById('hw-app').dataset.username;
  const groupId = await ctx.createGroup(`${me} ↔ ${peer}`, '');
  const note = el('invite-direct-note');
  note.textContent = `This private chat has its own key. Give this invitation to ${peer}`
    + ' in person or through a channel you trust; only the two of you should join.';
  note.classList.remove('d-none');
  el('invite-dialog').addEventListener('close', () => note.classList.add('d-none'), {
    once: true,
  });
  await ctx.showInvite();
  return groupId;
}

function bindDirect() {
  el('info-members').addEventListener('click', (event) => {
    const button = event.target.closest('[data-direct-to]');
    if (!button) return;
    el('info-dialog').close();
    startDirectMessage(button.dataset.directTo).catch(showError);
  });
}

/* ---------- search ---------- */

function searchItems(groupId) {
  const store = ctx.messageStore(groupId);
  const { shown, edits } = foldStore(store);
  return shown
    .map((entry) => ({ id: entry.raw.id, entry, text: currentBody(entry, edits) }))
    .filter((item) => item.text !== null);
}

function runSearch() {
  const query = document.getElementById('search-input').value;
  const list = el('search-results');
  list.replaceChildren();
  const hits = findMatches(searchItems(ctx.state.active), query);
  const length = foldText(query.trim()).length;
  for (const hit of hits) {
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'list-group-item list-group-item-action';
    button.dataset.searchHit = String(hit.id);
    const who = document.createElement('div');
    who.className = 'small text-body-secondary';
    const when = new Date(hit.entry.raw.created_at).toLocaleString();
    who.textContent = `${mine(hit.entry.raw) ? 'You' : hit.entry.raw.sender_name} · ${when}`;
    const text = document.createElement('div');
    text.append(snippet(hit.text, hit.at, length));
    button.append(who, text);
    item.append(button);
    list.append(item);
  }
  el('search-count').textContent = query.trim()
    ? `${hits.length} ${hits.length === 1 ? 'message' : 'messages'} found`
    : '';
}

async function searchOlder() {
  const groupId = ctx.state.active;
  const button = el('search-older');
  button.disabled = true;
  try {
    for (let i = 0; i < MAX_SEARCH_PAGES && ctx.state.hasMore.get(groupId); i += 1) {
      await ctx.loadOlder();
    }
  } finally {
    button.disabled = false;
  }
  button.classList.toggle('d-none', !ctx.state.hasMore.get(groupId));
  runSearch();
}

function bindSearch() {
  const dialog = el('search-dialog');
  document.querySelector('[data-action="search"]').addEventListener('click', () => {
    document.getElementById('search-input').value = '';
    el('search-results').replaceChildren();
    el('search-count').textContent = '';
    el('search-older').classList.toggle('d-none', !ctx.state.hasMore.get(ctx.state.active));
    dialog.showModal();
  });
  let timer = 0;
  document.getElementById('search-input').addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(runSearch, 120);
  });
  el('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    runSearch();
  });
  el('search-older').addEventListener('click', () => searchOlder().catch(showError));
  el('search-results').addEventListener('click', (event) => {
    const hit = event.target.closest('[data-search-hit]');
    if (!hit) return;
    dialog.close();
    jumpTo(hit.dataset.searchHit);
  });
}

/* ---------- start ---------- */

function bindDialogs() {
  for (const dialog of document.querySelectorAll('dialog.hw-dialog')) {
    // A click on the backdrop of a modal dialog closes it, as Escape does.
    dialog.addEventListener('click', (event) => {
      if (event.target === dialog) dialog.close();
    });
    // In a search field the first Escape would only clear the text; one
    // press closes the dialog wherever the focus is.
    dialog.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && dialog.open) {
        event.preventDefault();
        dialog.close();
      }
    });
  }
}

function bindVisibility() {
  document.addEventListener('visibilitychange', () => {
    const groupId = ctx.state.active;
    if (document.visibilityState !== 'visible' || !groupId) return;
    // What arrived while the tab was hidden is marked as new, then read.
    if (newestId(groupId) > (lastRead.get(groupId) || 0)) {
      dividers.set(groupId, lastRead.get(groupId) || 0);
      ctx.renderMessages('stay');
    }
    scheduleMarkRead(groupId);
  });
}

/**
 * Wires the features into the chat page. `page` gives what chat.js owns:
 * `userId`, `state`, `messageStore`, `renderMessages`, `renderGroupList`,
 * `loadGroups`, `loadOlder`, `decryptMessage`, `sendDocument`, `createGroup`,
 * `showInvite`, `groupLabel` and `openGroup`.
 * @param {object} page
 */
export function installFeatures(page) {
  ctx = page;
  el('composer').querySelector('textarea').maxLength = MAX_BODY;
  bindMessageList();
  bindComposer();
  bindInfo();
  bindDirect();
  bindSearch();
  bindDialogs();
  bindVisibility();
}
