"""Python reference implementation of HashWhisper protocol v1, for tests only.

It is written independently of static/js/crypto.js, on top of
pyca/cryptography, so that a browser result agreeing with it means two
implementations agree with the protocol in docs/protocol.md rather than one
agreeing with itself.

Stable names other suites rely on (the end-to-end "canary scan" among them):

- ``derive_group_keys(secret, salt, iterations) -> GroupKeys`` where
  ``GroupKeys`` is a named tuple ``(enc_key, member_token)`` of raw bytes;
- ``message_aad(group_id, sender_id)`` and ``name_aad(group_id)`` -> bytes;
- ``seal(enc_key, plaintext, aad) -> dict`` with the base64 fields
  ``ciphertext``, ``nonce`` and ``tag``, and ``open_sealed(enc_key, sealed,
  aad) -> bytes`` (named so as not to shadow the built-in ``open``);
- ``encrypt_json`` / ``decrypt_json``, ``passphrase_secret``,
  ``invitation_fragment`` / ``parse_invitation``, ``new_group_id``;
- the primitives ``pbkdf2_sha256``, ``hkdf_sha256``, ``aes_gcm_encrypt`` and
  ``aes_gcm_decrypt`` that the Wycheproof tests exercise.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import unicodedata
from typing import Any, NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

PROTOCOL = "v1"
MIN_ITERATIONS = 120_000
DEFAULT_ITERATIONS = 600_000
MAX_ITERATIONS = 10_000_000
SALT_BYTES = 16
SECRET_BYTES = 32
MIN_SECRET_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
MIN_PASSPHRASE_CHARS = 16
GROUP_ID_BYTES = 16

ENC_INFO = b"HashWhisper:v1:enc"
MEMBER_INFO = b"HashWhisper:v1:member"
HKDF_MAX_BYTES = 255 * 32

_GROUP_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_INVITATION = re.compile(r"v1\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]+)")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class ProtocolError(ValueError):
    """Input that protocol v1 refuses: weak parameters or malformed data."""


class GroupKeys(NamedTuple):
    """Raw key material of one group; the browser never exposes ``enc_key``."""

    enc_key: bytes
    member_token: bytes


def pbkdf2_sha256(password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
    """PBKDF2-HMAC-SHA256 with no protocol limits, for known-answer tests."""
    kdf = PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=length, salt=salt, iterations=iterations
    )
    return kdf.derive(password)


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256; an empty salt stands for 32 zero bytes, as RFC 5869 says.

    Raises ``ValueError`` (from cryptography) when ``length`` exceeds 8160.
    """
    kdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info)
    return kdf.derive(ikm)


def aes_gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-GCM with a 128-bit tag; returns ciphertext followed by the tag."""
    return AESGCM(key).encrypt(nonce, plaintext, aad)


def aes_gcm_decrypt(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Inverse of ``aes_gcm_encrypt``.

    Raises cryptography's ``InvalidTag`` when anything does not match.
    """
    return AESGCM(key).decrypt(nonce, sealed, aad)


def check_group_params(secret: bytes, salt: bytes, iterations: int) -> None:
    """Refuse parameters weaker than protocol v1 allows (as the browser does).

    A bool is an int in Python but never a meaningful iteration count, so it
    is refused like any other non-integer.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise ProtocolError("iterations must be an integer")
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ProtocolError(f"iterations must be {MIN_ITERATIONS} to {MAX_ITERATIONS}")
    if len(salt) < SALT_BYTES:
        raise ProtocolError(f"salt must be at least {SALT_BYTES} bytes")
    if len(secret) < MIN_SECRET_BYTES:
        raise ProtocolError(f"secret must be at least {MIN_SECRET_BYTES} bytes")


def derive_group_keys(secret: bytes, salt: bytes, iterations: int) -> GroupKeys:
    """Derive a group's AES-256-GCM key bytes and membership token.

    ``master = PBKDF2-HMAC-SHA256(secret, salt, iterations, 32)``, then
    HKDF-SHA256 with an empty salt and the info strings ``ENC_INFO`` and
    ``MEMBER_INFO`` gives 32 bytes each.
    """
    check_group_params(secret, salt, iterations)
    master = pbkdf2_sha256(secret, salt, iterations, 32)
    return GroupKeys(
        enc_key=hkdf_sha256(master, b"", ENC_INFO, 32),
        member_token=hkdf_sha256(master, b"", MEMBER_INFO, 32),
    )


def check_group_id(group_id: str) -> None:
    """Accept only 22 base64url characters that encode exactly 16 bytes."""
    if not _GROUP_ID.fullmatch(group_id):
        raise ProtocolError("a group id must be 22 characters of base64url")
    b64url_decode(group_id)


def message_aad(group_id: str, sender_id: int) -> bytes:
    """``HashWhisper:v1|<group_id>|<sender_id>`` in UTF-8."""
    check_group_id(group_id)
    if isinstance(sender_id, bool) or not isinstance(sender_id, int) or sender_id < 1:
        raise ProtocolError("a sender id must be a positive integer")
    return f"HashWhisper:{PROTOCOL}|{group_id}|{sender_id}".encode()


def name_aad(group_id: str) -> bytes:
    """``HashWhisper:v1:name|<group_id>`` in UTF-8."""
    check_group_id(group_id)
    return f"HashWhisper:{PROTOCOL}:name|{group_id}".encode()


def b64encode(data: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict standard base64: alphabet, padding and canonical form checked."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ProtocolError("invalid base64") from error
    if b64encode(data) != text:
        raise ProtocolError("non-canonical base64")
    return data


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes:
    """Strict unpadded base64url, canonical form checked."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ProtocolError("invalid base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:
        raise ProtocolError("non-canonical base64url")
    return data


