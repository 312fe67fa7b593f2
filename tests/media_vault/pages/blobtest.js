/**
 * Helpers the browser tests import inside page.evaluate: group keys, hex, and the
 * chunk surgery the tamper tests perform on an encrypted file.
 */
import * as hw from "/static/js/crypto.js";

export { hw };

const keys = new Map();

/**
 * A group's key, derived once per page from hex secret and salt.
 *
 * @param {string} secretHex
 * @param {string} saltHex
 * @param {number} iterations
 * @returns {Promise<CryptoKey>}
 */
export async function groupKey(secretHex, saltHex, iterations) {
  const id = `${secretHex}/${saltHex}/${iterations}`;
  if (!keys.has(id)) {
    keys.set(id, hw.deriveGroupKeys(fromHex(secretHex), fromHex(saltHex), iterations));
  }
  return (await keys.get(id)).encKey;
}

/**
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * @param {string} hex
 * @returns {Uint8Array}
 */
export function fromHex(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i += 1) {
    out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return out;
}

/**
 * Hex SHA-256 of a Blob's bytes.
 *
 * @param {Blob} blob
 * @returns {Promise<string>}
 */
export async function sha256(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return toHex(new Uint8Array(digest));
}

/**
 * Splits an encrypted file into its header and sealed chunks.
 *
 * @param {Uint8Array} bytes
 * @returns {{header: Uint8Array, chunks: Uint8Array[]}}
 */
export function splitBlob(bytes) {
  const chunkSize = new DataView(bytes.buffer, bytes.byteOffset).getUint32(5, false);
  const step = chunkSize + hw.TAG_BYTES;
  const chunks = [];
  for (let at = hw.BLOB_HEADER_BYTES; at < bytes.length; at += step) {
    chunks.push(bytes.slice(at, Math.min(bytes.length, at + step)));
  }
  return { header: bytes.slice(0, hw.BLOB_HEADER_BYTES), chunks };
}

/**
 * Joins a header and chunks back into one Uint8Array.
 *
 * @param {Uint8Array} header
 * @param {Uint8Array[]} chunks
 * @returns {Uint8Array}
 */
export function joinBlob(header, chunks) {
  return new Uint8Array(Array.from(header).concat(...chunks.map((c) => Array.from(c))));
}

/**
 * Runs decryptBlob and reports either the plaintext's hash or the error.
 *
 * @param {CryptoKey} key
 * @param {Blob|Uint8Array} source
 * @param {Uint8Array} aad
 * @returns {Promise<{ok: string}|{error: string}>}
 */
export async function tryDecrypt(key, source, aad) {
  try {
    return { ok: await sha256(await hw.decryptBlob(key, source, aad)) };
  } catch (error) {
    return { error: `${error.name}: ${error.message}` };
  }
}
