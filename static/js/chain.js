/**
 * The membership chain in the browser: fetch it, recompute every hash, and compare it
 * with the head this browser saw before.
 *
 * The server could rewrite a group's history: add a member nobody invited, hide a
 * removal, or show two members two different stories. Each event is hashed together
 * with the hash before it (docs/protocol.md, "Integrity chain"), so changing any past
 * event changes every later hash. This module trusts no hash the server sends: it
 * rebuilds the canonical JSON of every event from its fields and hashes it with
 * WebCrypto. The last verified head {seq, hash} is kept per account and group in
 * localStorage; a chain that no longer contains that head is a rollback (it stops
 * short) or a fork (it differs at or before it). Such a finding is stored too, so the
 * warning survives a reload until the user dismisses it.
 *
 * No function here touches the page; members.js shows the results.
 * @module chain
 */

import { apiGet } from './api.js';
import { deriveSafetyKey, safetyNumber, sha256 } from './crypto.js';

/** The event kinds a chain may hold, as docs/protocol.md lists them. */
export const KINDS = Object.freeze([
  'create', 'join', 'leave', 'remove', 'owner', 'rotate', 'retain',
]);

/** The hash before the first event: 32 zero bytes, in hex. */
export const GENESIS_HASH = '0'.repeat(64);

const HASH_HEX = /^[0-9a-f]{64}$/;
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const HEAD_PREFIX = 'hashwhisper:chain-head:';
const ALARM_PREFIX = 'hashwhisper:chain-alarm:';
const encoder = new TextEncoder();

function isCount(value, least) {
  return Number.isSafeInteger(value) && value >= least;
}

function isUserId(value) {
  return value === null || isCount(value, 1);
}

/**
 * The exact text that is hashed for an event: keys in code-point order, no spaces,
 * numbers as integers, null for a missing actor or subject, the time as
 * YYYY-MM-DDTHH:MM:SS.mmmZ. Every value is ASCII, so JSON.stringify writes exactly
 * what the server's json.dumps(sort_keys=True, separators=(",", ":")) writes.
 *
 * @param {{seq: number, kind: string, actor: ?number, subject: ?number,
 *          epoch: number, at: string}} event
 * @returns {string}
 * @throws {Error} if a field has another type or form than the protocol allows
 */
export function canonicalEventJson(event) {
  if (event === null || typeof event !== 'object') throw new Error('An event must be an object');
  const { seq, kind, actor, subject, epoch, at } = event;
  if (!isCount(seq, 1)) throw new Error('seq must be a positive integer');
  if (!KINDS.includes(kind)) throw new Error('kind is not a known event kind');
  if (!isUserId(actor) || !isUserId(subject)) throw new Error('actor and subject must be ids');
  if (!isCount(epoch, 1)) throw new Error('epoch must be a positive integer');
  if (typeof at !== 'string' || !TIME.test(at)) throw new Error('at must be a UTC time');
  // Keys are written in sorted order; JSON.stringify keeps insertion order.
  return JSON.stringify({ actor, at, epoch, kind, seq, subject });
}

/**
 * Hex text to bytes; only lowercase hex of an even length is accepted.
 *
 * @param {string} hex
 * @returns {Uint8Array}
 */
