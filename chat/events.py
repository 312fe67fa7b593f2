"""Live delivery over Server-Sent Events (django-eventstream).

Each browser holds one stream, on a channel that belongs to its user alone.
A group event is published to every member's channel (fan-out on write), so
a stream never needs more than one channel, and a member who leaves simply
stops receiving the group's events: recipients are read when the event is
published. The transport, storage and stream live in ``chat.realtime``.
"""

import json
import logging
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router, transaction
from django_eventstream.channelmanager import ChannelManagerBase

from chat.realtime import bus
from chat.realtime.local import user_channel
from groups.models import Membership

log = logging.getLogger("hashwhisper.chat")

__all__ = ["UserChannelManager", "publish_to_members", "send_event", "user_channel"]

# Events of this kind are messages: stored (as the message row) and resumable
# with Last-Event-ID; the message id is the event id.
STORED_KINDS = frozenset({"message"})


class UserChannelManager(ChannelManagerBase):
    """Streams carry only the requesting user's own channel.

    The channel a client names in the request is ignored: the server picks it
    from the session, so no one can listen on another user's channel, or on
    a group's.
    """

    def get_channels_for_request(self, request: Any, view_kwargs: Any) -> set[str]:
        user = request.user
        verified = getattr(user, "is_verified", None)
        if not (user.is_authenticated and verified is not None and verified()):
            return set()
        return {user_channel(user.pk)}

    def can_read_channel(self, user: Any, channel: str) -> bool:
        return user is not None and channel == user_channel(user.pk)

    def is_channel_reliable(self, channel: str) -> bool:
        # Message events on a user channel can be read back from storage.
        return True


def publish_to_members(
    group_id: str,
    kind: str,
    payload: dict[str, Any],
    user_ids: Iterable[int] | None = None,
) -> None:
    """Send an event to each member's channel once the transaction commits.

    Members are read now, inside the caller's transaction, so the event
    reaches exactly the members of the state being committed; a caller that
    already read them under the group's lock passes them as ``user_ids``.
    Publishing never fails the request (DESIGN.md, pitfall 4): the data is
    committed, and browsers read what they missed back on reconnect.
    """
    recipients = member_ids(group_id) if user_ids is None else list(user_ids)
    transaction.on_commit(lambda: _send(kind, payload, recipients), robust=True)


def _members_statement() -> str:
    table = Membership._meta.db_table
    user = Membership._meta.get_field("user").column
    group = Membership._meta.get_field("group").column
    # Double quotes name columns in both PostgreSQL and SQLite.
    return f'SELECT "{table}"."{user}" FROM "{table}" WHERE "{table}"."{group}" = %s'  # noqa: S608


_MEMBERS = _members_statement()


def member_ids(group_id: str) -> list[int]:
    """The ids of the group's members, as the database has them now.

    Every message event reads them. The statement is written out once:
    the ORM took longer to build this query than the database to answer.
    """
    with connections[router.db_for_read(Membership)].cursor() as cursor:
        cursor.execute(_MEMBERS, [group_id])
        return [int(row[0]) for row in cursor.fetchall()]


@dataclass
class _Batch:
    """Events collected by ``send_event`` while ``_send`` runs."""

    users: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    payloads: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)


_batch: ContextVar[_Batch | None] = ContextVar("hw_event_batch", default=None)


def _send(kind: str, payload: dict[str, Any], recipients: list[int]) -> None:
    # send_event is called once per recipient (tests record those calls);
    # inside this batch the calls are gathered and the event is encoded and
    # published once for all recipients, in one Redis round trip.
    batch = _Batch()
    token = _batch.set(batch)
    try:
        for user_id in recipients:
            send_event(user_channel(user_id), kind, payload)
    finally:
        _batch.reset(token)
    for key, users in batch.users.items():
        _publish(users, key[1], batch.payloads[key])


def send_event(channel: str, kind: str, payload: dict[str, Any]) -> None:
    """Hand one event for one user channel to the fan-out; never raises."""
    try:
        user_id = int(channel.removeprefix("user-"))
    except ValueError:
        log.warning("event for an unknown channel dropped kind=%s", kind)
        return
    batch = _batch.get()
    if batch is None:
        _publish([user_id], kind, payload)
        return
    key = (id(payload), kind)
    batch.users.setdefault(key, []).append(user_id)
    batch.payloads[key] = payload


def _publish(users: list[int], kind: str, payload: dict[str, Any]) -> None:
    event_id = payload.get("id") if kind in STORED_KINDS else None
    group = payload.get("group")
    bus.publish_event(
        users,
        kind,
        json.dumps(payload, cls=DjangoJSONEncoder),
        event_id=event_id if isinstance(event_id, int) else None,
        group=group if isinstance(group, str) else None,
    )
