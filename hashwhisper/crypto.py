"""Server-side crypto helpers: pure functions, no state.

The server never sees a group secret or key. It only hashes the membership
token a browser derives, and compares such hashes in constant time.
"""

import base64
import binascii
import hashlib
import hmac
import secrets

TOKEN_BYTES = 32


def token_hash(token: bytes) -> bytes:
    """Hash a membership token for storage (BLAKE2b, 32-byte digest)."""
    return hashlib.blake2b(token, digest_size=32).digest()


def token_matches(token: bytes, stored_hash: bytes | memoryview) -> bool:
    return hmac.compare_digest(token_hash(token), bytes(stored_hash))


def random_id(nbytes: int = 16) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).rstrip(b"=").decode()


def b64decode_strict(value: object) -> bytes:
    """Decode standard padded base64, refusing anything else.

    Raises ``ValueError`` for non-strings, stray characters or bad padding.
    """
    if not isinstance(value, str):
        raise ValueError("expected a base64 string")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("invalid base64") from exc


def b64encode(data: bytes | memoryview) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")
