/**
 * Group keys kept in this browser's IndexedDB, per account.
 *
 * A record holds the group secret (needed to show the invitation again), the
 * derivation parameters and the derived AES key as a non-extractable
 * CryptoKey, which IndexedDB stores without exposing its bytes.
 *
 * A group's secret can be rotated. The record then describes the newest
 * epoch this browser knows, and `keys` maps every epoch it has held to that
 * epoch's AES key, so messages sealed before a rotation stay readable.
 *
 * It also keeps `name`, the group's name as this browser last read it: after a
 * rotation the name is sealed under a key a member may not hold yet, and the
 * group list still tells which group needs the new invitation.
 * @module keystore
 */

const DB_NAME = 'hashwhisper';
const STORE = 'group-keys';

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function run(mode, action) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = action(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

const keyFor = (userId, groupId) => `${userId}:${groupId}`;

/** Records written before rotation existed hold one key, of the first epoch. */
function epochOf(record) {
  return Number.isSafeInteger(record.epoch) ? record.epoch : 1;
}

/**
 * Joins a new record with the stored one: all epochs' keys are kept, and the
 * newest epoch's secret and parameters describe the record.
 */
function mergeRecords(stored, record) {
  const epoch = epochOf(record);
  if (!stored) return { ...record, epoch, keys: { [epoch]: record.encKey } };
  const keys = { ...(stored.keys || { [epochOf(stored)]: stored.encKey }) };
  keys[epoch] = record.encKey;
  const newest = epoch >= epochOf(stored) ? { ...record, epoch } : stored;
  const name = newest.name ?? stored.name;
  return name === undefined ? { ...newest, keys } : { ...newest, keys, name };
}

/**
 * Store a group's key record for one account. Keys of other epochs already
 * stored are kept; the record of the newest epoch becomes the current one.
 * @param {string} userId
 * @param {{groupId: string, secret: Uint8Array, salt: Uint8Array,
 *          iterations: number, encKey: CryptoKey, epoch?: number}} record
 *   epoch defaults to 1, the epoch of a group that was never rotated
 */
export async function saveGroupKey(userId, record) {
  const db = await openDb();
  try {
    await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, 'readwrite');
      const store = tx.objectStore(STORE);
      const id = keyFor(userId, record.groupId);
      const read = store.get(id);
      read.onsuccess = () => store.put(mergeRecords(read.result, record), id);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/**
 * Remember the group name this browser could read, beside the group's keys.
 * Nothing is stored for a group whose key this browser does not hold.
 * @param {string} userId
 * @param {string} groupId
 * @param {string} name
 */
export async function rememberGroupName(userId, groupId, name) {
  const db = await openDb();
  try {
    await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, 'readwrite');
      const store = tx.objectStore(STORE);
      const id = keyFor(userId, groupId);
      const read = store.get(id);
      read.onsuccess = () => {
        if (read.result && read.result.name !== name) store.put({ ...read.result, name }, id);
      };
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/**
 * The AES key of one epoch from a stored record, or null if this browser
 * never held that epoch's secret.
 * @param {object|undefined} record - from loadGroupKey
 * @param {number} epoch
 * @returns {CryptoKey|null}
 */
export function encKeyForEpoch(record, epoch) {
  if (!record) return null;
  if (record.keys && record.keys[epoch]) return record.keys[epoch];
  return epochOf(record) === epoch ? record.encKey : null;
}

/**
 * The epoch of the newest key in a stored record.
 * @param {object} record - from loadGroupKey
 * @returns {number}
 */
export function currentEpoch(record) {
  return epochOf(record);
}

/**
 * The stored record for a group, or undefined.
 * @param {string} userId
 * @param {string} groupId
 */
export function loadGroupKey(userId, groupId) {
  return run('readonly', (store) => store.get(keyFor(userId, groupId)));
}

/**
 * Forget a group's key (after leaving it).
 * @param {string} userId
 * @param {string} groupId
 */
export function deleteGroupKey(userId, groupId) {
  return run('readwrite', (store) => store.delete(keyFor(userId, groupId)));
}
