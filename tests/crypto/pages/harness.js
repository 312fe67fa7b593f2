/**
 * Test harness for static/js/crypto.js, loaded by harness.html under a strict CSP.
 *
 * It exposes the crypto module as window.hw and a few batch runners as window.harness,
 * so one page.evaluate call can push many vectors through the real browser code. The
 * runners only report what happened (output bytes as hex, or the error's name and
 * message); every judgement is made by the Python tests.
 */
import * as hw from "/static/js/crypto.js";

const violations = [];
const derivedKeys = new Map();

/**
 * Lower-case hex of bytes.
 *
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function toHex(bytes) {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Bytes of a hex string.
 *
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
 * Runs an async step and reports its outcome instead of throwing.
 *
 * @param {function(): Promise<*>} step
 * @returns {Promise<{ok: *}|{error: string}>} bytes results are returned as hex
 */
export async function outcome(step) {
  try {
    const value = await step();
    return { ok: value instanceof Uint8Array ? toHex(value) : value };
  } catch (error) {
    return { error: `${error.name}: ${error.message}` };
  }
}

/**
 * AES-GCM vectors through importAesKey, aesGcmEncrypt and aesGcmDecrypt.
 *
 * @param {Array<object>} cases - Wycheproof AeadTest entries (hex fields)
 * @returns {Promise<Array<object>>} per case: tcId, encrypt and decrypt outcomes
 */
export async function runAead(cases) {
  const results = [];
  for (const c of cases) {
    const key = await hw.importAesKey(fromHex(c.key));
    const [iv, aad] = [fromHex(c.iv), fromHex(c.aad)];
    const encrypt = await outcome(() => hw.aesGcmEncrypt(key, iv, fromHex(c.msg), aad));
    const sealed = fromHex(c.ct + c.tag);
    const decrypt = await outcome(() => hw.aesGcmDecrypt(key, iv, sealed, aad));
    results.push({ tcId: c.tcId, encrypt, decrypt });
  }
  return results;
}

/**
 * PBKDF2 vectors through pbkdf2().
 *
 * @param {Array<object>} cases - {id, password, salt, iterations, dkLen} (hex bytes)
 * @returns {Promise<Array<object>>} per case: id and outcome
 */
export async function runPbkdf2(cases) {
  const runs = cases.map(async (c) => ({
    id: c.id,
    result: await outcome(() =>
      hw.pbkdf2(fromHex(c.password), fromHex(c.salt), c.iterations, c.dkLen),
    ),
  }));
  return Promise.all(runs);
}

/**
 * HKDF vectors through hkdf().
 *
 * @param {Array<object>} cases - Wycheproof HkdfTest entries (hex fields)
 * @returns {Promise<Array<object>>} per case: tcId and outcome
 */
export async function runHkdf(cases) {
  const runs = cases.map(async (c) => ({
    tcId: c.tcId,
    result: await outcome(() =>
      hw.hkdf(fromHex(c.ikm), fromHex(c.salt), fromHex(c.info), c.size),
    ),
  }));
  return Promise.all(runs);
}

/**
 * Group keys from hex secret and salt, derived once per page and then reused, so that
 * many small evaluate calls do not each pay for PBKDF2.
 *
 * @param {string} secretHex
 * @param {string} saltHex
 * @param {number} iterations
 * @returns {Promise<{encKey: CryptoKey, memberToken: Uint8Array}>}
 */
export function keysFor(secretHex, saltHex, iterations) {
  const id = `${secretHex}/${saltHex}/${iterations}`;
  if (!derivedKeys.has(id)) {
    derivedKeys.set(id, hw.deriveGroupKeys(fromHex(secretHex), fromHex(saltHex), iterations));
  }
  return derivedKeys.get(id);
}

document.addEventListener("securitypolicyviolation", (event) => {
  violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});

window.hw = hw;
window.harness = {
  toHex, fromHex, outcome, keysFor, runAead, runPbkdf2, runHkdf, violations,
};
document.documentElement.dataset.ready = "true";
