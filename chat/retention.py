"""Retention: when content expires, and the purge that removes it.

Every message (and every blob, which expires with its message) carries an
``expires_at``. Readers filter on it, so expired content disappears from every
API at the moment it expires, whether or not a purge has run. The purge then
removes rows and files in small batches, so its memory stays flat however much
has expired, and it can run beside the chat and beside another purge.

Two purges never delete or count the same row twice: on PostgreSQL each batch
takes its rows with ``FOR UPDATE SKIP LOCKED`` (a second purge skips rows the
first holds), and on SQLite every write transaction is ``IMMEDIATE``, so
batches run one after another. Counts come from what each ``DELETE`` really
removed, never from what was selected.
"""

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.utils import timezone
from django_eventstream.models import Event as StoredEvent

from accounts.models import User
from accounts.session_tracking import forget_stale_sessions
from chat.models import Message
from chat.realtime.storage import purge_event_backlog
from groups.models import Group
from integrity.chain import Kind
from integrity.services import record
from media_vault import storage as blob_files
from media_vault.models import ORPHAN_SECONDS, Blob
from media_vault.services import expired_blobs, purge_blobs

log = logging.getLogger("hashwhisper.retention")

DEFAULT_BATCH_SIZE = 1000


class RetentionRefused(ValueError):
    """A retention outside what the server allows."""


def server_retention_days() -> int:
    return int(settings.HASHWHISPER_RETENTION_DAYS)


def retention_days(group: Group) -> int:
    """The lifetime of new content in ``group``, in days.

    A group may only shorten the server's retention; if the operator later
    lowers the server's value below the group's, the lower one wins.
    """
    default = server_retention_days()
    chosen = group.retention_days
    return default if chosen is None else min(chosen, default)


def expiry_for(group: Group, now: datetime | None = None) -> datetime:
    """When content stored in ``group`` at ``now`` expires."""
    start = now or timezone.now()
    return start + timedelta(days=retention_days(group))


def visible_messages(now: datetime | None = None) -> QuerySet[Message]:
    """Messages that have not expired: the base of every read."""
    return Message.objects.filter(expires_at__gt=now or timezone.now())


def set_group_retention(group: Group, days: int | None, *, actor: User) -> Group:
    """Store the owner's choice and shorten what the group already holds.

    ``None`` returns the group to the server's default. Content already
    stored never lives longer than the new choice allows: a shorter value
    moves existing expiry times forward in the same transaction, while a
    longer one only applies to what is stored from now on.
    """
    default = server_retention_days()
    if days is not None and not 1 <= days <= default:
        raise RetentionRefused(f"Choose between 1 and {default} days.")
    with transaction.atomic():
        locked = Group.objects.select_for_update().get(pk=group.pk)
        locked.retention_days = days
        locked.save(update_fields=["retention_days"])
        lifetime = timedelta(days=retention_days(locked))
        shortened = Message.objects.filter(
            group=locked, expires_at__gt=F("created_at") + lifetime
        ).update(expires_at=F("created_at") + lifetime)
        # A blob expires with its message; orphans keep their short hour.
        message_expiry = Message.objects.filter(pk=OuterRef("message_id"))
        Blob.objects.filter(message__group=locked).update(
            expires_at=Subquery(message_expiry.values("expires_at")[:1])
        )
        # Members see in the verified history how long the group keeps
        # messages, so the owner cannot change it unnoticed.
        record(locked, Kind.RETAIN, actor, retention_days(locked))
    log.info(
        "group retention set group=%s user_id=%s days=%s shortened=%s",
        group.pk,
        actor.pk,
        days if days is not None else "default",
        shortened,
    )
    return locked


# Purge ---------------------------------------------------------------------


@dataclass
class PurgeCounts:
    """What one purge removed (or, in a dry run, would remove)."""

    messages: int = 0
    blobs: int = 0
    files: int = 0
    events: int = 0
    sessions: int = 0

    def add(self, other: "PurgeCounts") -> None:
        for field in fields(self):
            setattr(
                self, field.name, getattr(self, field.name) + getattr(other, field.name)
            )

    def as_dict(self) -> dict[str, int]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


