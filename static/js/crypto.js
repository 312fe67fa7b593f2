/**
 * HashWhisper protocol v1: every cryptographic operation of the browser client.
 *
 * The module uses WebCrypto only (crypto.subtle and crypto.getRandomValues) and never
 * touches the page, so it can run in a window or a worker alike. Keys leave it as
 * non-extractable CryptoKeys; the group secret and the member token are the only raw
 * bytes it hands back. docs/protocol.md describes the protocol these functions implement.
 *
 * @module crypto
 */

/** Protocol label carried in invitations, HKDF info strings and AAD. */
export const PROTOCOL = "v1";

/** Fewest PBKDF2 iterations a group may use; weaker parameters are refused. */
export const MIN_ITERATIONS = 120000;

/** PBKDF2 iterations for new groups (OWASP's figure for PBKDF2-HMAC-SHA256). */
export const DEFAULT_ITERATIONS = 600000;

/** Most PBKDF2 iterations accepted, so a hostile server cannot hang the tab. */
export const MAX_ITERATIONS = 10_000_000;

/** Length of a group's PBKDF2 salt, in bytes (also the shortest salt accepted). */
export const SALT_BYTES = 16;

/** Length of a random group secret, in bytes. */
export const SECRET_BYTES = 32;

/** Length of an AES-GCM nonce, in bytes. */
export const NONCE_BYTES = 12;

/** Length of an AES-GCM authentication tag, in bytes. */
export const TAG_BYTES = 16;

/** Fewest characters (Unicode code points after NFC) a passphrase secret may have. */
export const MIN_PASSPHRASE_CHARS = 16;

const MIN_SECRET_BYTES = 16;
const AES_KEY_BYTES = 32;
const GROUP_ID_BYTES = 16;
const HASH_BYTES = 32;
const HKDF_MAX_BYTES = 255 * HASH_BYTES;
const RANDOM_CHUNK = 65536;
const BINARY_CHUNK = 0x8000;
const INFO_ENC = `HashWhisper:${PROTOCOL}:enc`;
const INFO_MEMBER = `HashWhisper:${PROTOCOL}:member`;

const B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const B64URL_PATTERN = /^[A-Za-z0-9_-]*$/;
const GROUP_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;
const SENDER_ID_PATTERN = /^[1-9][0-9]*$/;
const INVITATION_PATTERN = /^v1\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]+)$/;
const OTHER_VERSION_PATTERN = /^v[0-9]+\./;

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Returns the SubtleCrypto object, or explains why it is missing.
 *
 * Browsers expose crypto.subtle only in secure contexts, so a page served over plain
 * HTTP from a non-local host would otherwise fail later with an obscure TypeError.
 */
function subtle() {
  const api = globalThis.crypto?.subtle;
  if (!api) {
    throw new Error("WebCrypto is unavailable: HashWhisper needs HTTPS (or localhost)");
  }
  return api;
}

/**
 * Views any BufferSource as a Uint8Array without copying; rejects anything else.
 */
function toBytes(value, name) {
  if (value instanceof Uint8Array) {
    return value;
  }
  if (value instanceof ArrayBuffer) {
    return new Uint8Array(value);
  }
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  throw new TypeError(`${name} must be a Uint8Array or another BufferSource`);
}

