"""Python reference of the encrypted file format (docs/media.md).

An independent implementation with pyca/cryptography, used to make valid
uploads for server tests and to check what the browser wrote:

    header = "HWBL" | version 1 | uint32_be(chunk size) | 7-byte nonce prefix
    chunk i = AES-256-GCM(key, prefix | uint32_be(i) | last, plaintext_i, aad)
    aad     = "HashWhisper:v1:blob|<group id>|<sender id>|<blob id>"
"""

from __future__ import annotations

import math
import secrets
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"HWBL"
VERSION = 1
HEADER_BYTES = 16
PREFIX_BYTES = 7
TAG_BYTES = 16
DEFAULT_CHUNK = 1 << 20


class BlobFormatError(ValueError):
    """The bytes are not a well-formed encrypted file."""


def blob_aad(group_id: str, sender_id: int, blob_id: str) -> bytes:
    return f"HashWhisper:v1:blob|{group_id}|{sender_id}|{blob_id}".encode()


def chunk_count(plain_size: int, chunk: int) -> int:
    return max(1, math.ceil(plain_size / chunk))


def ciphertext_size(plain_size: int, chunk: int = DEFAULT_CHUNK) -> int:
    return HEADER_BYTES + plain_size + TAG_BYTES * chunk_count(plain_size, chunk)


def chunk_nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


def header(chunk: int, prefix: bytes) -> bytes:
    return MAGIC + bytes([VERSION]) + struct.pack(">I", chunk) + prefix


def encrypt(
    key: bytes,
    plaintext: bytes,
    aad: bytes,
    chunk: int = DEFAULT_CHUNK,
    prefix: bytes | None = None,
) -> bytes:
    prefix = prefix if prefix is not None else secrets.token_bytes(PREFIX_BYTES)
    aead = AESGCM(key)
    count = chunk_count(len(plaintext), chunk)
    parts = [header(chunk, prefix)]
    for index in range(count):
        piece = plaintext[index * chunk : (index + 1) * chunk]
        nonce = chunk_nonce(prefix, index, index == count - 1)
        parts.append(aead.encrypt(nonce, piece, aad))
    return b"".join(parts)


def split(blob: bytes) -> tuple[int, bytes, list[bytes]]:
    """Header fields and the list of sealed chunks (ciphertext and tag)."""
    if len(blob) < HEADER_BYTES + TAG_BYTES or blob[:4] != MAGIC:
        raise BlobFormatError("not an encrypted file")
    if blob[4] != VERSION:
        raise BlobFormatError("unknown version")
    (chunk,) = struct.unpack(">I", blob[5:9])
    prefix = blob[9:HEADER_BYTES]
    body = blob[HEADER_BYTES:]
    step = chunk + TAG_BYTES
    return chunk, prefix, [body[i : i + step] for i in range(0, len(body), step)]


def decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Plaintext, or ``InvalidTag``/``BlobFormatError`` on any change."""
    _chunk, prefix, sealed = split(blob)
    aead = AESGCM(key)
    out = []
    for index, piece in enumerate(sealed):
        if len(piece) < TAG_BYTES:
            raise BlobFormatError("truncated chunk")
        last = index == len(sealed) - 1
        out.append(aead.decrypt(chunk_nonce(prefix, index, last), piece, aad))
    return b"".join(out)
