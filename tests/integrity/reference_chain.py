"""A second, deliberately separate reading of the chain and the safety number.

Nothing here imports integrity/: the chain is checked from the API's JSON
with hashlib and json alone, and the safety number is derived with
pyca/cryptography's HKDF, so agreement with the server and with Chromium
means three implementations read docs/protocol.md the same way.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from tests.support import reference

TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
KEYS = ("actor", "at", "epoch", "kind", "seq", "subject")


class ChainInvalid(AssertionError):
    """The chain JSON does not verify."""


def canonical(event: dict[str, Any]) -> bytes:
    if not TIME.fullmatch(event["at"]):
        raise ChainInvalid(f"bad time {event['at']!r}")
    document = {key: event[key] for key in KEYS}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return text.encode("ascii")


def verified_head(chain: dict[str, Any]) -> tuple[int, str]:
    """``(seq, hash hex)`` of a chain that verifies; raise otherwise."""
    prev = bytes(32)
    for number, event in enumerate(chain["events"], start=1):
        if event["seq"] != number:
            raise ChainInvalid(f"event {number} has seq {event['seq']}")
        if bytes.fromhex(event["prev_hash"]) != prev:
            raise ChainInvalid(f"event {number} does not follow")
        digest = hashlib.sha256(prev + canonical(event)).digest()
        if digest.hex() != event["hash"]:
            raise ChainInvalid(f"event {number} hash differs")
        prev = digest
    head = (len(chain["events"]), prev.hex())
    if (chain["head"]["seq"], chain["head"]["hash"]) != head:
        raise ChainInvalid("head differs")
    return head


def safety_number(
    secret: bytes, salt: bytes, iterations: int, group_id: str, head: bytes
) -> str:
    """The twelve-digit group safety number, as docs/protocol.md defines it."""
    master = reference.pbkdf2_sha256(secret, salt, iterations, 32)
    prk = reference.hkdf_sha256(master, b"", b"HashWhisper:v1:safety", 32)
    info = f"HashWhisper:v1:safety-number|{group_id}|".encode() + head
    okm = HKDFExpand(algorithm=hashes.SHA256(), length=12, info=info).derive(prk)
    return " ".join(f"{word % 10000:04d}" for word in struct.unpack(">III", okm))
