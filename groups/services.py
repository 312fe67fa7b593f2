"""Group state changes: create, join, leave, remove, hand over, rotate.

Views call these; nothing else writes groups or memberships. Each change
locks the group row, makes the change and appends its chain event in one
transaction, so the membership history and the chain cannot disagree.
"""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from accounts.models import User
from chat.events import publish_to_members
from groups.models import Group, Membership
from hashwhisper.crypto import token_hash, token_matches
from integrity.chain import Kind
from integrity.services import lock_group, record

log = logging.getLogger("hashwhisper.groups")
security_log = logging.getLogger("hashwhisper.security")


class GroupExists(Exception):
    """The browser picked an id that is already taken."""


@dataclass(frozen=True)
class NewGroup:
    id: str
    salt: bytes
    iterations: int
    token: bytes
    name_ciphertext: bytes
    name_nonce: bytes
    name_tag: bytes


def create_group(creator: User, spec: NewGroup) -> Group:
    try:
        with transaction.atomic():
            group = Group.objects.create(
                id=spec.id,
                salt=spec.salt,
                iterations=spec.iterations,
                token_hash=token_hash(spec.token),
                name_ciphertext=spec.name_ciphertext,
                name_nonce=spec.name_nonce,
                name_tag=spec.name_tag,
                created_by=creator,
            )
            Membership.objects.create(
                group=group, user=creator, role=Membership.Role.OWNER
            )
            record(group, Kind.CREATE, creator, creator)
    except IntegrityError as exc:
        raise GroupExists(spec.id) from exc
    log.info("group created group=%s user_id=%s", group.id, creator.pk)
    return group


def join_group(user: User, group: Group, token: bytes) -> Membership | None:
    """Add ``user`` if ``token`` hashes to the stored value, else ``None``.

    A member who joins again with the current token keeps the membership,
    and nothing is recorded: that is how members move to a rotated secret.
    """
    with transaction.atomic():
        # The token is checked against the locked row, so a rotation that
        # commits first is seen and the old token no longer opens the group.
        locked = lock_group(group.pk)
        if not token_matches(token, locked.token_hash):
            security_log.warning(
                "wrong membership token group=%s user_id=%s", group.id, user.pk
            )
            return None
        membership, created = Membership.objects.get_or_create(group=group, user=user)
        if created:
            record(group, Kind.JOIN, user, user)
    if created:
        log.info("member joined group=%s user_id=%s", group.id, user.pk)
    return membership


class LifecycleRefused(Exception):
    """A lifecycle change that the rules of the group do not allow.

    ``status`` is the HTTP status a view should answer with.
    """

    status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotOwner(LifecycleRefused):
    status = 403


class NotAMember(LifecycleRefused):
    status = 404


class EpochChanged(LifecycleRefused):
    status = 409


def leave_group(user: User, group: Group) -> bool:
    """Remove the user's own membership.

    An owner with other members still in the group must hand ownership over
    first, so a group is never left without someone who can remove members
    or rotate its secret.
    """
    with transaction.atomic():
        lock_group(group.pk)
        membership = Membership.objects.filter(group=group, user=user).first()
        if membership is None:
            return False
        others = Membership.objects.filter(group=group).exclude(user=user)
        last_member = not others.exists()
        if membership.role == Membership.Role.OWNER and not last_member:
            raise LifecycleRefused(
                "Hand ownership to another member before leaving the group."
            )
        membership.delete()
        if last_member:
            # No invitation opens the group from here on: a join between
            # this commit and the deletion below would be deleted with it.
            Group.objects.filter(pk=group.pk).update(token_hash=b"")
        record(group, Kind.LEAVE, user, user)
        publish_to_members(group.id, "members", {"group": group.id})
    log.info("member left group=%s user_id=%s", group.id, user.pk)
    if last_member:
        # An empty group would have no owner, yet anyone still holding an old
        # invitation could join it; it goes, with everything it holds.
        from chat.retention import delete_group

        delete_group(group.id)
    return True


