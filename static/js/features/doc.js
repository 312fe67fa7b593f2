/**
 * The plaintext documents of protocol v1 messages, before sealing and after
 * opening. Every feature is a document type, so reactions, replies and edits
 * travel sealed exactly like text, and the server sees only another message:
 *
 *   text      {v: 1, type: 'text', body, ts}
 *   reply     {v: 1, type: 'reply', body, reply_to: <message id>, ts}
 *   reaction  {v: 1, type: 'reaction', target: <message id>, emoji, op: 'add'|'remove', ts}
 *   edit      {v: 1, type: 'edit', target: <message id>, body, ts}
 *
 * Other types (files, from the media module) are shown by the chat page.
 * @module features/doc
 */

import { FILE_TYPES } from '../media.js';
import { isOneEmoji } from './text.js';

/** Longest message text, in UTF-16 units; the composer enforces the same. */
export const MAX_BODY = 8000;
const MAX_EMOJI = 32;

/** Types that change another message and are never shown by themselves. */
const CHANGES = new Set(['reaction', 'edit']);

/** Types whose `body` is text to show; a file's is its caption. */
const TEXT_TYPES = new Set(['text', 'reply', 'edit', ...FILE_TYPES]);

const isId = (value) => Number.isSafeInteger(value) && value > 0;
const isBody = (value) => typeof value === 'string' && value.length <= MAX_BODY;

/**
 * Whether an opened document is well formed for its type. Unknown types pass,
 * so that a newer sender does not make older browsers mark messages broken.
 * @param {*} doc
 * @returns {boolean}
 */
export function isValidDocument(doc) {
  if (!doc || typeof doc !== 'object' || doc.v !== 1 || typeof doc.type !== 'string') {
    return false;
  }
  switch (doc.type) {
    case 'text':
      return isBody(doc.body);
    case 'reply':
      return isBody(doc.body) && isId(doc.reply_to);
    case 'reaction':
      return isId(doc.target) && typeof doc.emoji === 'string'
        && doc.emoji.length <= MAX_EMOJI && isOneEmoji(doc.emoji)
        && (doc.op === 'add' || doc.op === 'remove');
    case 'edit':
      return isBody(doc.body) && isId(doc.target);
    default:
      return true;
  }
}

/**
 * The text a document shows, or null. Only types known to carry text show
 * their `body`, and only within MAX_BODY: an unknown type (a newer sender's)
 * is shown without text, and its body, checked by nobody, is never drawn.
 * @param {*} doc
 * @returns {string|null}
 */
export function bodyOf(doc) {
  return doc && TEXT_TYPES.has(doc.type) && isBody(doc.body) ? doc.body : null;
}

/**
 * Whether a document changes another message instead of being one.
 * @param {{type: string}} doc
 * @returns {boolean}
 */
export function isChange(doc) {
  return Boolean(doc) && CHANGES.has(doc.type);
}

/**
 * Whether a decrypted entry is a message that appears in the list (and can
 * count as unread). Entries that failed to decrypt are shown, marked.
 * @param {{failed: boolean, doc?: object}} entry
 * @returns {boolean}
 */
export function isShown(entry) {
  if (entry.failed) return true;
  return Boolean(entry.doc) && !isChange(entry.doc);
}

/**
 * A text or reply document for what the composer holds.
 * @param {string} body
 * @param {number|null} replyTo - the id answered, or null
 * @returns {object}
 */
export function messageDocument(body, replyTo = null) {
  if (replyTo) return { v: 1, type: 'reply', body, reply_to: replyTo, ts: Date.now() };
  return { v: 1, type: 'text', body, ts: Date.now() };
}

/**
 * A reaction document: adds or takes back one emoji on a message.
 * @param {number} target
 * @param {string} emoji
 * @param {boolean} add
 * @returns {object}
 */
export function reactionDocument(target, emoji, add) {
  return { v: 1, type: 'reaction', target, emoji, op: add ? 'add' : 'remove', ts: Date.now() };
}

/**
 * An edit document: the new text of one's own message.
 * @param {number} target
 * @param {string} body
 * @returns {object}
 */
export function editDocument(target, body) {
  return { v: 1, type: 'edit', target, body, ts: Date.now() };
}
