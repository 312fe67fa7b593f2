/**
 * Who of the open group is here, and who is typing.
 *
 * chat.js calls showPresence when a group opens and hands over the `presence`,
 * `typing` and `message` events; typing in the composer is reported through the
 * realtime module, which throttles it. Names reach the page through textContent only.
 * @module presence
 */

import { apiGet } from './api.js';

/** How long a typing notice stays on screen without a new one, in milliseconds. */
export const TYPING_SHOWN_MS = 5000;
const MAX_SHOWN = 8;
const STATE_LABELS = { online: 'online', away: 'away', offline: 'offline' };

const $ = (role) => document.querySelector(`[data-role="${role}"]`);

const view = {
  userId: '',
  groupId: null,
  names: new Map(), // user id -> username
  states: new Map(), // user id -> online | away | offline
  typing: new Map(), // user id -> timer
  realtime: null,
  activeGroup: () => null,
};

function render() {
  const list = $('presence-list');
  if (!list) return;
  list.replaceChildren();
  const others = [...view.names.keys()].filter((id) => id !== view.userId);
  const order = { online: 0, away: 1, offline: 2 };
  const rank = (id) => order[view.states.get(id) || 'offline'];
  others.sort((a, b) => (rank(a) - rank(b)) || view.names.get(a).localeCompare(view.names.get(b)));
  for (const id of others.slice(0, MAX_SHOWN)) {
    const state = view.states.get(id) || 'offline';
    const item = document.createElement('li');
    item.className = 'hw-presence-item';
    item.dataset.userId = id;
    item.dataset.state = state;
    item.dataset.testid = `presence-${id}`;
    item.title = `${view.names.get(id)}: ${STATE_LABELS[state]}`;
    const dot = document.createElement('span');
    dot.className = `hw-dot hw-dot-${state}`;
    dot.setAttribute('aria-hidden', 'true');
    const name = document.createElement('span');
    name.className = 'hw-presence-name text-truncate';
    name.textContent = view.names.get(id);
    const status = document.createElement('span');
    status.className = 'visually-hidden';
    status.textContent = ` (${STATE_LABELS[state]})`;
    item.append(dot, name, status);
    list.append(item);
  }
  if (others.length > MAX_SHOWN) {
    const more = document.createElement('li');
    more.className = 'hw-presence-item text-body-secondary';
    more.textContent = `+${others.length - MAX_SHOWN}`;
    list.append(more);
  }
}

function renderTyping() {
  const line = $('typing');
  if (!line) return;
  const names = [...view.typing.keys()].map((id) => view.names.get(id)).filter(Boolean);
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = 'Several people are typing…';
  line.textContent = text;
  line.dataset.typing = names.length ? '1' : '';
}

function stopTyping(id) {
  clearTimeout(view.typing.get(id));
  view.typing.delete(id);
  renderTyping();
}

function bindComposer() {
  const input = document.querySelector('[data-testid="composer"]');
  if (!input) return;
  input.addEventListener('input', () => {
    const groupId = view.activeGroup();
    if (groupId && input.value.trim() && view.realtime) view.realtime.typing(groupId);
  });
}

/**
 * Set the module up once, when the chat page starts.
 * @param {{userId: string, realtime: {typing: function(string): boolean},
 *   activeGroup: function(): (string|null)}} options
 */
export function initPresence(options) {
  view.userId = String(options.userId);
  view.realtime = options.realtime;
  view.activeGroup = options.activeGroup;
  bindComposer();
}

/**
 * Show the members of a newly opened group with their presence.
 * @param {string} groupId
 */
export async function showPresence(groupId) {
  view.groupId = groupId;
  for (const id of [...view.typing.keys()]) stopTyping(id);
  view.names = new Map();
  view.states = new Map();
  render();
  const [{ members }, { presence }] = await Promise.all([
    apiGet(`/api/groups/${groupId}/members`),
    apiGet(`/api/groups/${groupId}/presence`).catch(() => ({ presence: {} })),
  ]);
  if (view.groupId !== groupId) return;
  view.names = new Map(members.map((m) => [String(m.id), m.username]));
  for (const [id, state] of Object.entries(presence)) view.states.set(String(id), state);
  render();
}

/**
 * A `presence` event: a user's state changed.
 * @param {{user: number, state: string}} event
 */
export function onPresence(event) {
  const id = String(event.user);
  if (!(event.state in STATE_LABELS)) return;
  view.states.set(id, event.state);
  if (event.state === 'offline') stopTyping(id);
  if (view.names.has(id)) render();
}

/**
 * A `typing` event: someone types in a group.
 * @param {{group: string, user: number}} event
 */
export function onTyping(event) {
  const id = String(event.user);
  if (event.group !== view.groupId || id === view.userId || !view.names.has(id)) return;
  clearTimeout(view.typing.get(id));
  view.typing.set(id, setTimeout(() => stopTyping(id), TYPING_SHOWN_MS));
  renderTyping();
}

/**
 * A message arrived: its sender has stopped typing it.
 * @param {{group: string, sender: number}} raw
 */
export function onMessage(raw) {
  if (raw.group === view.groupId) stopTyping(String(raw.sender));
}

/** The group was closed: nothing of it stays on screen. */
export function clearPresence() {
  view.groupId = null;
  for (const id of [...view.typing.keys()]) stopTyping(id);
  view.names = new Map();
  render();
}
