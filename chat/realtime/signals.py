"""Membership changes and logouts reach open streams in every process.

django-eventstream's ``channel_permission_changed`` only reaches streams in
the process that calls it (DESIGN.md, pitfall 3). These receivers publish a
control message instead, which every process's hub applies to its own
streams.
"""

from functools import partial
from typing import Any

from django.contrib.auth import SESSION_KEY
from django.contrib.auth.signals import user_logged_out
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest

from chat.realtime import bus
from chat.realtime.stream import session_hash
from groups.models import Group, Membership
from groups.signals import added_by_manager, previous


@receiver(post_delete, sender=Membership, dispatch_uid="hw-realtime-removed")
def membership_removed(sender: type, instance: Membership, **kwargs: Any) -> None:
    """A member who left or was removed stops getting the group's events.

    New events of the group no longer go to them (recipients are read at
    publish time); this drops what was already queued for their streams
    and tells their browsers to close the group.
    """
    message = {"op": "removed", "user": instance.user_id, "group": instance.group_id}
    transaction.on_commit(lambda: bus.publish_control(message), robust=True)


@receiver(post_save, sender=Membership, dispatch_uid="hw-realtime-joined")
def membership_added(
    sender: type, instance: Membership, created: bool, **kwargs: Any
) -> None:
    """A new member's open streams start carrying the group's events.

    Events of a group travel on the group's channel, and each process
    listens to the groups of the users with a stream there (``hub``). A
    membership saved with another user or group is a removal of the one it
    had and a join of the one it has (``groups.signals.previous``).
    """
    was = None if created else previous(instance)
    if was is not None:
        gone = {"op": "removed", "user": was[1], "group": was[0]}
        transaction.on_commit(partial(bus.publish_control, gone), robust=True)
    elif not created:
        return
    message = {"op": "joined", "user": instance.user_id, "group": instance.group_id}
    transaction.on_commit(lambda: bus.publish_control(message), robust=True)


@receiver(m2m_changed, sender=Group.members.through, dispatch_uid="hw-realtime-added")
def members_added(sender: type, **kwargs: Any) -> None:
    """``members.add()`` (bulk_create, no post_save) is a join as well."""
    for user, group in added_by_manager(**kwargs):
        message = {"op": "joined", "user": user, "group": group}
        transaction.on_commit(partial(bus.publish_control, message), robust=True)


@receiver(user_logged_out, dispatch_uid="hw-realtime-logout")
def session_ended(
    sender: type, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    """Logging out ends the streams of that session, wherever they are."""
    if user is None or request is None:
        return
    message = {
        "op": "revoke",
        "user": user.pk,
        "session": session_hash(request.session.session_key),
    }
    transaction.on_commit(lambda: bus.publish_control(message), robust=True)


@receiver(post_delete, sender=Session, dispatch_uid="hw-realtime-session-deleted")
def session_deleted(sender: type, instance: Session, **kwargs: Any) -> None:
    """A session deleted any other way also ends its open streams.

    Password change, authenticator reset, "end this session", idle or
    absolute lifetime and account deletion all delete stored sessions
    without a logout signal; the streams of such a session would otherwise
    keep delivering until the browser hung up.
    """
    try:
        user_id = int(instance.get_decoded()[SESSION_KEY])
    except (KeyError, TypeError, ValueError):
        return
    message = {
        "op": "revoke",
        "user": user_id,
        "session": session_hash(instance.session_key),
    }
    transaction.on_commit(lambda: bus.publish_control(message), robust=True)


def revoke_user_streams(user_id: int) -> None:
    """End every stream of a user, in every process (all sessions)."""
    bus.publish_control({"op": "revoke", "user": user_id})
