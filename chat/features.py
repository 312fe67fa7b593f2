"""Chat features that need the server: deleting, read markers, descriptions.

Reactions, replies and edits need nothing here. They are ordinary encrypted
messages whose sealed JSON names a type and a target id, so the server
stores them like any message and learns nothing it did not know already.
Deleting is different: the row (and any blob it owns) must really go, and
the other members' browsers must be told to drop it.
"""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import User
from chat.events import publish_to_members
from chat.models import Message, ReadMarker
from groups.models import Group, Membership
from media_vault.models import Blob
from media_vault.services import purge_blobs

log = logging.getLogger("hashwhisper.chat")

# Counting stops here: a badge shows "99+" past it, and a large backlog
# must not cost a full scan on every page load.
UNREAD_CAP = 99


class NotYours(Exception):
    """Only the sender of a message may delete it."""


@dataclass(frozen=True)
class ReadState:
    group_id: str
    last_read_id: int
    unread: int


def delete_message(user: User, group: Group, message_id: int) -> bool:
    """Delete the user's own message; ``False`` if the group has no such id.

    The files the message carried go with it: their rows are deleted in the
    same transaction, and media_vault shreds each file once it commits.
    """
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .filter(group=group, pk=message_id)
            .first()
        )
        if message is None:
            return False
        if message.sender_id != user.pk:
            raise NotYours(message_id)
        blobs = purge_blobs(Blob.objects.filter(message=message))
        message.delete()
        publish_to_members(group.id, "deleted", {"group": group.id, "id": message_id})
    log.info("message deleted id=%s group=%s blobs=%s", message_id, group.id, blobs)
    return True


def mark_read(user: User, group: Group, message_id: int) -> int:
    """Move the user's read marker forward to ``message_id``; never back.

    The marker is clamped to the newest id the group has held, so a
    browser cannot park it beyond messages that do not exist yet.
    """
    newest = Message.objects.filter(group=group).aggregate(top=Max("id"))["top"]
    target = min(message_id, newest or 0)
    with transaction.atomic():
        marker, _ = ReadMarker.objects.select_for_update().get_or_create(
            user=user, group=group
        )
        if target > marker.last_read_id:
            marker.last_read_id = target
            marker.save(update_fields=["last_read_id"])
    return marker.last_read_id


def read_states(user: User) -> list[ReadState]:
    """Read marker and unread count (others' rows, capped) of each group."""
    group_ids = list(
        Membership.objects.filter(user=user).values_list("group_id", flat=True)
    )
    markers = dict(
        ReadMarker.objects.filter(user=user, group_id__in=group_ids).values_list(
            "group_id", "last_read_id"
        )
    )
    states = []
    now = timezone.now()
    for group_id in group_ids:
        last = markers.get(group_id, 0)
        newer = Message.objects.filter(
            group_id=group_id, id__gt=last, expires_at__gt=now
        ).exclude(sender=user)
        unread = newer.values("id")[: UNREAD_CAP + 1].count()
        states.append(ReadState(group_id, last, unread))
    return states


@dataclass(frozen=True)
class SealedText:
    ciphertext: bytes
    nonce: bytes
    tag: bytes


def update_group_info(
    group: Group, *, name: SealedText | None, description: SealedText | None
) -> Group:
    """Replace the sealed name and/or description and tell the members.

    An empty ``SealedText`` (all three fields empty) clears the description.
    """
    fields: list[str] = []
    if name is not None:
        group.name_ciphertext = name.ciphertext
        group.name_nonce = name.nonce
        group.name_tag = name.tag
        fields += ["name_ciphertext", "name_nonce", "name_tag"]
    if description is not None:
        group.description_ciphertext = description.ciphertext
        group.description_nonce = description.nonce
        group.description_tag = description.tag
        fields += ["description_ciphertext", "description_nonce", "description_tag"]
    with transaction.atomic():
        group.save(update_fields=fields)
        publish_to_members(group.id, "group", {"group": group.id})
    log.info("group info updated group=%s fields=%s", group.id, len(fields))
    return group
