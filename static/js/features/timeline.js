/**
 * The message list as people expect it: changes (reactions, edits) folded
 * onto the messages they target, day separators, a "new messages" divider,
 * consecutive messages of one sender grouped, and per-message actions.
 *
 * The chat page still draws each message (its `messageElement`); this module
 * decides which entries are shown and decorates what the page drew.
 * @module features/timeline
 */

import { isShown } from './doc.js';
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
  if (entry.failed || !entry.doc || typeof entry.doc.body !== 'string') return null;
  const edit = edits.get(entry.raw.id);
  return edit ? edit.body : entry.doc.body;
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
  if (mine && !entry.failed && typeof entry.doc.body === 'string') {
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
  }

  const body = item.querySelector('.hw-msg-body');
  const text = currentBody(entry, ctx.fold.edits);
  if (body && text !== null) {
    body.replaceChildren(formatText(text));
    item.classList.toggle('hw-msg-emoji', isEmojiOnly(text));
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
