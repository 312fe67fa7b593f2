"""Security properties of static/js/crypto.js, shown in a real Chromium.

Round trips hold for payloads of many sizes (random ones drawn by
Hypothesis), and any change to ciphertext, tag, nonce, key or associated data
makes decryption fail. Weak group parameters are refused, keys cannot be
exported, and nonces never repeat.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.crypto.conftest import Harness
from tests.support import reference

pytestmark = pytest.mark.browser

SECRET = bytes(range(1, 33))
SALT = bytes(range(100, 116))
ITERATIONS = reference.MIN_ITERATIONS
GROUP_ID = "AAECAwQFBgcICQoLDA0ODw"
OTHER_GROUP_ID = "_-_-_-_-_-_-_-_-_-_-_w"
SENDER_ID = 42
KEYS = reference.derive_group_keys(SECRET, SALT, ITERATIONS)

SEAL_AND_OPEN = """async (a) => {
  const { hw, harness } = window;
  const { encKey } = await harness.keysFor(a.secret, a.salt, a.iterations);
  const aad = hw.messageAad(a.groupId, a.senderId);
  const sealed = await hw.seal(encKey, harness.fromHex(a.payload), aad);
  const opened = await hw.open(encKey, sealed, aad);
  return { sealed, opened: harness.toHex(opened) };
}"""


def group_args(**extra: Any) -> dict[str, Any]:
    """Arguments for page scripts: the fixed test group, plus ``extra``."""
    return {
        "secret": SECRET.hex(),
        "salt": SALT.hex(),
        "iterations": ITERATIONS,
        "groupId": GROUP_ID,
        "senderId": SENDER_ID,
        **extra,
    }


def check_sealed_layout(sealed: dict[str, str], payload_size: int) -> None:
    """Field lengths as the server will check them."""
    assert len(base64.b64decode(sealed["nonce"], validate=True)) == 12
    assert len(base64.b64decode(sealed["tag"], validate=True)) == 16
    assert len(base64.b64decode(sealed["ciphertext"], validate=True)) == payload_size


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(payload=st.binary(max_size=3000))
def test_random_payloads_round_trip(harness: Harness, payload: bytes) -> None:
    result = harness.run(SEAL_AND_OPEN, group_args(payload=payload.hex()))
    assert result["opened"] == payload.hex()
    check_sealed_layout(result["sealed"], len(payload))
    aad = reference.message_aad(GROUP_ID, SENDER_ID)
    assert reference.open_sealed(KEYS.enc_key, result["sealed"], aad) == payload


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 4095, 65_536 + 3, 1 << 20])
def test_sizes_round_trip_and_python_agrees(harness: Harness, size: int) -> None:
    """Block edges, the 64 KiB random-source chunk and a 1 MiB media chunk."""
    result = harness.run(
        """async (a) => {
          const { hw, harness } = window;
          const { encKey } = await harness.keysFor(a.secret, a.salt, a.iterations);
          const aad = hw.messageAad(a.groupId, a.senderId);
          const payload = hw.randomBytes(a.size);
          const sealed = await hw.seal(encKey, payload, aad);
          const opened = await hw.open(encKey, sealed, aad);
          const same = opened.length === payload.length
            && opened.every((byte, i) => byte === payload[i]);
          return { sealed, same, payload: hw.b64encode(payload) };
        }""",
        group_args(size=size),
    )
    assert result["same"] is True
    check_sealed_layout(result["sealed"], size)
    payload = base64.b64decode(result["payload"])
    aad = reference.message_aad(GROUP_ID, SENDER_ID)
    assert reference.open_sealed(KEYS.enc_key, result["sealed"], aad) == payload


def test_flipping_any_byte_of_ciphertext_tag_or_nonce_fails(harness: Harness) -> None:
    result = harness.run(
        """async (a) => {
          const { hw, harness } = window;
          const { encKey } = await harness.keysFor(a.secret, a.salt, a.iterations);
          const aad = hw.messageAad(a.groupId, a.senderId);
          const sealed = await hw.seal(encKey, hw.randomBytes(40), aad);
          const accepted = [];
          let tried = 0;
          for (const field of ["ciphertext", "tag", "nonce"]) {
            const bytes = hw.b64decode(sealed[field]);
            for (let i = 0; i < bytes.length; i += 1) {
              for (const mask of [0x01, 0x80, 0xff]) {
                const changed = bytes.slice();
                changed[i] ^= mask;
                const forged = { ...sealed, [field]: hw.b64encode(changed) };
                const got = await harness.outcome(() => hw.open(encKey, forged, aad));
                tried += 1;
                if (!got.error?.startsWith("Error: Decryption failed")) {
                  accepted.push([field, i, mask, got]);
                }
              }
            }
          }
          return { tried, accepted };
        }""",
        group_args(),
    )
    assert result["accepted"] == []
    assert result["tried"] == (40 + 16 + 12) * 3


def test_changed_context_or_key_fails(harness: Harness) -> None:
    result = harness.run(
        """async (a) => {
          const { hw, harness } = window;
          const { encKey } = await harness.keysFor(a.secret, a.salt, a.iterations);
          const other = await harness.keysFor(a.secret, a.otherSalt, a.iterations);
          const aad = hw.messageAad(a.groupId, a.senderId);
          const sealed = await hw.seal(encKey, new TextEncoder().encode("hello"), aad);
          const attempts = {
            otherGroup: [encKey, hw.messageAad(a.otherGroupId, a.senderId)],
            otherSender: [encKey, hw.messageAad(a.groupId, a.senderId + 1)],
            nameContext: [encKey, hw.nameAad(a.groupId)],
            noContext: [encKey, new Uint8Array(0)],
            otherKey: [other.encKey, aad],
            sameContextAsText: [encKey, hw.messageAad(a.groupId, String(a.senderId))],
          };
          const out = {};
          for (const [name, [key, context]] of Object.entries(attempts)) {
            out[name] = await harness.outcome(() => hw.open(key, sealed, context));
          }
          return out;
        }""",
        group_args(otherGroupId=OTHER_GROUP_ID, otherSalt=bytes(16).hex()),
    )
    assert result.pop("sameContextAsText") == {"ok": b"hello".hex()}
    assert set(result) == {
        "otherGroup",
        "otherSender",
        "nameContext",
        "noContext",
        "otherKey",
    }
    for name, outcome in result.items():
        assert outcome.get("error", "").startswith("Error: Decryption failed"), name


def test_malformed_sealed_fields_are_refused_before_decryption(
    harness: Harness,
) -> None:
    result = harness.run(
        """async (a) => {
          const { hw, harness } = window;
          const { encKey } = await harness.keysFor(a.secret, a.salt, a.iterations);
          const aad = hw.messageAad(a.groupId, a.senderId);
          const good = await hw.seal(encKey, hw.randomBytes(24), aad);
          const shorten = (field) => hw.b64encode(hw.b64decode(good[field]).slice(1));
          const cases = {
            shortNonce: { ...good, nonce: shorten("nonce") },
            shortTag: { ...good, tag: shorten("tag") },
            truncatedCiphertext: { ...good, ciphertext: shorten("ciphertext") },
            unpaddedTag: { ...good, tag: good.tag.replace(/=+$/, "") },
            missingNonce: { ciphertext: good.ciphertext, tag: good.tag },
            notAnObject: null,
          };
          const out = {};
          for (const [name, sealed] of Object.entries(cases)) {
            out[name] = await harness.outcome(() => hw.open(encKey, sealed, aad));
          }
          return out;
        }""",
        group_args(),
    )
    assert result == {
        "shortNonce": {"error": "Error: A sealed message's nonce must be 12 bytes"},
        "shortTag": {"error": "Error: A sealed message's tag must be 16 bytes"},
        "truncatedCiphertext": {
            "error": "Error: Decryption failed: wrong key, or altered data or context"
        },
        "unpaddedTag": {
            "error": "Error: Invalid base64: expected canonical standard base64 "
            "with padding"
        },
        "missingNonce": {
            "error": "Error: Invalid base64: expected canonical standard base64 "
            "with padding"
        },
        "notAnObject": {"error": "TypeError: A sealed message must be an object"},
    }


WEAK_PARAMETERS = {
    "iterations below minimum": (32, 16, ITERATIONS - 1, "RangeError"),
    "iterations zero": (32, 16, 0, "RangeError"),
    "iterations above maximum": (32, 16, 10_000_001, "RangeError"),
    "iterations fractional": (32, 16, ITERATIONS + 0.5, "TypeError"),
    "iterations as text": (32, 16, "600000", "TypeError"),
    "iterations missing": (32, 16, None, "TypeError"),
    "salt of 15 bytes": (32, 15, ITERATIONS, "RangeError"),
    "empty salt": (32, 0, ITERATIONS, "RangeError"),
    "secret of 15 bytes": (15, 16, ITERATIONS, "RangeError"),
    "empty secret": (0, 16, ITERATIONS, "RangeError"),
}


@pytest.mark.parametrize(
    ("secret_bytes", "salt_bytes", "iterations", "error"),
    WEAK_PARAMETERS.values(),
    ids=WEAK_PARAMETERS.keys(),
)
def test_derive_group_keys_refuses_weak_parameters(
    harness: Harness,
    secret_bytes: int,
    salt_bytes: int,
    iterations: Any,
    error: str,
) -> None:
    result = harness.run(
        """async (a) => window.harness.outcome(() => window.hw.deriveGroupKeys(
          new Uint8Array(a.secretBytes).fill(7), new Uint8Array(a.saltBytes).fill(9),
          a.iterations))""",
        {
            "secretBytes": secret_bytes,
            "saltBytes": salt_bytes,
            "iterations": iterations,
        },
    )
    assert result["error"].split(":")[0] == error


def test_derive_group_keys_accepts_the_weakest_allowed_parameters(
    harness: Harness,
) -> None:
    result = harness.run(
        """async (a) => window.harness.outcome(async () => {
          const keys = await window.hw.deriveGroupKeys(
            new Uint8Array(16).fill(7), new Uint8Array(16).fill(9), a.iterations);
          return keys.memberToken;
        })""",
        {"iterations": ITERATIONS},
    )
    expected = reference.derive_group_keys(bytes([7] * 16), bytes([9] * 16), ITERATIONS)
    assert result == {"ok": expected.member_token.hex()}


def test_keys_are_not_extractable(harness: Harness) -> None:
    result = harness.run(
        """async (a) => {
          const { hw, harness } = window;
          const { encKey } = await harness.keysFor(a.secret, a.salt, a.iterations);
          const imported = await hw.importAesKey(new Uint8Array(32));
          const describe = async (key) => ({
            extractable: key.extractable,
            type: key.type,
            algorithm: { name: key.algorithm.name, length: key.algorithm.length },
            usages: [...key.usages].sort(),
            raw: await harness.outcome(() => crypto.subtle.exportKey("raw", key)),
            jwk: await harness.outcome(() => crypto.subtle.exportKey("jwk", key)),
          });
          return [await describe(encKey), await describe(imported)];
        }""",
        group_args(),
    )
    for key in result:
        assert key["extractable"] is False
        assert key["type"] == "secret"
        assert key["algorithm"] == {"name": "AES-GCM", "length": 256}
        assert key["usages"] == ["decrypt", "encrypt"]
        assert key["raw"]["error"].startswith("InvalidAccessError")
        assert key["jwk"]["error"].startswith("InvalidAccessError")


def test_nonces_never_repeat(harness: Harness) -> None:
    sealed = harness.run(
        """async (a) => {
          const { hw, harness } = window;
          const { encKey } = await harness.keysFor(a.secret, a.salt, a.iterations);
          const aad = hw.messageAad(a.groupId, a.senderId);
          const same = new TextEncoder().encode("the same message every time");
          const out = [];
          for (let i = 0; i < 500; i += 1) {
            out.push(await hw.seal(encKey, same, aad));
          }
          return out;
        }""",
        group_args(),
    )
    assert len(sealed) == 500
    assert len({item["nonce"] for item in sealed}) == 500
    assert len({item["ciphertext"] for item in sealed}) == 500
    assert all(len(base64.b64decode(item["nonce"])) == 12 for item in sealed)


def test_json_documents_round_trip(harness: Harness) -> None:
    message = {
        "v": 1,
        "type": "text",
        "body": 'quotes " and \\ and\nnew lines, Grüße 👋🏽',
        "ts": 1_767_225_600_123,
        "reply": None,
        "tags": ["a", {"nested": True}],
    }
    result = harness.run(
        """async (a) => {
          const { hw, harness } = window;
          const { encKey } = await harness.keysFor(a.secret, a.salt, a.iterations);
          const aad = hw.messageAad(a.groupId, a.senderId);
          const sealed = await hw.encryptJson(encKey, a.message, aad);
          const text = new TextEncoder().encode("{nope");
          const notJson = await hw.seal(encKey, text, aad);
          const badUtf8 = await hw.seal(encKey, harness.fromHex("7bff7d"), aad);
          return {
            back: await hw.decryptJson(encKey, sealed, aad),
            notJson: await harness.outcome(() => hw.decryptJson(encKey, notJson, aad)),
            badUtf8: await harness.outcome(() => hw.decryptJson(encKey, badUtf8, aad)),
            undef: await harness.outcome(() => hw.encryptJson(encKey, undefined, aad)),
          };
        }""",
        group_args(message=message),
    )
    assert result["back"] == message
    assert result["notJson"]["error"].startswith("SyntaxError")
    assert result["badUtf8"]["error"].startswith("TypeError")
    assert result["undef"]["error"].startswith("TypeError")


def test_page_stayed_clean_under_strict_csp(harness: Harness) -> None:
    """No console error and no CSP violation after everything above ran."""
    assert harness.run("() => [...window.harness.violations]") == []
    assert harness.errors == []
