/**
 * The message list as people expect it: changes (reactions, edits) folded
 * onto the messages they target, day separators, a "new messages" divider,
 * consecutive messages of one sender grouped, and per-message actions.
 *
 * The chat page still draws each message (its `messageElement`); this module
 * decides which entries are shown and decorates what the page drew.
 * @module features/timeline
 */

import { bodyOf, isShown } from './doc.js';
import { formatText, isEmojiOnly } from './text.js';

const GROUP_WINDOW_MS = 5 * 60 * 1000;
const QUOTE_CHARS = 120;

/**
 * Folds reactions and edits onto their targets.
 * Only the author of a message may edit it: the sender id is bound into every
 * message's associated data, so an edit's author cannot be forged either.
 * For reactions, the latest add or remove of one emoji by one sender counts.
 * @param {Map<number, object>} store - message id -> decrypted entry
 * @returns {{shown: object[], reactions: Map, edits: Map}}
 */
export function foldStore(store) {
  const ordered = [...store.values()].sort((a, b) => a.raw.id - b.raw.id);
  const latestReaction = new Map();
  const edits = new Map();
  const shown = [];
  for (const entry of ordered) {
    if (!isShown(entry)) {
      const { doc, raw } = entry;
      if (doc.type === 'reaction') {
        latestReaction.set(`${doc.target}|${raw.sender}|${doc.emoji}`, { entry, doc });
      } else if (doc.type === 'edit') {
        const target = store.get(doc.target);
        if (target && !target.failed && target.raw.sender === raw.sender) {
          edits.set(doc.target, { body: doc.body, id: raw.id });
        }
      }
      continue;
    }
    shown.push(entry);
  }
  return { shown, reactions: collectReactions(latestReaction), edits };
}

function collectReactions(latest) {
  const reactions = new Map(); // target id -> Map(emoji -> [{sender, name}])
  for (const { entry, doc } of latest.values()) {
    if (doc.op !== 'add') continue;
    if (!reactions.has(doc.target)) reactions.set(doc.target, new Map());
    const byEmoji = reactions.get(doc.target);
    if (!byEmoji.has(doc.emoji)) byEmoji.set(doc.emoji, []);
    byEmoji.get(doc.emoji).push({ sender: String(entry.raw.sender), name: entry.raw.sender_name });
  }
  return reactions;
}

/**
 * The text a message shows now: its latest edit, else what was sent.
 * @param {object} entry
 * @param {Map} edits - from foldStore
 * @returns {string|null}
 */
export function currentBody(entry, edits) {
  if (entry.failed) return null;
  const body = bodyOf(entry.doc);
  if (body === null) return null;
  const edit = edits.get(entry.raw.id);
  return edit ? edit.body : body;
}

/**
 * Whether my reaction `emoji` is on message `target` now.
 * @param {Map<number, object>} store
 * @param {number} target
 * @param {string} emoji
 * @param {string} userId
 * @returns {boolean}
 */
export function hasMyReaction(store, target, emoji, userId) {
  const list = foldStore(store).reactions.get(target)?.get(emoji) || [];
  return list.some((r) => r.sender === userId);
}

