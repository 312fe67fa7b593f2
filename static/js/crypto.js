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