function requireLength(value, min, max, name) {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}`);
  }
}

function concatBytes(first, second) {
  const out = new Uint8Array(first.length + second.length);
  out.set(first, 0);
  out.set(second, first.length);
  return out;
}

/**
 * Returns n cryptographically random bytes.
 *
 * @param {number} n - how many bytes, a non-negative integer
 * @returns {Uint8Array}
 */
export function randomBytes(n) {
  requireLength(n, 0, Number.MAX_SAFE_INTEGER, "randomBytes length");
  const out = new Uint8Array(n);
  // getRandomValues fills at most 65 536 bytes per call.
  for (let start = 0; start < n; start += RANDOM_CHUNK) {
    globalThis.crypto.getRandomValues(out.subarray(start, start + RANDOM_CHUNK));
  }
  return out;
}

/**
 * Encodes bytes as standard base64 with padding.
 *
 * @param {BufferSource} bytes
 * @returns {string}
 */
export function b64encode(bytes) {
  const data = toBytes(bytes, "bytes");
  let binary = "";
  for (let start = 0; start < data.length; start += BINARY_CHUNK) {
    binary += String.fromCharCode(...data.subarray(start, start + BINARY_CHUNK));
  }
  return btoa(binary);
}

/**
 * Tells whether the unused low bits of the last base64 symbol are zero.
 *
 * Only then does a string decode to bytes that encode back to the same string; refusing
 * the other spellings gives every ciphertext, nonce and tag exactly one text form.
 */
function hasCanonicalTail(text) {
  const body = text.replace(/=+$/, "");
  const spareBits = (body.length * 6) % 8;
  if (spareBits === 0) {
    return true;
  }
  const last = B64_ALPHABET.indexOf(body[body.length - 1]);
  return (last & ((1 << spareBits) - 1)) === 0;
}

/**
 * Decodes standard base64 with padding. Whitespace, a missing or misplaced padding
 * sign, characters outside the alphabet and non-canonical trailing bits are refused.
 *
 * @param {string} text
 * @returns {Uint8Array}
 * @throws {Error} if text is not canonical padded base64
 */
export function b64decode(text) {
  if (typeof text !== "string" || !B64_PATTERN.test(text) || !hasCanonicalTail(text)) {
    throw new Error("Invalid base64: expected canonical standard base64 with padding");
  }
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) {
    out[i] = binary.charCodeAt(i);
  }
  return out;
}

/**
 * Encodes bytes as unpadded base64url (RFC 4648 section 5).
 *
 * @param {BufferSource} bytes
 * @returns {string}
 */
export function b64urlEncode(bytes) {
  return b64encode(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Decodes unpadded base64url; padding, whitespace and non-canonical input are refused.
 *
 * @param {string} text
 * @returns {Uint8Array}
 * @throws {Error} if text is not canonical unpadded base64url
 */
export function b64urlDecode(text) {
  if (typeof text !== "string" || !B64URL_PATTERN.test(text) || text.length % 4 === 1) {
    throw new Error("Invalid base64url: expected unpadded base64url");
  }
  const standard = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = standard + "=".repeat((4 - (standard.length % 4)) % 4);
  if (!hasCanonicalTail(padded)) {
    throw new Error("Invalid base64url: non-canonical trailing bits");
  }
  return b64decode(padded);
}

/**
 * Makes a new random group secret.
 *
 * @returns {Uint8Array} SECRET_BYTES random bytes
 */
export function newGroupSecret() {
  return randomBytes(SECRET_BYTES);
}

/**
 * Turns a typed passphrase into group-secret bytes: the UTF-8 encoding of its NFC form.
 *
 * NFC makes the same visible text give the same secret whichever way a keyboard or
 * operating system composed its accents. Length is counted in code points after
 * normalisation, so an emoji counts as one character per code point it contains.
 * Nothing is trimmed: the passphrase is the secret exactly as typed.
 *
 * @param {string} text
 * @returns {Uint8Array}
 * @throws {Error} if the passphrase is shorter than MIN_PASSPHRASE_CHARS
 */
export function passphraseSecret(text) {
  if (typeof text !== "string") {
    throw new TypeError("A passphrase must be a string");
  }
  // A lone surrogate would be silently replaced by U+FFFD and change the secret.
  if (!text.isWellFormed()) {
    throw new Error("A passphrase must be well-formed Unicode text");
  }
  const normalised = text.normalize("NFC");
  if ([...normalised].length < MIN_PASSPHRASE_CHARS) {
    throw new Error(`A passphrase needs at least ${MIN_PASSPHRASE_CHARS} characters`);
  }
  return encoder.encode(normalised);
}

/**
 * Makes a new group id: 16 random bytes as 22 characters of unpadded base64url.
 *
 * @returns {string}
 */
export function newGroupId() {
  return b64urlEncode(randomBytes(GROUP_ID_BYTES));
}

/**
 * PBKDF2-HMAC-SHA256 returning raw bytes. Only the vector tests need the raw output;
 * group keys come from deriveGroupKeys, which keeps its intermediate key inside
 * WebCrypto.
 *
 * @param {BufferSource} passwordBytes
 * @param {BufferSource} salt
 * @param {number} iterations - a positive integer
 * @param {number} lengthBytes - output length in bytes, a positive integer
 * @returns {Promise<Uint8Array>}
 */
export async function pbkdf2(passwordBytes, salt, iterations, lengthBytes) {
  requireLength(iterations, 1, 0xffffffff, "PBKDF2 iterations");
  requireLength(lengthBytes, 1, 0xffffffff / 8, "PBKDF2 output length");
  const base = await subtle().importKey(
    "raw", toBytes(passwordBytes, "password"), "PBKDF2", false, ["deriveBits"],
  );
  const params = { name: "PBKDF2", hash: "SHA-256", salt: toBytes(salt, "salt"), iterations };
  return new Uint8Array(await subtle().deriveBits(params, base, lengthBytes * 8));
}

/**
 * HKDF-SHA256 (RFC 5869) returning raw bytes, for the vector tests.
 *
 * @param {BufferSource} ikm - input keying material
 * @param {BufferSource} salt - may be empty (then HKDF uses 32 zero bytes)
 * @param {BufferSource} info
 * @param {number} lengthBytes - 1 to 8160 (255 hash blocks, the RFC's limit)
 * @returns {Promise<Uint8Array>}
 */
export async function hkdf(ikm, salt, info, lengthBytes) {
  requireLength(lengthBytes, 1, HKDF_MAX_BYTES, "HKDF output length");
  const base = await subtle().importKey("raw", toBytes(ikm, "ikm"), "HKDF", false, [
    "deriveBits",
  ]);
  const params = {
    name: "HKDF",
    hash: "SHA-256",
    salt: toBytes(salt, "salt"),
    info: toBytes(info, "info"),
  };
  return new Uint8Array(await subtle().deriveBits(params, base, lengthBytes * 8));
}

/**
 * Imports a raw 256-bit AES-GCM key as a non-extractable CryptoKey.
 *
 * Only AES-256 is accepted because protocol v1 uses no other key size.
 *
 * @param {BufferSource} rawBytes - 32 bytes
 * @returns {Promise<CryptoKey>}
 */
export async function importAesKey(rawBytes) {
  const raw = toBytes(rawBytes, "key");
  if (raw.length !== AES_KEY_BYTES) {
    throw new RangeError(`An AES key must be ${AES_KEY_BYTES} bytes`);
  }
  return subtle().importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
}

function gcmParams(nonce, aad) {
  const iv = toBytes(nonce, "nonce");
  if (iv.length !== NONCE_BYTES) {
    throw new RangeError(`An AES-GCM nonce must be ${NONCE_BYTES} bytes`);
  }
  const additionalData = toBytes(aad ?? new Uint8Array(0), "aad");
  return { name: "AES-GCM", iv, additionalData, tagLength: TAG_BYTES * 8 };
}

/**
 * AES-GCM encryption with a 96-bit nonce and a 128-bit tag.
 *
 * @param {CryptoKey} key
 * @param {BufferSource} nonce - 12 bytes; never reuse one with the same key
 * @param {BufferSource} plaintext
 * @param {BufferSource} [aad] - associated data, authenticated but not encrypted
 * @returns {Promise<Uint8Array>} ciphertext followed by the 16-byte tag
 */
export async function aesGcmEncrypt(key, nonce, plaintext, aad) {
  const params = gcmParams(nonce, aad);
  return new Uint8Array(await subtle().encrypt(params, key, toBytes(plaintext, "plaintext")));
}

/**
 * AES-GCM decryption; returns no bytes at all unless the tag verifies.
 *
 * @param {CryptoKey} key
 * @param {BufferSource} nonce - 12 bytes
 * @param {BufferSource} ciphertextWithTag - ciphertext followed by the 16-byte tag
 * @param {BufferSource} [aad] - the associated data given at encryption
 * @returns {Promise<Uint8Array>} the plaintext
 * @throws {Error} if the key, nonce, ciphertext, tag or associated data do not match
 */
export async function aesGcmDecrypt(key, nonce, ciphertextWithTag, aad) {
  const params = gcmParams(nonce, aad);
  const data = toBytes(ciphertextWithTag, "ciphertext");
  if (data.length < TAG_BYTES) {
    throw new RangeError(`An AES-GCM ciphertext must include its ${TAG_BYTES}-byte tag`);
  }
  try {
    return new Uint8Array(await subtle().decrypt(params, key, data));
  } catch (error) {
    if (error instanceof DOMException && error.name === "OperationError") {
      throw new Error("Decryption failed: wrong key, or altered data or context", {
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * Refuses group parameters weaker than protocol v1 allows.
 *
 * The salt and iteration count come from the server, so a hostile server could
 * otherwise make every group key cheap to guess; the upper bound on iterations stops
 * it from freezing the tab instead.
 */
function checkGroupParams(secret, salt, iterations) {
  if (!Number.isInteger(iterations)) {
    throw new TypeError("Refusing group parameters: iterations must be an integer");
  }
  if (iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw new RangeError(
      `Refusing group parameters: iterations must be ${MIN_ITERATIONS} to ${MAX_ITERATIONS}`,
    );
  }
  if (salt.length < SALT_BYTES) {
    throw new RangeError(`Refusing group parameters: salt must be at least ${SALT_BYTES} bytes`);
  }
  if (secret.length < MIN_SECRET_BYTES) {
    throw new RangeError(`A group secret must be at least ${MIN_SECRET_BYTES} bytes`);
  }
}

/**
 * Runs PBKDF2 and imports its output as a non-extractable HKDF key.
 *
 * WebCrypto cannot derive an HKDF key from PBKDF2 directly, so the 32 master bytes pass
 * through JavaScript for one step; they are overwritten as soon as WebCrypto holds them.
 * Garbage collection may still have copied them, which JavaScript cannot prevent.
 */
async function deriveMaster(secret, salt, iterations) {
  const api = subtle();
  const base = await api.importKey("raw", secret, "PBKDF2", false, ["deriveBits"]);
  const params = { name: "PBKDF2", hash: "SHA-256", salt, iterations };
  const bits = new Uint8Array(await api.deriveBits(params, base, HASH_BYTES * 8));
  try {
    return await api.importKey("raw", bits, "HKDF", false, ["deriveKey", "deriveBits"]);
  } finally {
    bits.fill(0);
  }
}

function hkdfInfo(info) {
  return { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: encoder.encode(info) };
}

/**
 * Derives a group's message key and membership token from its secret.
 *
 * master = PBKDF2-HMAC-SHA256(secret, salt, iterations, 32 bytes); from it HKDF-SHA256
 * with an empty salt gives the AES-256-GCM key (info "HashWhisper:v1:enc") and the
 * token (info "HashWhisper:v1:member"), two values that reveal nothing of each other.
 *
 * @param {BufferSource} secretBytes - at least 16 bytes
 * @param {BufferSource} saltBytes - at least SALT_BYTES bytes
 * @param {number} iterations - an integer from MIN_ITERATIONS to MAX_ITERATIONS
 * @returns {Promise<{encKey: CryptoKey, memberToken: Uint8Array}>} encKey is a
 *   non-extractable AES-256-GCM key; memberToken is 32 bytes
 * @throws {Error} if the parameters are weaker than protocol v1 allows
 */
export async function deriveGroupKeys(secretBytes, saltBytes, iterations) {
  const secret = toBytes(secretBytes, "secret");
  const salt = toBytes(saltBytes, "salt");
  checkGroupParams(secret, salt, iterations);
  const master = await deriveMaster(secret, salt, iterations);

  const api = subtle();
  const aes = { name: "AES-GCM", length: AES_KEY_BYTES * 8 };
  const usages = ["encrypt", "decrypt"];
  const encKey = await api.deriveKey(hkdfInfo(INFO_ENC), master, aes, false, usages);
  const token = await api.deriveBits(hkdfInfo(INFO_MEMBER), master, HASH_BYTES * 8);
  return { encKey, memberToken: new Uint8Array(token) };
}

function checkGroupId(groupId) {
  if (typeof groupId !== "string" || !GROUP_ID_PATTERN.test(groupId)) {
    throw new Error("A group id must be 22 characters of base64url");
  }
  try {
    b64urlDecode(groupId);
  } catch (error) {
    throw new Error("A group id must encode 16 bytes in canonical base64url", { cause: error });
  }
}

function senderText(senderId) {
  if (Number.isSafeInteger(senderId) && senderId > 0) {
    return String(senderId);
  }
  if (typeof senderId === "string" && SENDER_ID_PATTERN.test(senderId)) {
    return senderId;
  }
  throw new Error("A sender id must be a positive integer");
}

/**
 * The associated data of a message: "HashWhisper:v1|<groupId>|<senderId>" in UTF-8.
 *
 * Binding group and author into every tag means the server cannot move a message to
 * another group or attribute it to another member without decryption failing.
 *
 * @param {string} groupId - the 22-character group id
 * @param {number|string} senderId - the server's user id, a positive integer (a string
 *   of decimal digits without leading zeros is accepted too)
 * @returns {Uint8Array}
 */
export function messageAad(groupId, senderId) {
  checkGroupId(groupId);
  return encoder.encode(`HashWhisper:${PROTOCOL}|${groupId}|${senderText(senderId)}`);
}

/**
 * The associated data of a group's encrypted name: "HashWhisper:v1:name|<groupId>".
 *
 * @param {string} groupId - the 22-character group id
 * @returns {Uint8Array}
 */
export function nameAad(groupId) {
  checkGroupId(groupId);
  return encoder.encode(`HashWhisper:${PROTOCOL}:name|${groupId}`);
}

/**
 * @typedef {object} Sealed
 * @property {string} ciphertext - standard base64 of the ciphertext (tag removed)
 * @property {string} nonce - standard base64 of the 12-byte nonce
 * @property {string} tag - standard base64 of the 16-byte tag
 */

/**
 * Encrypts bytes under a fresh random nonce, in the field layout the server stores.
 *
 * Random 96-bit nonces keep the chance of a repeat negligible for far more messages
 * than one group key will ever protect.
 *
 * @param {CryptoKey} encKey - a group's key from deriveGroupKeys
 * @param {BufferSource} plaintextBytes
 * @param {BufferSource} aad - from messageAad or nameAad
 * @returns {Promise<Sealed>}
 */
export async function seal(encKey, plaintextBytes, aad) {
  const nonce = randomBytes(NONCE_BYTES);
  const sealed = await aesGcmEncrypt(encKey, nonce, plaintextBytes, aad);
  const cut = sealed.length - TAG_BYTES;
  return {
    ciphertext: b64encode(sealed.subarray(0, cut)),
    nonce: b64encode(nonce),
    tag: b64encode(sealed.subarray(cut)),
  };
}

/**
 * Decrypts what seal produced; lengths are checked before any decryption is tried.
 *
 * @param {CryptoKey} encKey
 * @param {Sealed} sealed
 * @param {BufferSource} aad - the associated data the sender used
 * @returns {Promise<Uint8Array>}
 * @throws {Error} on malformed fields or when authentication fails
 */
export async function open(encKey, sealed, aad) {
  if (sealed === null || typeof sealed !== "object") {
    throw new TypeError("A sealed message must be an object");
  }
  const nonce = b64decode(sealed.nonce);
  const tag = b64decode(sealed.tag);
  const ciphertext = b64decode(sealed.ciphertext);
  if (nonce.length !== NONCE_BYTES) {
    throw new Error(`A sealed message's nonce must be ${NONCE_BYTES} bytes`);
  }
  if (tag.length !== TAG_BYTES) {
    throw new Error(`A sealed message's tag must be ${TAG_BYTES} bytes`);
  }
  return aesGcmDecrypt(encKey, nonce, concatBytes(ciphertext, tag), aad);
}