def seal(
    enc_key: bytes, plaintext: bytes, aad: bytes, nonce: bytes | None = None
) -> dict[str, str]:
    """Encrypt into the server's field layout; a fresh random nonce by default.

    ``nonce`` exists so tests can build deterministic or deliberately reused
    cases; protocol code must leave it out.
    """
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    if len(nonce) != NONCE_BYTES:
        raise ProtocolError(f"a nonce must be {NONCE_BYTES} bytes")
    sealed = aes_gcm_encrypt(enc_key, nonce, plaintext, aad)
    return {
        "ciphertext": b64encode(sealed[:-TAG_BYTES]),
        "nonce": b64encode(nonce),
        "tag": b64encode(sealed[-TAG_BYTES:]),
    }


def open_sealed(enc_key: bytes, sealed: dict[str, str], aad: bytes) -> bytes:
    """Decrypt what ``seal`` (or the browser's ``seal``) produced.

    Raises ``ProtocolError`` on malformed fields and cryptography's
    ``InvalidTag`` when authentication fails.
    """
    nonce = b64decode(sealed["nonce"])
    tag = b64decode(sealed["tag"])
    ciphertext = b64decode(sealed["ciphertext"])
    if len(nonce) != NONCE_BYTES:
        raise ProtocolError(f"a nonce must be {NONCE_BYTES} bytes")
    if len(tag) != TAG_BYTES:
        raise ProtocolError(f"a tag must be {TAG_BYTES} bytes")
    return aes_gcm_decrypt(enc_key, nonce, ciphertext + tag, aad)


def encrypt_json(enc_key: bytes, value: Any, aad: bytes) -> dict[str, str]:
    """Seal the compact UTF-8 JSON text of ``value``."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return seal(enc_key, text.encode(), aad)


def decrypt_json(enc_key: bytes, sealed: dict[str, str], aad: bytes) -> Any:
    """Open a sealed JSON document; bad UTF-8 or JSON raises ``ValueError``."""
    return json.loads(open_sealed(enc_key, sealed, aad).decode("utf-8"))


def passphrase_secret(text: str) -> bytes:
    """UTF-8 of the NFC form; at least 16 code points after normalisation."""
    normalised = unicodedata.normalize("NFC", text)
    if len(normalised) < MIN_PASSPHRASE_CHARS:
        raise ProtocolError(
            f"a passphrase needs at least {MIN_PASSPHRASE_CHARS} characters"
        )
    try:
        return normalised.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ProtocolError("a passphrase must be well-formed text") from error


def new_group_id() -> str:
    """22 characters of base64url for 16 random bytes."""
    return b64url_encode(os.urandom(GROUP_ID_BYTES))


def invitation_fragment(group_id: str, secret: bytes) -> str:
    """``v1.<group_id>.<secret as unpadded base64url>``."""
    check_group_id(group_id)
    if len(secret) < MIN_SECRET_BYTES:
        raise ProtocolError(f"secret must be at least {MIN_SECRET_BYTES} bytes")
    return f"{PROTOCOL}.{group_id}.{b64url_encode(secret)}"


def parse_invitation(text: str) -> tuple[str, bytes]:
    """Return ``(group_id, secret)`` from a link or a bare fragment.

    Everything after the first ``#`` (else after ``%23``) is the fragment;
    text with neither is taken as the fragment itself.
    """
    text = text.strip()
    for marker in ("#", "%23"):
        if marker in text:
            text = text.split(marker, 1)[1]
            break
    match = _INVITATION.fullmatch(text)
    if match is None:
        raise ProtocolError("malformed invitation")
    group_id, secret_text = match.groups()
    check_group_id(group_id)
    secret = b64url_decode(secret_text)
    if len(secret) < MIN_SECRET_BYTES:
        raise ProtocolError("the invitation's secret is too short")
    return group_id, secret