def expired_messages(now: datetime) -> QuerySet[Message]:
    return Message.objects.filter(expires_at__lte=now)


def take_batch(rows: QuerySet[Any], batch_size: int) -> list[Any]:
    """Lock and return the ids of up to ``batch_size`` of ``rows``.

    Rows another transaction holds are skipped rather than waited for, so a
    second purge moves on to other rows instead of deleting the same ones.
    """
    return list(
        rows.order_by("pk")
        .select_for_update(skip_locked=True)
        .values_list("pk", flat=True)[:batch_size]
    )


def delete_message_batch(rows: QuerySet[Message], batch_size: int) -> int:
    """Delete up to ``batch_size`` of ``rows``; return how many went.

    The rows go in one ``DELETE`` without being loaded. Deleting through the
    ORM would load every row and run media_vault's ``pre_delete`` receiver
    once per message (one ``UPDATE`` each), which made a purge of a million
    messages take a quarter of an hour; that receiver's work, expiring the
    blobs of deleted messages, is done here for the whole batch at once.
    tests/retention/test_purge.py fails if another dependent of messages
    (a relation or a delete receiver) appears that this would skip.
    """
    with transaction.atomic():
        ids = take_batch(rows, batch_size)
        if not ids:
            return 0
        Blob.objects.filter(message_id__in=ids).update(
            message=None, expires_at=timezone.now()
        )
        return Message.objects.filter(id__in=ids)._raw_delete(Message.objects.db)


def delete_blob_batch(rows: QuerySet[Blob], batch_size: int) -> int:
    """Delete up to ``batch_size`` of ``rows``; media_vault shreds their
    files as the batch commits."""
    with transaction.atomic():
        ids = take_batch(rows, batch_size)
        if not ids:
            return 0
        return purge_blobs(Blob.objects.filter(id__in=ids))


def drain(step: Callable[[Any, int], int], rows: QuerySet[Any], batch_size: int) -> int:
    """Run one batch step until it finds nothing more; sum what it removed."""
    total = 0
    while True:
        removed = step(rows, batch_size)
        total += removed
        if removed == 0:
            return total


