"""The browser module and the Python reference speak the same protocol.

Keys derived in Chromium open what Python sealed and the other way round,
tokens and AAD bytes agree, and invitations written by one side are read by
the other. Iterations stay at the protocol minimum (120 000) to keep it fast.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from tests.crypto.conftest import Harness
from tests.support import reference

pytestmark = pytest.mark.browser

SECRET = bytes(range(0xA0, 0xC0))
SALT = bytes.fromhex("5eed5a1700112233445566778899aabb")
ITERATIONS = reference.MIN_ITERATIONS
GROUP_ID = "AAECAwQFBgcICQoLDA0ODw"
SENDER_ID = 42
TEXT = "Grüße, 世界 👋🏽"
MESSAGE = {"v": 1, "type": "text", "body": TEXT, "ts": 1_767_225_600_000}

BROWSER_SEAL_JSON = """async (a) => {
  const { hw, harness } = window;
  const keys = await hw.deriveGroupKeys(
    harness.fromHex(a.secret), harness.fromHex(a.salt), a.iterations);
  const sealed = await hw.encryptJson(
    keys.encKey, a.message, hw.messageAad(a.groupId, a.senderId));
  return { token: harness.toHex(keys.memberToken), sealed };
}"""

BROWSER_OPEN_JSON = """async (a) => {
  const { hw, harness } = window;
  const { encKey } = await hw.deriveGroupKeys(
    harness.fromHex(a.secret), harness.fromHex(a.salt), a.iterations);
  return harness.outcome(() =>
    hw.decryptJson(encKey, a.sealed, hw.messageAad(a.groupId, a.senderId)));
}"""


def group_args(**extra: Any) -> dict[str, Any]:
    """Arguments for the page scripts: the fixed group, plus ``extra``."""
    return {
        "secret": SECRET.hex(),
        "salt": SALT.hex(),
        "iterations": ITERATIONS,
        "groupId": GROUP_ID,
        "senderId": SENDER_ID,
        **extra,
    }


def test_member_token_is_the_same_on_both_sides(harness: Harness) -> None:
    browser = harness.run(BROWSER_SEAL_JSON, group_args(message=MESSAGE))
    expected = reference.derive_group_keys(SECRET, SALT, ITERATIONS).member_token
    assert browser["token"] == expected.hex()
    assert len(expected) == 32


def test_browser_sealed_message_opens_in_python(harness: Harness) -> None:
    sealed = harness.run(BROWSER_SEAL_JSON, group_args(message=MESSAGE))["sealed"]
    keys = reference.derive_group_keys(SECRET, SALT, ITERATIONS)
    aad = reference.message_aad(GROUP_ID, SENDER_ID)

    assert reference.decrypt_json(keys.enc_key, sealed, aad) == MESSAGE
    assert TEXT in reference.open_sealed(keys.enc_key, sealed, aad).decode("utf-8")
    with pytest.raises(InvalidTag):
        reference.open_sealed(keys.enc_key, sealed, reference.message_aad(GROUP_ID, 43))


def test_python_sealed_message_opens_in_browser(harness: Harness) -> None:
    keys = reference.derive_group_keys(SECRET, SALT, ITERATIONS)
    sealed = reference.encrypt_json(
        keys.enc_key, MESSAGE, reference.message_aad(GROUP_ID, SENDER_ID)
    )

    opened = harness.run(BROWSER_OPEN_JSON, group_args(sealed=sealed))
    assert opened == {"ok": MESSAGE}
    moved = harness.run(BROWSER_OPEN_JSON, group_args(sealed=sealed, senderId=7))
    assert moved["error"].startswith("Error: Decryption failed")


def test_group_name_sealed_in_python_opens_in_browser(harness: Harness) -> None:
    keys = reference.derive_group_keys(SECRET, SALT, ITERATIONS)
    name = "Familie Müller 🏡"
    sealed = reference.seal(keys.enc_key, name.encode(), reference.name_aad(GROUP_ID))
    opened = harness.run(
        """async (a) => {
          const { hw, harness } = window;
          const { encKey } = await hw.deriveGroupKeys(
            harness.fromHex(a.secret), harness.fromHex(a.salt), a.iterations);
          const bytes = await hw.open(encKey, a.sealed, hw.nameAad(a.groupId));
          return new TextDecoder().decode(bytes);
        }""",
        group_args(sealed=sealed),
    )
    assert opened == name


def test_aad_bytes_agree(harness: Harness) -> None:
    browser = harness.run(
        """async (a) => ({
          message: window.harness.toHex(window.hw.messageAad(a.groupId, a.senderId)),
          name: window.harness.toHex(window.hw.nameAad(a.groupId)),
        })""",
        group_args(),
    )
    assert bytes.fromhex(browser["message"]) == b"HashWhisper:v1|%s|42" % (
        GROUP_ID.encode()
    )
    assert browser["message"] == reference.message_aad(GROUP_ID, SENDER_ID).hex()
    assert browser["name"] == reference.name_aad(GROUP_ID).hex()


def test_passphrase_secret_agrees_with_reference(harness: Harness) -> None:
    passphrase = "Grüße aus dem Süden, 世界 👋🏽"
    # The same text with decomposed umlauts must give the same secret (NFC).
    decomposed = passphrase.replace("ü", "u\u0308")
    browser = harness.run(
        """async (a) => {
          const { hw, harness } = window;
          const secrets = a.texts.map((text) => hw.passphraseSecret(text));
          const { memberToken } = await hw.deriveGroupKeys(
            secrets[0], harness.fromHex(a.salt), a.iterations);
          const token = harness.toHex(memberToken);
          return { secrets: secrets.map(harness.toHex), token };
        }""",
        group_args(texts=[passphrase, decomposed]),
    )
    expected = reference.passphrase_secret(passphrase)
    assert browser["secrets"] == [expected.hex(), expected.hex()]
    token = reference.derive_group_keys(expected, SALT, ITERATIONS).member_token
    assert browser["token"] == token.hex()


def test_invitations_cross_between_implementations(harness: Harness) -> None:
    passphrase = reference.passphrase_secret("ein sehr geheimer Satz ✓")
    browser = harness.run(
        """async (a) => {
          const { hw, harness } = window;
          const parsed = hw.parseInvitation(a.pythonLink);
          return {
            fragment: hw.invitationFragment(a.groupId, harness.fromHex(a.secret)),
            parsed: { groupId: parsed.groupId, secret: harness.toHex(parsed.secret) },
          };
        }""",
        group_args(
            pythonLink="https://chat.example/g/join#"
            + reference.invitation_fragment(GROUP_ID, passphrase)
        ),
    )
    assert reference.parse_invitation(browser["fragment"]) == (GROUP_ID, SECRET)
    assert browser["parsed"] == {"groupId": GROUP_ID, "secret": passphrase.hex()}


def test_binary_payloads_cross_both_ways(harness: Harness) -> None:
    keys = reference.derive_group_keys(SECRET, SALT, ITERATIONS)
    aad = reference.message_aad(GROUP_ID, SENDER_ID)
    payload = bytes(range(256)) * 5
    from_python = reference.seal(keys.enc_key, payload, aad)
    browser = harness.run(
        """async (a) => {
          const { hw, harness } = window;
          const { encKey } = await hw.deriveGroupKeys(
            harness.fromHex(a.secret), harness.fromHex(a.salt), a.iterations);
          const aad = hw.messageAad(a.groupId, a.senderId);
          const opened = await hw.open(encKey, a.fromPython, aad);
          const sealed = await hw.seal(encKey, harness.fromHex(a.payload), aad);
          return { opened: harness.toHex(opened), sealed };
        }""",
        group_args(fromPython=from_python, payload=payload.hex()),
    )
    assert browser["opened"] == payload.hex()
    assert reference.open_sealed(keys.enc_key, browser["sealed"], aad) == payload
