"""Live delivery over Server-Sent Events (django-eventstream).

Each browser tab opens one stream, on a channel that belongs to its user
alone. A group event is published to every member's channel (fan-out on
write), so a stream never needs more than one channel and a member who
leaves simply stops receiving the group's events.
"""

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django_eventstream import send_event
from django_eventstream.channelmanager import ChannelManagerBase

from groups.models import Membership

log = logging.getLogger("hashwhisper.chat")


def user_channel(user_id: int) -> str:
    return f"user-{user_id}"


class UserChannelManager(ChannelManagerBase):
    """Streams carry only the requesting user's own channel.

    The channel a client names in the request is ignored: the server picks it
    from the session, so no one can listen on another user's channel.
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
        return False


def publish_to_members(
    group_id: str,
    kind: str,
    payload: dict[str, Any],
    user_ids: Iterable[int] | None = None,
) -> None:
    """Send an event to each member's channel once the transaction commits."""
    if user_ids is None:
        user_ids = list(
            Membership.objects.filter(group_id=group_id).values_list(
                "user_id", flat=True
            )
        )
    recipients = list(user_ids)
    transaction.on_commit(lambda: _send(kind, payload, recipients))


def _send(kind: str, payload: dict[str, Any], recipients: list[int]) -> None:
    # A failed publish must not fail the request that stored the data: the
    # row is committed, and browsers fetch what they missed on reconnect.
    for user_id in recipients:
        try:
            send_event(user_channel(user_id), kind, payload)
        except Exception:
            log.exception("event publish failed kind=%s user_id=%s", kind, user_id)