/**
 * Seals the UTF-8 JSON text of a value.
 *
 * @param {CryptoKey} encKey
 * @param {*} object - any JSON-serialisable value
 * @param {BufferSource} aad
 * @returns {Promise<Sealed>}
 */
export async function encryptJson(encKey, object, aad) {
  const text = JSON.stringify(object);
  if (text === undefined) {
    throw new TypeError("The value cannot be written as JSON");
  }
  return seal(encKey, encoder.encode(text), aad);
}

/**
 * Opens a sealed JSON document; invalid UTF-8 or JSON throws.
 *
 * @param {CryptoKey} encKey
 * @param {Sealed} sealed
 * @param {BufferSource} aad
 * @returns {Promise<*>} the parsed value
 */
export async function decryptJson(encKey, sealed, aad) {
  return JSON.parse(strictDecoder.decode(await open(encKey, sealed, aad)));
}

/**
 * Cuts the fragment out of an invitation link; text without "#" is taken as the
 * fragment itself. Some QR readers and chat apps turn "#" into "%23", so that spelling
 * is accepted too.
 */
function invitationFragmentOf(text) {
  const hash = text.indexOf("#");
  if (hash >= 0) {
    return text.slice(hash + 1);
  }
  const encoded = text.indexOf("%23");
  return encoded >= 0 ? text.slice(encoded + 3) : text;
}

