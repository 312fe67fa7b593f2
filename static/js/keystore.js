/**
 * Group keys kept in this browser's IndexedDB, per account.
 *
 * A record holds the group secret (needed to show the invitation again), the
 * derivation parameters and the derived AES key as a non-extractable
 * CryptoKey, which IndexedDB stores without exposing its bytes.
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

/**
 * Store a group's key record for one account.
 * @param {string} userId
 * @param {{groupId: string, secret: Uint8Array, salt: Uint8Array,
 *          iterations: number, encKey: CryptoKey}} record
 */
export function saveGroupKey(userId, record) {
  return run('readwrite', (store) => store.put(record, keyFor(userId, record.groupId)));
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