def delete_group(group_id: str, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
    """Delete a group with all it holds, shredding its files.

    Its blobs and messages go first, in batches, so that a group of millions
    of messages never sits in memory at once; the group row and what is left
    (memberships, chain, markers, anything stored during the deletion) then
    go in one cascade.
    """
    blobs = drain(delete_blob_batch, Blob.objects.filter(group_id=group_id), batch_size)
    messages = drain(
        delete_message_batch, Message.objects.filter(group_id=group_id), batch_size
    )
    with transaction.atomic():
        # The group's lock before the cascade reads what refers to it: a
        # post takes the same lock, so none can store a message the cascade
        # has not seen (the deletion would then fail on its foreign key).
        # A post waiting for the lock finds no group afterwards.
        locked = Group.objects.select_for_update().filter(pk=group_id)
        if locked.exists():
            locked.delete()
    log.info("group deleted group=%s messages=%s blobs=%s", group_id, messages, blobs)


# Files without a row -------------------------------------------------------


def stored_files(min_age_seconds: float) -> Iterator[str]:
    """Storage names of blob files older than ``min_age_seconds``.

    The folder is read lazily, shard by shard, so memory does not grow with
    the number of files. Young files are left alone: an upload renames its
    file into place a moment before its row names it.
    """
    store = blob_files.object_store()
    if store is not None:
        yield from _stored_objects(store, min_age_seconds)
        return
    root = blob_files.root()
    cutoff = time.time() - min_age_seconds
    for first in _subfolders(root):
        for second in _subfolders(root / first):
            folder = root / first / second
            with os.scandir(folder) as entries:
                for entry in entries:
                    name = f"{first}/{second}/{entry.name}"
                    if _is_storage_name(name) and _older_than(entry, cutoff):
                        yield name


def _stored_objects(store: Storage, min_age_seconds: float) -> Iterator[str]:
    """The same walk over an object store, shard by shard."""
    cutoff = timezone.now() - timedelta(seconds=min_age_seconds)
    firsts, _ = store.listdir("")
    for first in sorted(d for d in firsts if len(d) == 2):
        seconds, _ = store.listdir(first)
        for second in sorted(d for d in seconds if len(d) == 2):
            _, files = store.listdir(f"{first}/{second}")
            for file_name in files:
                name = f"{first}/{second}/{file_name}"
                if _is_storage_name(name) and store.get_modified_time(name) < cutoff:
                    yield name


def _subfolders(folder: "os.PathLike[str]") -> list[str]:
    try:
        with os.scandir(folder) as entries:
            return sorted(
                e.name
                for e in entries
                if len(e.name) == 2 and e.is_dir(follow_symlinks=False)
            )
    except FileNotFoundError:
        return []


def _is_storage_name(name: str) -> bool:
    try:
        blob_files.path_of(name)
    except ValueError:
        return False
    return True


def _older_than(entry: "os.DirEntry[str]", cutoff: float) -> bool:
    try:
        return entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False


def rowless_files(batch_size: int) -> Iterator[str]:
    """Stored files that no blob row names, checked a batch at a time."""
    batch: list[str] = []
    for name in stored_files(ORPHAN_SECONDS):
        batch.append(name)
        if len(batch) >= batch_size:
            yield from _without_row(batch)
            batch = []
    yield from _without_row(batch)


def _without_row(names: list[str]) -> list[str]:
    if not names:
        return []
    known = set(
        Blob.objects.filter(storage_name__in=names).values_list(
            "storage_name", flat=True
        )
    )
    return [name for name in names if name not in known]


def shred_rowless_files(batch_size: int) -> int:
    """Shred files left without a row, and stale halves of uploads."""
    count = sum(1 for name in rowless_files(batch_size) if blob_files.destroy(name))
    return count + blob_files.shred_stale_incoming(ORPHAN_SECONDS)


# The purge -----------------------------------------------------------------


def event_cutoff(now: datetime) -> datetime:
    """Stored stream events older than this may name purged messages.

    Message events are read back from the message table itself (see
    chat.realtime.storage), so they disappear with their messages; what is
    left is django-eventstream's own event table, kept no longer than the
    longest retention.
    """
    return now - timedelta(days=server_retention_days())


def stored_events_before(now: datetime) -> QuerySet[StoredEvent]:
    return StoredEvent.objects.filter(created__lt=event_cutoff(now))


def count_expired(now: datetime, batch_size: int) -> PurgeCounts:
    return PurgeCounts(
        messages=expired_messages(now).count(),
        blobs=expired_blobs(now).count(),
        files=sum(1 for _ in rowless_files(batch_size)),
        events=stored_events_before(now).count(),
        sessions=forget_stale_sessions(now, dry_run=True),
    )


def purge_expired(
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PurgeCounts:
    """Remove everything that expired before ``now``, batch by batch.

    Blobs go before messages: a blob row outliving its message would only
    wait for the next run, but this order lets one run finish the job.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    moment = now or timezone.now()
    if dry_run:
        counts = count_expired(moment, batch_size)
    else:
        counts = PurgeCounts(
            blobs=drain(delete_blob_batch, expired_blobs(moment), batch_size),
            messages=drain(delete_message_batch, expired_messages(moment), batch_size),
            files=shred_rowless_files(batch_size),
            events=purge_event_backlog(event_cutoff(moment)),
            sessions=forget_stale_sessions(moment),
        )
    log.info(
        "purge %s %s",
        "dry-run" if dry_run else "finished",
        " ".join(f"{name}={value}" for name, value in counts.as_dict().items()),
    )
    return counts