/**
 * Reads an invitation: a full link ".../g/join#v1.<groupId>.<secret>", or just the
 * fragment. Error messages never repeat the input, which holds the secret.
 *
 * @param {string} text
 * @returns {{groupId: string, secret: Uint8Array}}
 * @throws {Error} if the invitation is malformed or of another protocol version
 */
export function parseInvitation(text) {
  if (typeof text !== "string") {
    throw new TypeError("An invitation must be text");
  }
  const fragment = invitationFragmentOf(text.trim());
  const match = INVITATION_PATTERN.exec(fragment);
  if (!match) {
    if (OTHER_VERSION_PATTERN.test(fragment) && !fragment.startsWith("v1.")) {
      throw new Error("This invitation is for another protocol version");
    }
    throw new Error("Malformed invitation: expected v1.<group id>.<secret>");
  }
  let secret;
  try {
    checkGroupId(match[1]);
    secret = b64urlDecode(match[2]);
  } catch (error) {
    throw new Error("Malformed invitation: bad group id or secret encoding", { cause: error });
  }
  if (secret.length < MIN_SECRET_BYTES) {
    throw new Error("Malformed invitation: the secret is too short");
  }
  return { groupId: match[1], secret };
}

/**
 * Writes the fragment of an invitation link: "v1.<groupId>.<secret as base64url>".
 *
 * @param {string} groupId - the 22-character group id
 * @param {BufferSource} secret - the group secret (random or passphrase bytes)
 * @returns {string}
 */
