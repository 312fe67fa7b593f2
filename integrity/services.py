"""Appending to and checking the membership chains.

``record`` is the only writer of chain rows. Group services call it inside
the transaction that changes the membership, after locking the group row, so
an event commits exactly when its change does and two appends to one group
can never take the same sequence number.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from groups.models import Group
from integrity.chain import (
    FIRST_SEQ,
    GENESIS_HASH,
    Break,
    EventFields,
    StoredEvent,
    link_hash,
    to_millis,
    verify,
)
from integrity.models import ChainEvent, ChainHead

security_log = logging.getLogger("hashwhisper.security")


def lock_group(group_id: str) -> Group:
    """Re-read a group under a row lock held until the transaction ends.

    PostgreSQL queues every other locker of the row behind this one. SQLite
    ignores the lock, but its IMMEDIATE transactions (see the settings)
    already let one writer in at a time.
    """
    return Group.objects.select_for_update().get(pk=group_id)


def _user_id(user: User | int | None) -> int | None:
    if user is None or isinstance(user, int):
        return user
    return int(user.pk)


def record(
    group: Group, kind: str, actor: User | int | None, subject: User | int | None
) -> ChainEvent:
    """Append one event to the group's chain, in the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record() must run inside the membership change")
    locked = lock_group(group.pk)
    last = ChainEvent.objects.filter(group_id=group.pk).order_by("-seq").first()
    seq = last.seq + 1 if last else FIRST_SEQ
    prev_hash = bytes(last.hash) if last else GENESIS_HASH
    fields = EventFields(
        seq=seq,
        kind=kind,
        actor=_user_id(actor),
        subject=_user_id(subject),
        epoch=locked.epoch,
        at=to_millis(timezone.now()),
    )
    digest = link_hash(prev_hash, fields)
    event = ChainEvent.objects.create(
        group_id=group.pk,
        seq=fields.seq,
        kind=fields.kind,
        actor=fields.actor,
        subject=fields.subject,
        epoch=fields.epoch,
        at=fields.at,
        prev_hash=prev_hash,
        hash=digest,
    )
    ChainHead.objects.update_or_create(
        group_id=group.pk, defaults={"seq": seq, "hash": digest}
    )
    return event


def as_stored(event: ChainEvent) -> StoredEvent:
    return StoredEvent(
        fields=EventFields(
            seq=event.seq,
            kind=event.kind,
            actor=event.actor,
            subject=event.subject,
            epoch=event.epoch,
            at=event.at,
        ),
        prev_hash=bytes(event.prev_hash),
        hash=bytes(event.hash),
    )


def chain_of(group_id: str) -> list[ChainEvent]:
    return list(ChainEvent.objects.filter(group_id=group_id).order_by("seq", "pk"))


def recorded_head(group_id: str) -> tuple[int, bytes] | None:
    head = ChainHead.objects.filter(group_id=group_id).first()
    return None if head is None else (head.seq, bytes(head.hash))


def verify_group(group_id: str) -> list[Break]:
    events = [as_stored(event) for event in chain_of(group_id)]
    return verify(events, recorded_head(group_id))


@dataclass(frozen=True)
class GroupReport:
    group_id: str
    events: int
    breaks: list[Break]


def verify_groups(group_id: str | None = None) -> Iterator[GroupReport]:
    """Recompute the chain of one group, or of every group, one at a time.

    Every break found is logged on the security logger: a chain that stops
    verifying means someone rewrote history or the storage is damaged.
    """
    groups = Group.objects.order_by("created_at", "pk").values_list("pk", flat=True)
    if group_id is not None:
        groups = groups.filter(pk=group_id)
    for pk in groups.iterator():
        events = [as_stored(event) for event in chain_of(pk)]
        breaks = verify(events, recorded_head(pk))
        for item in breaks:
            security_log.warning("broken chain group=%s seq=%s", pk, item.seq)
        yield GroupReport(pk, len(events), breaks)


def chain_status(group_id: str) -> str:
    """One line for operators: verified, or where the first break is."""
    breaks = verify_group(group_id)
    if breaks:
        return f"broken at #{breaks[0].seq}"
    count = ChainEvent.objects.filter(group_id=group_id).count()
    return f"verified ({count} events)"