def _owner_membership(user: User, group: Group) -> Membership:
    membership = Membership.objects.filter(group=group, user=user).first()
    if membership is None:
        raise NotAMember("No such group.")
    if membership.role != Membership.Role.OWNER:
        raise NotOwner("Only the owner of the group may do this.")
    return membership


def _other_membership(owner: User, group: Group, user_id: int) -> Membership:
    if user_id == owner.pk:
        raise LifecycleRefused("Choose another member than yourself.")
    target = Membership.objects.filter(group=group, user_id=user_id).first()
    if target is None:
        raise NotAMember("That user is not a member of this group.")
    return target


def remove_member(owner: User, group: Group, user_id: int) -> None:
    """The owner ends another member's membership.

    Access ends with the commit: every view checks membership per request,
    and live events go to member channels only, so the removed user's open
    stream stops carrying the group. The removed user's browser is told once
    so that it can close the group.
    """
    with transaction.atomic():
        lock_group(group.pk)
        _owner_membership(owner, group)
        target = _other_membership(owner, group, user_id)
        target.delete()
        record(group, Kind.REMOVE, owner, user_id)
        recipients = [*member_ids(group), user_id]
        publish_to_members(group.id, "members", {"group": group.id}, recipients)
    log.info("member removed group=%s user_id=%s by=%s", group.id, user_id, owner.pk)


def transfer_ownership(owner: User, group: Group, user_id: int) -> None:
    """The owner makes another member the owner and becomes a member."""
    with transaction.atomic():
        lock_group(group.pk)
        current = _owner_membership(owner, group)
        target = _other_membership(owner, group, user_id)
        current.role = Membership.Role.MEMBER
        current.save(update_fields=["role"])
        target.role = Membership.Role.OWNER
        target.save(update_fields=["role"])
        record(group, Kind.OWNER, owner, user_id)
        publish_to_members(group.id, "members", {"group": group.id})
    log.info("owner changed group=%s user_id=%s by=%s", group.id, user_id, owner.pk)


@dataclass(frozen=True)
class Rotation:
    """What the owner's browser made for the new epoch.

    ``epoch`` is the epoch the browser saw, so that two rotations started
    from the same state cannot both succeed. The name is sealed again under
    the new key, since members who only hold the new key must read it.
    """

    epoch: int
    salt: bytes
    iterations: int
    token: bytes
    name_ciphertext: bytes
    name_nonce: bytes
    name_tag: bytes
    # (ciphertext, nonce, tag) of the description sealed again, if there is
    # one; without it the old description stays, readable with the old key.
    description: tuple[bytes, bytes, bytes] | None = None


def rotate_secret(owner: User, group: Group, spec: Rotation) -> Group:
    """Replace the group's secret parameters and move to the next epoch.

    The server learns only the new salt, iteration count and the hash of the
    new token; the old token stops opening the group at once, and messages
    sealed for an older epoch are refused from now on.
    """
    with transaction.atomic():
        locked = lock_group(group.pk)
        _owner_membership(owner, locked)
        if spec.epoch != locked.epoch:
            raise EpochChanged(
                f"The group is at epoch {locked.epoch} now; reload and try again."
            )
        locked.salt = spec.salt
        locked.iterations = spec.iterations
        locked.token_hash = token_hash(spec.token)
        locked.name_ciphertext = spec.name_ciphertext
        locked.name_nonce = spec.name_nonce
        locked.name_tag = spec.name_tag
        locked.epoch = locked.epoch + 1
        fields = [
            "salt",
            "iterations",
            "token_hash",
            "name_ciphertext",
            "name_nonce",
            "name_tag",
            "epoch",
        ]
        if spec.description is not None:
            (
                locked.description_ciphertext,
                locked.description_nonce,
                locked.description_tag,
            ) = spec.description
            fields += ["description_ciphertext", "description_nonce", "description_tag"]
        locked.save(update_fields=fields)
        record(locked, Kind.ROTATE, owner, None)
        publish_to_members(group.id, "members", {"group": group.id})
    log.info("secret rotated group=%s epoch=%s", group.id, locked.epoch)
    return locked


def member_ids(group: Group) -> list[int]:
    return list(
        Membership.objects.filter(group=group).values_list("user_id", flat=True)
    )
