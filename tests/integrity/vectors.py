"""A worked example of the chain, written out by hand.

The canonical JSON lines are literal text and the hashes were computed from
them with hashlib alone, so they pin the format independently of
integrity/chain.py and of static/js/chain.js; docs/protocol.md shows the same
example.
"""

from __future__ import annotations

from datetime import UTC, datetime

from integrity.chain import EventFields

EXAMPLE = [
    (
        EventFields(1, "create", 7, 7, 1, datetime(2026, 1, 2, 3, 4, 5, 678000, UTC)),
        '{"actor":7,"at":"2026-01-02T03:04:05.678Z","epoch":1,"kind":"create",'
        '"seq":1,"subject":7}',
        "2a0542e440fe86637ebca2d6c79f7b06b1db8512a5be51df7f8a40b6bae7a585",
    ),
    (
        EventFields(2, "join", 7, 9, 1, datetime(2026, 1, 2, 3, 5, 0, 0, UTC)),
        '{"actor":7,"at":"2026-01-02T03:05:00.000Z","epoch":1,"kind":"join",'
        '"seq":2,"subject":9}',
        "7053c0361c54de3557ad48d9b24d6f1eab4e178ee0d9f6e62ea7e779a6ae1e2c",
    ),
    (
        EventFields(3, "rotate", 7, None, 2, datetime(2026, 1, 2, 3, 6, 0, 1000, UTC)),
        '{"actor":7,"at":"2026-01-02T03:06:00.001Z","epoch":2,"kind":"rotate",'
        '"seq":3,"subject":null}',
        "aa7ee22b036a100fe095df0838497e5d074a7e3c44129776c7cb870245dd9d68",
    ),
]


def example_api_events() -> list[dict[str, object]]:
    """The example as GET /api/groups/<id>/chain lists it."""
    events = []
    prev = "00" * 32
    for fields, canonical, digest in EXAMPLE:
        at = canonical.split('"at":"', 1)[1].split('"', 1)[0]
        events.append(
            {
                "seq": fields.seq,
                "kind": fields.kind,
                "actor": fields.actor,
                "subject": fields.subject,
                "epoch": fields.epoch,
                "at": at,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return events
