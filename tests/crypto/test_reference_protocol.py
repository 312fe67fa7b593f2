"""The Python reference implements protocol v1 as docs/protocol.md states it.

Its derivation is checked against a third, textbook implementation written
here with ``hashlib`` and ``hmac`` only, and pinned to fixed outputs: a change
to them would lock every existing group out of its history.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import reference

GROUP_ID = "AAECAwQFBgcICQoLDA0ODw"
ITERATIONS = reference.MIN_ITERATIONS


def textbook_group_keys(secret: bytes, salt: bytes, iterations: int) -> tuple[str, str]:
    """PBKDF2 (RFC 8018), then one-block HKDF (RFC 5869), from the stdlib."""
    master = hashlib.pbkdf2_hmac("sha256", secret, salt, iterations, 32)
    prk = hmac.new(bytes(32), master, "sha256").digest()
    enc = hmac.new(prk, b"HashWhisper:v1:enc\x01", "sha256").hexdigest()
    member = hmac.new(prk, b"HashWhisper:v1:member\x01", "sha256").hexdigest()
    return enc, member


@settings(max_examples=4, deadline=None, database=None)
@given(secret=st.binary(min_size=16, max_size=80), salt=st.binary(min_size=16))
def test_derivation_matches_textbook_construction(secret: bytes, salt: bytes) -> None:
    keys = reference.derive_group_keys(secret, salt, ITERATIONS)
    assert (keys.enc_key.hex(), keys.member_token.hex()) == textbook_group_keys(
        secret, salt, ITERATIONS
    )
    assert keys.enc_key != keys.member_token


def test_derivation_is_pinned() -> None:
    keys = reference.derive_group_keys(
        bytes(range(0xA0, 0xC0)),
        bytes.fromhex("5eed5a1700112233445566778899aabb"),
        ITERATIONS,
    )
    assert keys.enc_key.hex() == (
        "ca9fae258c16aec9c8d1bd12478cdb9bc3989e316fe2c7eac294905e103d1c18"
    )
    assert keys.member_token.hex() == (
        "391b46973571a9a78e6849f88b67e5a7e4ec14aaad592aa5a08c0617ffad9dbc"
    )


WEAK = {
    "iterations below minimum": (bytes(32), bytes(16), ITERATIONS - 1),
    "iterations above maximum": (bytes(32), bytes(16), reference.MAX_ITERATIONS + 1),
    "iterations as bool": (bytes(32), bytes(16), True),
    "iterations as float": (bytes(32), bytes(16), float(ITERATIONS)),
    "short salt": (bytes(32), bytes(15), ITERATIONS),
    "short secret": (bytes(15), bytes(16), ITERATIONS),
}


@pytest.mark.parametrize(
    ("secret", "salt", "iterations"), WEAK.values(), ids=WEAK.keys()
)
def test_weak_parameters_are_refused(
    secret: bytes, salt: bytes, iterations: int
) -> None:
    with pytest.raises(reference.ProtocolError):
        reference.derive_group_keys(secret, salt, iterations)


KEY = bytes(range(32))


@settings(max_examples=100, deadline=None, database=None)
@given(payload=st.binary(max_size=2048), sender=st.integers(1, 2**53))
def test_seal_round_trips(payload: bytes, sender: int) -> None:
    aad = reference.message_aad(GROUP_ID, sender)
    sealed = reference.seal(KEY, payload, aad)
    assert set(sealed) == {"ciphertext", "nonce", "tag"}
    assert reference.open_sealed(KEY, sealed, aad) == payload


def test_any_flipped_byte_fails() -> None:
    aad = reference.message_aad(GROUP_ID, 1)
    sealed = reference.seal(KEY, b"attack at dawn, bring snacks", aad)
    tried = 0
    for field in ("ciphertext", "tag", "nonce"):
        raw = reference.b64decode(sealed[field])
        for index in range(len(raw)):
            changed = bytearray(raw)
            changed[index] ^= 0x01
            forged = {**sealed, field: reference.b64encode(bytes(changed))}
            with pytest.raises(InvalidTag):
                reference.open_sealed(KEY, forged, aad)
            tried += 1
    assert tried == 28 + 16 + 12


def test_other_context_fails() -> None:
    sealed = reference.seal(KEY, b"hello", reference.message_aad(GROUP_ID, 1))
    for aad in (
        reference.message_aad(GROUP_ID, 2),
        reference.message_aad("_-_-_-_-_-_-_-_-_-_-_w", 1),
        reference.name_aad(GROUP_ID),
        b"",
    ):
        with pytest.raises(InvalidTag):
            reference.open_sealed(KEY, sealed, aad)


def test_aad_strings() -> None:
    assert reference.message_aad(GROUP_ID, 42) == (
        b"HashWhisper:v1|AAECAwQFBgcICQoLDA0ODw|42"
    )
    assert reference.name_aad(GROUP_ID) == b"HashWhisper:v1:name|AAECAwQFBgcICQoLDA0ODw"
    for group_id, sender in ((GROUP_ID, 0), (GROUP_ID, -3), ("short", 1)):
        with pytest.raises(reference.ProtocolError):
            reference.message_aad(group_id, sender)


def test_open_checks_field_lengths_and_encoding() -> None:
    aad = reference.message_aad(GROUP_ID, 1)
    sealed = reference.seal(KEY, b"x", aad)
    for forged in (
        {**sealed, "nonce": reference.b64encode(bytes(11))},
        {**sealed, "tag": reference.b64encode(bytes(15))},
        {**sealed, "tag": sealed["tag"].rstrip("=")},
        {**sealed, "ciphertext": sealed["ciphertext"] + "\n"},
    ):
        with pytest.raises(reference.ProtocolError):
            reference.open_sealed(KEY, forged, aad)


def test_json_round_trip_keeps_unicode() -> None:
    message = {"v": 1, "type": "text", "body": "Grüße, 世界 👋🏽", "ts": 1}
    aad = reference.message_aad(GROUP_ID, 1)
    sealed = reference.encrypt_json(KEY, message, aad)
    assert reference.decrypt_json(KEY, sealed, aad) == message


def test_invitations() -> None:
    secret = bytes(range(32))
    fragment = reference.invitation_fragment(GROUP_ID, secret)
    assert fragment == f"v1.{GROUP_ID}.{reference.b64url_encode(secret)}"
    for text in (
        fragment,
        f"https://h/g/join#{fragment}",
        f"https://h/g/join%23{fragment}",
    ):
        assert reference.parse_invitation(text) == (GROUP_ID, secret)
    for bad in (
        "",
        "https://h/g/join",
        f"v2.{GROUP_ID}.AAAA",
        f"{fragment}=",
        "v1.x.y",
    ):
        with pytest.raises(reference.ProtocolError):
            reference.parse_invitation(bad)


def test_passphrase_secret() -> None:
    assert reference.passphrase_secret("e\u0301" * 16) == ("é" * 16).encode()
    with pytest.raises(reference.ProtocolError):
        reference.passphrase_secret("e\u0301" * 15)
    with pytest.raises(reference.ProtocolError):
        reference.passphrase_secret("abcdefghijklmnop\ud800")


def test_group_ids_are_canonical() -> None:
    group_id = reference.new_group_id()
    assert len(group_id) == 22
    reference.check_group_id(group_id)
    with pytest.raises(reference.ProtocolError):
        reference.check_group_id(GROUP_ID[:-1] + "x")