const dayKey = (date) => `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;

function dayLabel(date) {
  const today = new Date();
  const startOf = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((startOf(date) - startOf(today)) / 86400000);
  if (days === 0 || days === -1) {
    const text = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }).format(days, 'day');
    return text.charAt(0).toLocaleUpperCase() + text.slice(1);
  }
  const options = { weekday: 'long', day: 'numeric', month: 'long' };
  if (date.getFullYear() !== today.getFullYear()) options.year = 'numeric';
  return date.toLocaleDateString(undefined, options);
}

function separator(className, text, role) {
  const line = document.createElement('div');
  line.className = className;
  line.dataset.role = role;
  const label = document.createElement('span');
  label.textContent = text;
  line.append(label);
  return line;
}

function icon(name) {
  const i = document.createElement('i');
  i.className = `fa-solid ${name}`;
  i.setAttribute('aria-hidden', 'true');
  return i;
}

function actionButton(action, iconName, label) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'btn btn-sm hw-msg-action';
  button.dataset.msgAction = action;
  button.setAttribute('aria-label', label);
  button.title = label;
  button.append(icon(iconName));
  return button;
}

function actions(entry, mine) {
  const bar = document.createElement('div');
  bar.className = 'hw-msg-actions';
  bar.setAttribute('role', 'group');
  bar.setAttribute('aria-label', 'Message actions');
  if (!entry.failed) {
    bar.append(actionButton('react', 'fa-face-smile', 'Add a reaction'));
    bar.append(actionButton('reply', 'fa-reply', 'Reply'));
  }
  if (mine && !entry.failed && bodyOf(entry.doc) !== null) {
    bar.append(actionButton('edit', 'fa-pen', 'Edit'));
  }
  if (mine) bar.append(actionButton('delete', 'fa-trash', 'Delete'));
  return bar;
}

function reactionBar(byEmoji, userId) {
  const bar = document.createElement('div');
  bar.className = 'hw-reactions';
  bar.setAttribute('role', 'group');
  bar.setAttribute('aria-label', 'Reactions');
  for (const [emoji, people] of byEmoji) {
    const mine = people.some((p) => p.sender === userId);
    const names = people.map((p) => (p.sender === userId ? 'you' : p.name)).join(', ');
    const chip = document.createElement('button');
    chip.type = 'button';
    chip.className = `btn btn-sm hw-reaction${mine ? ' hw-reaction-mine' : ''}`;
    chip.dataset.reactToggle = emoji;
    chip.setAttribute('aria-pressed', String(mine));
    chip.setAttribute('aria-label', `${emoji} ${people.length}, from ${names}`);
    chip.title = names;
    const symbol = document.createElement('span');
    symbol.className = 'hw-reaction-emoji';
    symbol.textContent = emoji;
    const count = document.createElement('span');
    count.textContent = String(people.length);
    chip.append(symbol, count);
    bar.append(chip);
  }
  return bar;
}

function quote(entry, store, edits, userId) {
  const targetId = entry.doc.reply_to;
  const target = store.get(targetId);
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'hw-quote';
  button.dataset.jump = String(targetId);
  const lead = document.createElement('span');
  lead.className = 'visually-hidden';
  lead.textContent = 'In reply to ';
  const who = document.createElement('span');
  who.className = 'hw-quote-sender';
  const text = document.createElement('span');
  text.className = 'hw-quote-text';
  const body = target ? currentBody(target, edits) : null;
  if (target && body !== null) {
    who.textContent = String(target.raw.sender) === userId ? 'You' : target.raw.sender_name;
    text.textContent = body.length > QUOTE_CHARS ? `${body.slice(0, QUOTE_CHARS)}…` : body;
  } else {
    who.textContent = 'Reply';
    text.textContent = target
      ? 'An attachment or an unreadable message'
      : 'The original message is not loaded or was deleted';
    button.disabled = !target;
  }
  button.append(lead, who, text);
  return button;
}

function timeText(date) {
  return date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

function decorate(item, entry, ctx, continued) {
  const { raw } = entry;
  const mine = String(raw.sender) === ctx.userId;
  const when = new Date(raw.created_at);
  const edited = ctx.fold.edits.has(raw.id);
  item.dataset.type = entry.doc ? entry.doc.type : 'unreadable';
  item.classList.toggle('hw-msg-cont', continued);

  const meta = item.querySelector('.hw-msg-meta');
  if (meta) {
    const time = document.createElement('time');
    time.dateTime = raw.created_at;
    time.textContent = timeText(when);
    time.title = when.toLocaleString();
    meta.replaceChildren(`${mine ? 'You' : raw.sender_name} · `, time);
    if (edited) {
      const tag = document.createElement('span');
      tag.className = 'hw-edited';
      tag.dataset.role = 'edited';
      tag.textContent = ' · edited';
      meta.append(tag);
    }
    meta.classList.toggle('visually-hidden', continued && !edited);
    // Named by its sender and time: the text is read as its description,
    // from the page, and never copied into an attribute.
    meta.id = `hw-msg-${raw.id}-meta`;
    item.setAttribute('aria-labelledby', meta.id);
  }

  const body = item.querySelector('.hw-msg-body');
  const text = currentBody(entry, ctx.fold.edits);
  if (body && text !== null) {
    body.replaceChildren(formatText(text));
    item.classList.toggle('hw-msg-emoji', isEmojiOnly(text));
  }
  if (body) {
    body.id = `hw-msg-${raw.id}-body`;
    item.setAttribute('aria-describedby', body.id);
  }
  if (body && entry.doc && entry.doc.type === 'reply') {
    body.before(quote(entry, ctx.store, ctx.fold.edits, ctx.userId));
  }
  const byEmoji = ctx.fold.reactions.get(raw.id);
  if (byEmoji && byEmoji.size) item.append(reactionBar(byEmoji, ctx.userId));
  item.append(actions(entry, mine));
  return item;
}

/**
 * The nodes of the message list, oldest first.
 * @param {Map<number, object>} store - message id -> entry of the open group
 * @param {(entry: object) => HTMLElement} render - draws one message
 * @param {{userId: string, dividerAfter: number|null}} options - the divider
 *   goes before the first message from someone else with a larger id
 * @returns {Node[]}
 */
export function layoutTimeline(store, render, { userId, dividerAfter }) {
  const fold = foldStore(store);
  const ctx = { fold, store, userId };
  const nodes = [];
  let previous = null;
  let dividerPlaced = dividerAfter === null;
  for (const entry of fold.shown) {
    const when = new Date(entry.raw.created_at);
    let continued = Boolean(previous)
      && previous.raw.sender === entry.raw.sender
      && dayKey(new Date(previous.raw.created_at)) === dayKey(when)
      && when - new Date(previous.raw.created_at) < GROUP_WINDOW_MS;
    if (!previous || dayKey(new Date(previous.raw.created_at)) !== dayKey(when)) {
      nodes.push(separator('hw-day', dayLabel(when), 'day-separator'));
    }
    const fromOther = String(entry.raw.sender) !== userId;
    if (!dividerPlaced && fromOther && entry.raw.id > dividerAfter) {
      nodes.push(separator('hw-new-divider', 'New messages', 'new-divider'));
      dividerPlaced = true;
      continued = false;
    }
    nodes.push(decorate(render(entry), entry, ctx, continued));
    previous = entry;
  }
  return nodes;
}

/* ---------- keyboard: the list is one tab stop ---------- */

// What a message may hold that the keyboard can reach: its own buttons, a
// reply's quote, the copy buttons of links, an attachment's buttons, link
// and media controls.
const CONTROLS = 'button, a[href], input, select, textarea, audio, video, [tabindex]';
// The data attributes that tell a message's controls apart across redraws.
const CONTROL_KEYS = ['msgAction', 'reactToggle', 'jump', 'testid'];
const VIEW_MARGIN = 8;
const SEPARATORS = new Set(['day-separator', 'new-divider']);

// The message in the tab order (the last one focused; the newest if none
// was or it is gone), and the message whose controls are reachable now.
const roving = { id: null, inside: null, complete: true };

const messagesOf = (box) => [...box.querySelectorAll(':scope > article[data-message-id]')];
const controlsOf = (item) => [...item.querySelectorAll(CONTROLS)];

function setInside(item, inside) {
  for (const control of controlsOf(item)) {
    if (inside) control.removeAttribute('tabindex');
    else control.setAttribute('tabindex', '-1');
  }
}

/**
 * Gives the message list one tab stop: the current message has tabindex 0;
 * the others, and every control in a message the focus is not inside, -1.
 * With no message, the list itself is the tab stop. Each message gets its
 * place in the feed (the size is -1 while older messages are not loaded).
 * @param {HTMLElement} box - the message list
 * @param {{complete?: boolean}} [options] - whether the oldest is loaded
 */
export function applyRoving(box, options = {}) {
  if (options.complete !== undefined) roving.complete = options.complete;
  const items = messagesOf(box);
  const current = items.find((item) => item.dataset.messageId === roving.id) || items.at(-1);
  box.tabIndex = items.length ? -1 : 0;
  items.forEach((item, index) => {
    item.tabIndex = item === current ? 0 : -1;
    item.setAttribute('aria-posinset', String(index + 1));
    item.setAttribute('aria-setsize', String(roving.complete ? items.length : -1));
    setInside(item, item.dataset.messageId === roving.inside);
  });
}

/**
 * Scrolls the list just enough to show a message (its top, if it is taller
 * than the list), with the day or "new messages" line right above it.
 */
function keepInView(box, item) {
  const above = item.previousElementSibling;
  const head = above && SEPARATORS.has(above.dataset.role) ? above : item;
  const outer = box.getBoundingClientRect();
  const top = head.getBoundingClientRect().top;
  const { bottom } = item.getBoundingClientRect();
  if (top < outer.top || bottom - top > outer.height) {
    box.scrollTop -= outer.top - top + VIEW_MARGIN;
  } else if (bottom > outer.bottom) {
    box.scrollTop += bottom - outer.bottom + VIEW_MARGIN;
  }
}

function focusMessage(box, item) {
  item.focus({ preventScroll: true });
  keepInView(box, item);
}

function controlKey(control) {
  const name = CONTROL_KEYS.find((key) => control.dataset[key] !== undefined);
  return name ? `${name}=${control.dataset[name]}` : control.tagName;
}

/**
 * Where the focus is in the message list, to be found again after the list
 * is drawn anew: the message (by id and place) and the control inside it (by
 * its data attribute, and which of the alike it is).
 * @param {HTMLElement} box
 * @returns {object|null} null when the focus is not on a message
 */
export function focusSnapshot(box) {
  const active = document.activeElement;
  const item = box.contains(active) ? active.closest('article[data-message-id]') : null;
  if (!item) return null;
  const snapshot = { id: item.dataset.messageId, index: messagesOf(box).indexOf(item) };
  if (active !== item) {
    const key = controlKey(active);
    const alike = controlsOf(item).filter((control) => controlKey(control) === key);
    snapshot.control = { key, nth: alike.indexOf(active) };
  }
  return snapshot;
}

/**
 * Puts the focus back where `focusSnapshot` found it, without scrolling; a
 * message that is gone hands the focus to the one now in its place.
 * @param {HTMLElement} box
 * @param {object|null} snapshot
 */
export function restoreFocus(box, snapshot) {
  if (!snapshot) return;
  const items = messagesOf(box);
  const item = items.find((candidate) => candidate.dataset.messageId === snapshot.id);
  if (!item) {
    const neighbour = items[Math.min(snapshot.index, items.length - 1)];
    (neighbour || box).focus({ preventScroll: true });
    return;
  }
  const { control } = snapshot;
  const alike = control
    ? controlsOf(item).filter((candidate) => controlKey(candidate) === control.key) : [];
  const target = alike[control ? control.nth : -1];
  if (target) {
    roving.inside = snapshot.id;
    setInside(item, true);
    target.focus({ preventScroll: true });
  } else {
    item.focus({ preventScroll: true });
  }
}

function usable(control) {
  return !control.disabled && control.getClientRects().length > 0;
}

/** Control+Home and Control+End leave the feed, as the feed pattern has it. */
function leaveFeed(box, after) {
  const stops = [...document.querySelectorAll(CONTROLS)].filter(
    (el) => el.tabIndex >= 0 && !box.contains(el) && usable(el),
  );
  const following = (el) => box.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING;
  const target = after ? stops.find(following) : stops.filter((el) => !following(el)).at(-1);
  if (target) target.focus();
}

/**
 * Shows more of a message that goes on past the list's edge in the
 * direction of `step` (one taller than the list, say): scrolls by most of
 * the list's height, and no further than the message's end. False when
 * that side of the message is in view already.
 */
function scrollWithin(box, item, step) {
  const outer = box.getBoundingClientRect();
  const inner = item.getBoundingClientRect();
  const stride = Math.max(outer.height - 6 * VIEW_MARGIN, outer.height / 2);
  const hidden = step > 0
    ? inner.bottom - outer.bottom + VIEW_MARGIN
    : outer.top - inner.top + VIEW_MARGIN;
  if (hidden <= VIEW_MARGIN + 1) return false;
  const before = box.scrollTop;
  box.scrollTop += Math.sign(step) * Math.min(stride, hidden);
  return box.scrollTop !== before;
}

async function moveBy(box, item, step, loadOlder) {
  // A message longer than the list is read through before the next one.
  if (scrollWithin(box, item, step)) return;
  const items = messagesOf(box);
  const index = items.indexOf(item);
  if (index + step >= 0) {
    focusMessage(box, items[Math.min(index + step, items.length - 1)]);
    return;
  }
  // Above the oldest loaded message, older ones are loaded as scrolling does.
  const id = item.dataset.messageId;
  await loadOlder();
  const now = messagesOf(box);
  const at = now.findIndex((candidate) => candidate.dataset.messageId === id);
  if (at > 0 && document.activeElement === now[at]) focusMessage(box, now[at - 1]);
}

function onMessageKey(event, box, loadOlder) {
  const item = event.target.closest('article[data-message-id]');
  if (!item || event.altKey || event.metaKey || event.shiftKey) return;
  const onItem = event.target === item;
  const items = messagesOf(box);
  const moves = {
    ArrowUp: () => moveBy(box, item, -1, loadOlder),
    PageUp: () => moveBy(box, item, -1, loadOlder),
    ArrowDown: () => moveBy(box, item, 1, loadOlder),
    PageDown: () => moveBy(box, item, 1, loadOlder),
    Home: () => focusMessage(box, items[0]),
    End: () => focusMessage(box, items.at(-1)),
    Enter: () => {
      const first = controlsOf(item).find(usable);
      if (!first) return;
      setInside(item, true);
      first.focus();
    },
  };
  let act = null;
  if (event.ctrlKey) {
    const edge = { Home: false, End: true }[event.key];
    if (edge !== undefined) act = () => leaveFeed(box, edge);
  } else if (onItem) {
    act = moves[event.key] || null;
  } else if (event.key === 'Escape') {
    act = () => item.focus();
  }
  if (!act) return;
  event.preventDefault();
  Promise.resolve(act()).catch(() => {});
}

/**
 * The keyboard in the message list: the arrow keys, Page Up and Page Down
 * move between messages (first through the rest of a message that goes on
 * past the list's edge), Home and End go to the first and the last loaded,
 * Enter goes into a message's controls (Tab then moves among them) and
 * Escape comes back to the message; Control+Home and Control+End leave the
 * list. Controls that appear later (an attachment's, once it is opened)
 * leave the tab order as well.
 * @param {HTMLElement} box - the message list
 * @param {{loadOlder: () => Promise<void>}} page
 */
export function bindMessageKeys(box, { loadOlder }) {
  box.addEventListener('keydown', (event) => onMessageKey(event, box, loadOlder));
  box.addEventListener('focusin', (event) => {
    const item = event.target.closest('article[data-message-id]');
    if (!item) return;
    roving.id = item.dataset.messageId;
    roving.inside = event.target === item ? null : roving.id;
    applyRoving(box);
  });
  box.addEventListener('focusout', (event) => {
    const item = event.target.closest('article[data-message-id]');
    if (!item || item.contains(event.relatedTarget)) return;
    if (roving.inside === item.dataset.messageId) roving.inside = null;
    setInside(item, false);
    // A control taken away under the focus (an attachment's button, once
    // pressed) leaves it on its message rather than on the page.
    const control = event.target;
    if (event.relatedTarget) return;
    queueMicrotask(() => {
      const lost = document.activeElement === document.body || !document.activeElement;
      if (lost && !control.isConnected && item.isConnected) item.focus({ preventScroll: true });
    });
  });
  new MutationObserver(() => applyRoving(box)).observe(box, { childList: true, subtree: true });
}
