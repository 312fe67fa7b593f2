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
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts.models import User
from chat.models import Message
from groups.models import Group

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
    log.info(
        "group retention set group=%s user_id=%s days=%s shortened=%s",
        group.pk,
        actor.pk,
        days if days is not None else "default",
        shortened,
    )
    return locked


# Purge -----------------------------------------------------------------------


@dataclass
class PurgeCounts:
    """What one purge removed (or, in a dry run, would remove)."""

    messages: int = 0

    def add(self, other: "PurgeCounts") -> None:
        for field in fields(self):
            setattr(
                self, field.name, getattr(self, field.name) + getattr(other, field.name)
            )

    def as_dict(self) -> dict[str, int]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


def expired_messages(now: datetime) -> QuerySet[Message]:
    return Message.objects.filter(expires_at__lte=now)


def delete_message_batch(now: datetime, batch_size: int) -> int:
    """Delete up to ``batch_size`` expired messages; return how many went."""
    with transaction.atomic():
        ids = list(
            expired_messages(now)
            .order_by("id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return 0
        _, per_model = Message.objects.filter(id__in=ids).delete()
    return per_model.get(Message._meta.label, 0)


def purge_messages(now: datetime, batch_size: int) -> int:
    total = 0
    while True:
        deleted = delete_message_batch(now, batch_size)
        total += deleted
        if deleted == 0:
            return total


def count_expired(now: datetime) -> PurgeCounts:
    return PurgeCounts(messages=expired_messages(now).count())


def purge_expired(
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PurgeCounts:
    """Remove everything that expired before ``now``, batch by batch."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    moment = now or timezone.now()
    if dry_run:
        counts = count_expired(moment)
    else:
        counts = PurgeCounts(messages=purge_messages(moment, batch_size))
    log.info(
        "purge %s %s",
        "dry-run" if dry_run else "finished",
        " ".join(f"{name}={value}" for name, value in counts.as_dict().items()),
    )
    return counts