export function invitationFragment(groupId, secret) {
  checkGroupId(groupId);
  const bytes = toBytes(secret, "secret");
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new RangeError(`A group secret must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  return `${PROTOCOL}.${groupId}.${b64urlEncode(bytes)}`;
}

/* Encrypted files (protocol v1, item 6 of DESIGN.md; docs/media.md) ---------------------- */

/** Plaintext bytes per chunk of an encrypted file unless a caller picks another size. */
export const BLOB_CHUNK_BYTES = 1 << 20;

/** Length of an encrypted file's header: magic, version, chunk size, nonce prefix. */
export const BLOB_HEADER_BYTES = 16;

const BLOB_MAGIC = Uint8Array.of(0x48, 0x57, 0x42, 0x4c); // "HWBL"
const BLOB_VERSION = 1;
const BLOB_PREFIX_BYTES = 7;
const MIN_BLOB_CHUNK = 1024;
const MAX_BLOB_CHUNK = 16 * 1024 * 1024;
const MAX_BLOB_CHUNKS = 0xffffffff;
const BLOB_ID_PATTERN = /^[A-Za-z0-9_-]{22,64}$/;

/**
 * The associated data of every chunk of an encrypted file:
 * "HashWhisper:v1:blob|<groupId>|<senderId>|<blobId>" in UTF-8.
 *
 * The blob id comes from the server before encryption starts, so a file cannot be passed
 * off as another one, nor moved to another group or author, without failing to decrypt.
 *
 * @param {string} groupId - the 22-character group id
 * @param {number|string} senderId - the uploader's user id
 * @param {string} blobId - the server's blob id (base64url, 22 to 64 characters)
 * @returns {Uint8Array}
 */
export function blobAad(groupId, senderId, blobId) {
  checkGroupId(groupId);
  if (typeof blobId !== "string" || !BLOB_ID_PATTERN.test(blobId)) {
    throw new Error("A blob id must be 22 to 64 characters of base64url");
  }
  const sender = senderText(senderId);
  return encoder.encode(`HashWhisper:${PROTOCOL}:blob|${groupId}|${sender}|${blobId}`);
}

function checkChunkSize(chunkSize) {
  requireLength(chunkSize, MIN_BLOB_CHUNK, MAX_BLOB_CHUNK, "Blob chunk size");
}

function chunkCount(plainSize, chunkSize) {
  return Math.max(1, Math.ceil(plainSize / chunkSize));
}

/**
 * The exact size of the encrypted file for a plaintext of plainSize bytes: the header, the
 * plaintext, and one tag per chunk. The server reserves exactly this many bytes.
 *
 * @param {number} plainSize - plaintext bytes, a non-negative integer
 * @param {number} [chunkSize] - plaintext bytes per chunk (1 KiB to 16 MiB)
 * @returns {number}
 */
export function blobCiphertextSize(plainSize, chunkSize = BLOB_CHUNK_BYTES) {
  requireLength(plainSize, 0, Number.MAX_SAFE_INTEGER, "Blob size");
  checkChunkSize(chunkSize);
  return BLOB_HEADER_BYTES + plainSize + TAG_BYTES * chunkCount(plainSize, chunkSize);
}

/**
 * The nonce of chunk i: prefix ‖ uint32_be(i) ‖ last-flag. The flag marks the final chunk,
 * so cutting a file short at a chunk boundary is detected.
 */
function chunkNonce(prefix, index, last) {
  const nonce = new Uint8Array(NONCE_BYTES);
  nonce.set(prefix, 0);
  new DataView(nonce.buffer).setUint32(BLOB_PREFIX_BYTES, index, false);
  nonce[NONCE_BYTES - 1] = last ? 1 : 0;
  return nonce;
}

function blobHeader(chunkSize, prefix) {
  const header = new Uint8Array(BLOB_HEADER_BYTES);
  header.set(BLOB_MAGIC, 0);
  header[4] = BLOB_VERSION;
  new DataView(header.buffer).setUint32(5, chunkSize, false);
  header.set(prefix, 9);
  return header;
}

function sourceSize(source) {
  return source instanceof Blob ? source.size : toBytes(source, "source").length;
}

/** Reads bytes [start, end) of a Blob or a BufferSource; only that range is loaded. */
async function readRange(source, start, end) {
  if (source instanceof Blob) {
    return new Uint8Array(await source.slice(start, end).arrayBuffer());
  }
  return toBytes(source, "source").subarray(start, end);
}

/**
 * Encrypts a file chunk by chunk (the STREAM construction): yields the header, then each
 * chunk's ciphertext and tag. Only one chunk of plaintext is read at a time, so a large
 * File is never loaded whole.
 *
 * @param {CryptoKey} encKey - the group's key
 * @param {Blob|BufferSource} source - the plaintext (a File is a Blob)
 * @param {BufferSource} aad - from blobAad
 * @param {number} [chunkSize] - plaintext bytes per chunk (1 KiB to 16 MiB)
 * @returns {AsyncGenerator<Uint8Array>}
 */
export async function* encryptBlobParts(encKey, source, aad, chunkSize = BLOB_CHUNK_BYTES) {
  checkChunkSize(chunkSize);
  const total = sourceSize(source);
  const count = chunkCount(total, chunkSize);
  if (count > MAX_BLOB_CHUNKS) {
    throw new RangeError("The file has too many chunks for one encrypted file");
  }
  const prefix = randomBytes(BLOB_PREFIX_BYTES);
  yield blobHeader(chunkSize, prefix);
  for (let index = 0; index < count; index += 1) {
    const start = index * chunkSize;
    const plain = await readRange(source, start, Math.min(total, start + chunkSize));
    const nonce = chunkNonce(prefix, index, index === count - 1);
    yield await aesGcmEncrypt(encKey, nonce, plain, aad);
  }
}

function readBlobHeader(header) {
  if (header.length < BLOB_HEADER_BYTES) {
    throw new Error("Not an encrypted file: too short");
  }
  if (!BLOB_MAGIC.every((byte, i) => header[i] === byte)) {
    throw new Error("Not an encrypted file: wrong magic");
  }
  if (header[4] !== BLOB_VERSION) {
    throw new Error("This encrypted file uses another format version");
  }
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const chunkSize = view.getUint32(5, false);
  checkChunkSize(chunkSize);
  return { chunkSize, prefix: header.slice(9, BLOB_HEADER_BYTES) };
}

/**
 * Decrypts an encrypted file chunk by chunk, yielding plaintext chunks in order. Any
 * reordered, dropped, repeated, altered or cut-off chunk, another blob id, group or
 * sender in the associated data, or another key makes it throw; a chunk is only
 * yielded once its tag has verified, but earlier chunks may already have been yielded,
 * so callers must discard everything when it throws.
 *
 * @param {CryptoKey} encKey - the group's key
 * @param {Blob|BufferSource} source - the encrypted file as downloaded
 * @param {BufferSource} aad - from blobAad, with the ids the message names
 * @returns {AsyncGenerator<Uint8Array>}
 */
export async function* decryptBlobParts(encKey, source, aad) {
  const total = sourceSize(source);
  const { chunkSize, prefix } = readBlobHeader(await readRange(source, 0, BLOB_HEADER_BYTES));
  if (total < BLOB_HEADER_BYTES + TAG_BYTES) {
    throw new Error("Decryption failed: the file is cut off");
  }
  const step = chunkSize + TAG_BYTES;
  let offset = BLOB_HEADER_BYTES;
  for (let index = 0; offset < total; index += 1) {
    const end = Math.min(total, offset + step);
    if (end - offset < TAG_BYTES || index > MAX_BLOB_CHUNKS) {
      throw new Error("Decryption failed: the file is cut off");
    }
    const sealed = await readRange(source, offset, end);
    yield await aesGcmDecrypt(encKey, chunkNonce(prefix, index, end === total), sealed, aad);
    offset = end;
  }
}

/**
 * Collects parts into one Blob as they come. A Blob built from a Blob and a part
 * references the earlier data rather than copying it, so only one chunk at a time
 * lives in JavaScript memory; the browser keeps the rest (on disk if it must).
 */
async function collect(parts, type, total, onProgress) {
  let out = new Blob([], { type });
  let done = 0;
  for await (const part of parts) {
    out = new Blob([out, part], { type });
    done += part.length;
    if (onProgress) onProgress(Math.min(done, total), total);
  }
  return out;
}

/**
 * Encrypts a whole file into a Blob ready for upload (type application/octet-stream).
 *
 * @param {CryptoKey} encKey
 * @param {Blob|BufferSource} source - the plaintext
 * @param {BufferSource} aad - from blobAad
 * @param {{chunkSize?: number, onProgress?: function(number, number): void}} [options] -
 *   onProgress(doneBytes, totalBytes) is called after each chunk, in ciphertext bytes
 * @returns {Promise<Blob>}
 */
export async function encryptBlob(encKey, source, aad, options = {}) {
  const chunkSize = options.chunkSize ?? BLOB_CHUNK_BYTES;
  const total = blobCiphertextSize(sourceSize(source), chunkSize);
  const parts = encryptBlobParts(encKey, source, aad, chunkSize);
  return collect(parts, "application/octet-stream", total, options.onProgress);
}

/**
 * Decrypts a downloaded file into a Blob of the given type; throws, and returns nothing,
 * if any part fails to verify.
 *
 * @param {CryptoKey} encKey
 * @param {Blob|BufferSource} source - the encrypted file
 * @param {BufferSource} aad - from blobAad
 * @param {{type?: string, onProgress?: function(number, number): void}} [options] - the
 *   Blob's MIME type (default application/octet-stream); onProgress(doneBytes,
 *   totalBytes) in plaintext bytes
 * @returns {Promise<Blob>}
 */
export async function decryptBlob(encKey, source, aad, options = {}) {
  const type = options.type ?? "application/octet-stream";
  const { chunkSize } = readBlobHeader(await readRange(source, 0, BLOB_HEADER_BYTES));
  const body = Math.max(0, sourceSize(source) - BLOB_HEADER_BYTES);
  const tags = TAG_BYTES * Math.ceil(body / (chunkSize + TAG_BYTES));
  const parts = decryptBlobParts(encKey, source, aad);
  return collect(parts, type, Math.max(0, body - tags), options.onProgress);
}

/* ---------- membership chain and group safety number ---------- */

const INFO_SAFETY = `HashWhisper:${PROTOCOL}:safety`;
const SAFETY_LABEL = `HashWhisper:${PROTOCOL}:safety-number|`;
const SAFETY_BYTES = 12;
const SAFETY_GROUP = 10000;

/**
 * SHA-256 of bytes, as the membership chain hashes its links.
 *
 * @param {BufferSource} bytes
 * @returns {Promise<Uint8Array>} the 32-byte digest
 */
export async function sha256(bytes) {
  return new Uint8Array(await subtle().digest("SHA-256", toBytes(bytes, "bytes")));
}

/**
 * Derives a group's safety key from its secret: the same PBKDF2 master as deriveGroupKeys,
 * then HKDF-SHA256 with an empty salt and info "HashWhisper:v1:safety", kept as a
 * non-extractable HMAC-SHA256 key.
 *
 * The safety number is read aloud and shown as a QR code. Starting from the PBKDF2 master
 * rather than from the secret itself means that someone who overhears a number still
 * pays the full PBKDF2 cost for every guess of a passphrase.
 *
 * @param {BufferSource} secretBytes - the group secret of the current epoch
 * @param {BufferSource} saltBytes - that epoch's salt
 * @param {number} iterations - that epoch's PBKDF2 iteration count
 * @returns {Promise<CryptoKey>} a non-extractable HMAC-SHA256 key with usage "sign"
 * @throws {Error} if the parameters are weaker than protocol v1 allows
 */
export async function deriveSafetyKey(secretBytes, saltBytes, iterations) {
  const secret = toBytes(secretBytes, "secret");
  const salt = toBytes(saltBytes, "salt");
  checkGroupParams(secret, salt, iterations);
  const master = await deriveMaster(secret, salt, iterations);
  const hmac = { name: "HMAC", hash: "SHA-256", length: HASH_BYTES * 8 };
  return subtle().deriveKey(hkdfInfo(INFO_SAFETY), master, hmac, false, ["sign"]);
}

/**
 * The group safety number for a chain head: twelve digits in three groups of four.
 *
 * bytes = HKDF-Expand-SHA256(PRK = safety key, info = "HashWhisper:v1:safety-number|" ‖
 * group id ‖ "|" ‖ head hash (32 raw bytes), 12 bytes), which is the first 12 bytes of
 * HMAC-SHA256(safety key, info ‖ 0x01). Each 4-byte big-endian word, modulo 10 000,
 * gives one group of four digits (about 40 bits in all; the bias of the modulo is below
 * one in 400 000). Members with the same key and the same chain head see the same number.
 *
 * @param {CryptoKey} safetyKey - from deriveSafetyKey
 * @param {string} groupId - the 22-character group id
 * @param {BufferSource} headHash - the 32-byte hash of the chain's last event
 * @returns {Promise<string>} for example "0123 4567 8901"
 */
export async function safetyNumber(safetyKey, groupId, headHash) {
  checkGroupId(groupId);
  const head = toBytes(headHash, "headHash");
  if (head.length !== HASH_BYTES) {
    throw new RangeError(`A chain head hash must be ${HASH_BYTES} bytes`);
  }
  const label = encoder.encode(`${SAFETY_LABEL}${groupId}|`);
  const info = concatBytes(concatBytes(label, head), Uint8Array.of(1));
  const mac = new Uint8Array(await subtle().sign("HMAC", safetyKey, info));
  const view = new DataView(mac.buffer, 0, SAFETY_BYTES);
  const groups = [0, 4, 8].map((offset) => view.getUint32(offset) % SAFETY_GROUP);
  return groups.map((value) => String(value).padStart(4, "0")).join(" ");
}