export function hexToBytes(hex) {
  if (typeof hex !== 'string' || !/^(?:[0-9a-f]{2})*$/.test(hex)) {
    throw new Error('Expected lowercase hex');
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Bytes to lowercase hex.
 *
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function bytesToHex(bytes) {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/**
 * SHA-256(prev_hash ‖ canonical JSON of the event), in hex.
 *
 * @param {string} prevHex - the hash of the event before, or GENESIS_HASH
 * @param {object} event - as in canonicalEventJson
 * @returns {Promise<string>}
 */
export async function linkHash(prevHex, event) {
  const prev = hexToBytes(prevHex);
  const text = encoder.encode(canonicalEventJson(event));
  const joined = new Uint8Array(prev.length + text.length);
  joined.set(prev, 0);
  joined.set(text, prev.length);
  return bytesToHex(await sha256(joined));
}

function broken(seq, reason) {
  return { ok: false, seq, reason };
}

/**
 * Recomputes a chain as GET /api/groups/<id>/chain serves it.
 *
 * Every event must carry the next sequence number from 1, name the hash before it,
 * and carry the hash of its own fields; the head must be the last event. An empty
 * chain verifies with the genesis head (groups made before chains were kept).
 *
 * @param {{events: object[], head: {seq: number, hash: string}}} chain
 * @returns {Promise<{ok: true, head: {seq: number, hash: string}} |
 *                   {ok: false, seq: number, reason: string}>} where a broken chain
 *   names the first sequence number that does not verify
 */
export async function verifyChain(chain) {
  if (!chain || !Array.isArray(chain.events) || !chain.head) {
    return broken(1, 'The server sent no chain.');
  }
  let prev = GENESIS_HASH;
  for (const [index, event] of chain.events.entries()) {
    const seq = index + 1;
    if (!event || event.seq !== seq) return broken(seq, `Event ${seq} is missing.`);
    if (event.prev_hash !== prev) {
      return broken(seq, `Event ${seq} does not follow the one before.`);
    }
    let digest;
    try {
      digest = await linkHash(prev, event);
    } catch (error) {
      return broken(seq, `Event ${seq} is malformed: ${error.message}.`);
    }
    if (!HASH_HEX.test(event.hash) || digest !== event.hash) {
      return broken(seq, `Event ${seq} was altered.`);
    }
    prev = digest;
  }
  const { seq, hash } = chain.head;
  if (seq !== chain.events.length || hash !== prev) {
    return broken(chain.events.length + 1, 'The chain stops before its announced head.');
  }
  return { ok: true, head: { seq, hash } };
}

/**
 * How a verified chain relates to a head seen before.
 *
 * @param {object[]} events - a chain that verifyChain accepted
 * @param {?{seq: number, hash: string}} remembered
 * @returns {'new'|'same'|'extends'|'rollback'|'fork'} "rollback" when the chain is
 *   shorter than the remembered head, "fork" when it differs at the remembered place
 */
export function compareWithHead(events, remembered) {
  if (!remembered) return 'new';
  if (events.length < remembered.seq) return 'rollback';
  if (remembered.seq === 0) return events.length === 0 ? 'same' : 'extends';
  if (events[remembered.seq - 1].hash !== remembered.hash) return 'fork';
  return events.length === remembered.seq ? 'same' : 'extends';
}

function storageKey(prefix, userId, groupId) {
  return `${prefix}${userId}:${groupId}`;
}

function readJson(key) {
  try {
    return JSON.parse(localStorage.getItem(key) ?? 'null');
  } catch {
    return null;
  }
}

/**
 * The head this browser last verified for the group, or null.
 *
 * @param {string} userId
 * @param {string} groupId
 * @returns {?{seq: number, hash: string}}
 */
export function rememberedHead(userId, groupId) {
  const head = readJson(storageKey(HEAD_PREFIX, userId, groupId));
  if (!head || !isCount(head.seq, 0) || !HASH_HEX.test(head.hash)) return null;
  return head;
}

function rememberHead(userId, groupId, head) {
  localStorage.setItem(storageKey(HEAD_PREFIX, userId, groupId), JSON.stringify(head));
}

/**
 * The stored warning for the group, or null: {status, seq, reason, at}.
 *
 * @param {string} userId
 * @param {string} groupId
 * @returns {?object}
 */
export function storedAlarm(userId, groupId) {
  return readJson(storageKey(ALARM_PREFIX, userId, groupId));
}

function raiseAlarm(userId, groupId, alarm) {
  localStorage.setItem(storageKey(ALARM_PREFIX, userId, groupId), JSON.stringify(alarm));
}

const EXPLANATIONS = {
  tampered: 'The membership history the server sent does not verify',
  rollback: 'The server sent a shorter membership history than this browser saw before',
  fork: 'The server sent a membership history that differs from the one this browser saw',
};

/**
 * Verifies a fetched chain against the remembered head and updates what is stored.
 *
 * A chain that verifies and contains the remembered head becomes the new remembered
 * head. Anything else leaves the remembered head alone and stores an alarm, which stays
 * until acknowledgeAlarm, even if a later chain verifies again.
 *
 * @param {string} userId
 * @param {string} groupId
 * @param {object} chain - as the chain API serves it
 * @returns {Promise<{status: 'ok'|'tampered'|'rollback'|'fork', head: ?object,
 *   previous: ?object, grew: number, seq?: number, reason?: string, alarm: ?object}>}
 *   grew is how many events were added since the remembered head
 */
export async function checkChain(userId, groupId, chain) {
  const previous = rememberedHead(userId, groupId);
  const verified = await verifyChain(chain);
  let result;
  if (!verified.ok) {
    result = { status: 'tampered', head: null, seq: verified.seq, reason: verified.reason };
  } else {
    const relation = compareWithHead(chain.events, previous);
    if (relation === 'rollback' || relation === 'fork') {
      const seq = relation === 'rollback' ? chain.events.length + 1 : previous.seq;
      result = { status: relation, head: verified.head, seq, reason: EXPLANATIONS[relation] };
    } else {
      rememberHead(userId, groupId, verified.head);
      const grew = previous ? verified.head.seq - previous.seq : 0;
      result = { status: 'ok', head: verified.head, grew };
    }
  }
  if (result.status !== 'ok') {
    const reason = result.status === 'tampered' ? EXPLANATIONS.tampered : result.reason;
    raiseAlarm(userId, groupId, {
      status: result.status, seq: result.seq, reason, at: new Date().toISOString(),
    });
  }
  return { grew: 0, ...result, previous, alarm: storedAlarm(userId, groupId) };
}

/**
 * The user has compared safety numbers with the other members and accepts the
 * history as it is now: the warning is cleared and, if the chain verifies, its head
 * becomes the remembered one.
 *
 * @param {string} userId
 * @param {string} groupId
 * @param {object} chain - the chain as last fetched
 * @returns {Promise<boolean>} whether the chain verified and was adopted
 */
export async function acknowledgeAlarm(userId, groupId, chain) {
  const verified = await verifyChain(chain);
  if (!verified.ok) return false;
  localStorage.removeItem(storageKey(ALARM_PREFIX, userId, groupId));
  rememberHead(userId, groupId, verified.head);
  return true;
}

/**
 * GET the group's chain from the server.
 *
 * @param {string} groupId
 * @returns {Promise<object>}
 */
export function fetchChain(groupId) {
  return apiGet(`/api/groups/${groupId}/chain`);
}

const safetyKeys = new Map();

/**
 * The group safety number for a verified head, from the keystore record of the
 * current epoch. The safety key costs one PBKDF2 run, so it is kept for the page's
 * lifetime per group and epoch.
 *
 * @param {{secret: Uint8Array, salt: Uint8Array, iterations: number, epoch?: number}}
 *   record - the group's keystore record
 * @param {string} groupId
 * @param {string} headHex - the verified head's hash
 * @returns {Promise<string>} twelve digits in three groups of four
 */
export async function groupSafetyNumber(record, groupId, headHex) {
  const id = `${groupId}:${record.epoch ?? 1}`;
  if (!safetyKeys.has(id)) {
    safetyKeys.set(id, deriveSafetyKey(record.secret, record.salt, record.iterations));
  }
  try {
    return await safetyNumber(await safetyKeys.get(id), groupId, hexToBytes(headHex));
  } catch (error) {
    safetyKeys.delete(id);
    throw error;
  }
}
