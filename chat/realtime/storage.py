"""Stored events for ``Last-Event-ID``: the message table itself.

A message event is the message row: its id is the event id, and its JSON is
what the live event carried. Reading events back therefore needs no second
copy of any ciphertext, and stored events expire (and are purged) with
their messages. Presence, typing and membership notices are not stored: a
browser that reconnects reloads its groups and members anyway.

django-eventstream's ``DjangoModelStorage`` keeps a database connection per
open stream (DESIGN.md, pitfall 2). These reads run in a worker thread and
give their connection back to the pool as soon as they are done
(``released``), so open streams hold no connection at all.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections
from django.db.models import Max, QuerySet
from django.utils import timezone
from django_eventstream.event import Event
from django_eventstream.storage import StorageBase

from chat.models import Message

log = logging.getLogger("hashwhisper.realtime")

MESSAGE_EVENT = "message"
_CHANNEL = re.compile(r"user-(\d{1,18})")

T = TypeVar("T")


def release_connections() -> None:
    """Return this thread's database connections to the pool (or close them).

    Skipped inside a transaction, whose connection is still in use.
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


def released(read: Callable[[], T]) -> T:
    """Run a database read, then let go of the connection it used."""
    try:
        return read()
    finally:
        release_connections()


def message_event_data(message: Message) -> str:
    """The JSON text of a message event, the same live and read back."""
    from chat.services import message_json

    return json.dumps(
        message_json(message, message.sender.get_username()), cls=DjangoJSONEncoder
    )


def _user_id(channel: str) -> int | None:
    match = _CHANNEL.fullmatch(channel)
    return int(match.group(1)) if match else None


def visible_messages(user_id: int, now: datetime | None = None) -> QuerySet[Message]:
    """Unexpired messages of the groups ``user_id`` belongs to right now."""
    return Message.objects.filter(
        group__memberships__user_id=user_id,
        expires_at__gt=now or timezone.now(),
    )


class MessageStorage(StorageBase):
    """django-eventstream storage over the message table (read-only)."""

    def append_event(self, channel: str, event_type: str, data: Any) -> Event:
        # Messages are stored by chat.services.post_message; events are
        # published by chat.realtime.bus, never by django-eventstream.
        raise NotImplementedError("message events are stored as messages")

    def get_current_id(self, channel: str) -> int:
        user_id = _user_id(channel)
        if user_id is None:
            return 0

        def read() -> int:
            found = Message.objects.filter(
                group__memberships__user_id=user_id
            ).aggregate(top=Max("id"))["top"]
            return int(found or 0)

        return released(read)

    def get_events(self, channel: str, last_id: int, limit: int = 100) -> list[Event]:
        """Up to ``limit`` message events after ``last_id``, oldest first."""
        user_id = _user_id(channel)
        if user_id is None:
            return []
        rows = visible_messages(user_id).filter(id__gt=last_id)
        return self._events(channel, rows, limit)

    def get_recent(
        self, channel: str, last_id: int, since: datetime, limit: int = 100
    ) -> list[Event]:
        """Message events up to ``last_id`` created since ``since``.

        These are the ones a resumed stream sends again, in case one of them
        committed after a later one was delivered (``config.resend_seconds``).
        """
        user_id = _user_id(channel)
        if user_id is None:
            return []
        rows = visible_messages(user_id).filter(id__lte=last_id, created_at__gte=since)
        return self._events(channel, rows, limit)

    def _events(self, channel: str, rows: QuerySet[Message], limit: int) -> list[Event]:
        def read() -> list[Event]:
            page = rows.select_related("sender").order_by("id")[:limit]
            return [
                Event(channel, MESSAGE_EVENT, message_event_data(m), id=m.id)
                for m in page
            ]

        return released(read)


def purge_event_backlog(before: datetime | None = None) -> int:
    """Delete stored events older than ``before`` (default: the retention).

    Message events live in the message table and leave with the messages
    that ``purge_expired`` removes. This clears django-eventstream's own
    tables, which stay empty unless an older version of this code wrote
    them; it returns how many events it deleted, so the purge can report it.
    """
    from datetime import timedelta

    from django.conf import settings
    from django_eventstream.models import Event as StoredEvent

    cutoff = before or timezone.now() - timedelta(
        days=settings.HASHWHISPER_RETENTION_DAYS
    )
    deleted, _ = StoredEvent.objects.filter(created__lt=cutoff).delete()
    if deleted:
        log.info("stored events purged count=%s", deleted)
    return int(deleted)
