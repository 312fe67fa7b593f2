"""The membership hash chain as pure functions: no database, no Django.

Each event of a group is the JSON document ``{seq, kind, actor, subject,
epoch, at}`` written in one canonical form (docs/protocol.md, "Integrity
chain"), and ``hash = SHA-256(prev_hash || canonical JSON)`` with 32 zero
bytes before the first event. Browsers recompute exactly the same bytes, so
every rule about the form lives here and in static/js/chain.js alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

HASH_BYTES = 32
GENESIS_HASH = bytes(HASH_BYTES)
FIRST_SEQ = 1


class Kind:
    """The lifecycle events a chain records, as stored and hashed."""

    CREATE = "create"
    JOIN = "join"
    LEAVE = "leave"
    REMOVE = "remove"
    OWNER = "owner"
    ROTATE = "rotate"
    # The owner changed how long the group keeps messages; the subject is
    # the number of days now in force, not a user id.
    RETAIN = "retain"

    ALL = (CREATE, JOIN, LEAVE, REMOVE, OWNER, ROTATE, RETAIN)


@dataclass(frozen=True)
class EventFields:
    """The hashed part of one chain event."""

    seq: int
    kind: str
    actor: int | None
    subject: int | None
    epoch: int
    at: datetime


@dataclass(frozen=True)
class StoredEvent:
    """An event as kept: its fields and the two hashes beside them."""

    fields: EventFields
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True)
class Break:
    """One broken link: where the chain stops being what it claims."""

    seq: int
    problem: str


def to_millis(moment: datetime) -> datetime:
    """The same instant in UTC, cut to whole milliseconds.

    The canonical form carries milliseconds only, so the stored time must not
    hold more: a change below a millisecond would otherwise go unnoticed.
    """
    if moment.tzinfo is None:
        raise ValueError("chain times must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)


def format_time(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC, as JavaScript's toISOString."""
    utc = to_millis(moment)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def canonical_json(event: EventFields) -> bytes:
    """The exact bytes that are hashed for an event.

    Keys sorted, no whitespace, ASCII only (every value is a number, null or
    an ASCII string, so no escaping rule is ever exercised), UTF-8 bytes.
    """
    document = {
        "actor": event.actor,
        "at": format_time(event.at),
        "epoch": event.epoch,
        "kind": event.kind,
        "seq": event.seq,
        "subject": event.subject,
    }
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    return text.encode("ascii")


def link_hash(prev_hash: bytes, event: EventFields) -> bytes:
    """``SHA-256(prev_hash || canonical_json(event))``."""
    return hashlib.sha256(prev_hash + canonical_json(event)).digest()


def field_problems(event: EventFields) -> list[str]:
    """What makes an event's fields unfit to hash, if anything."""
    problems = []
    if event.kind not in Kind.ALL:
        problems.append(f"unknown kind {event.kind!r}")
    if event.epoch < 1:
        problems.append(f"epoch {event.epoch} is below 1")
    if event.at.tzinfo is None or to_millis(event.at) != event.at:
        problems.append("time is not a whole millisecond in UTC")
    return problems


def verify(
    events: Iterable[StoredEvent], head: tuple[int, bytes] | None
) -> list[Break]:
    """Every broken link of one group's chain, in sequence order.

    ``events`` must come sorted by their stored ``seq``. Each event is
    checked against its stored predecessor, so one damaged row is reported
    where it is and does not make every later link look broken. ``head`` is
    the ``(seq, hash)`` recorded with the group at the last append; without
    it a missing tail could not be told from a complete chain.
    """
    breaks: list[Break] = []
    expected_seq = FIRST_SEQ
    prev = GENESIS_HASH
    for event in events:
        fields = event.fields
        problems = field_problems(fields)
        if fields.seq != expected_seq:
            problems.append(f"sequence number {fields.seq}, expected {expected_seq}")
        if event.prev_hash != prev:
            problems.append("prev_hash differs from the hash of the event before")
        if link_hash(event.prev_hash, fields) != event.hash:
            problems.append("hash differs from the hash of the stored fields")
        if problems:
            breaks.append(Break(min(fields.seq, expected_seq), "; ".join(problems)))
        expected_seq = fields.seq + 1
        prev = event.hash
    breaks.extend(_head_breaks(expected_seq - 1, prev, head))
    return breaks


def _head_breaks(
    last_seq: int, last_hash: bytes, head: tuple[int, bytes] | None
) -> list[Break]:
    if head is None:
        if last_seq >= FIRST_SEQ:
            return [Break(last_seq, "the group has no recorded head")]
        return []
    head_seq, head_hash = head
    if head_seq > last_seq:
        return [
            Break(
                last_seq + 1,
                f"chain ends at sequence number {last_seq}, "
                f"the recorded head is {head_seq}",
            )
        ]
    if head_seq < last_seq:
        return [
            Break(
                head_seq + 1,
                f"chain goes on to {last_seq} past the recorded head {head_seq}",
            )
        ]
    if head_hash != last_hash:
        return [Break(head_seq, "last hash differs from the recorded head")]
    return []


def head_of(events: Sequence[StoredEvent]) -> tuple[int, bytes]:
    """``(seq, hash)`` of the last event, or ``(0, GENESIS_HASH)`` if none."""
    if not events:
        return FIRST_SEQ - 1, GENESIS_HASH
    return events[-1].fields.seq, events[-1].hash
