"""Group state changes: create, join, leave. Views call these; nothing else
writes groups or memberships."""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from accounts.models import User
from groups.models import Group, Membership
from hashwhisper.crypto import token_hash, token_matches

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
    except IntegrityError as exc:
        raise GroupExists(spec.id) from exc
    log.info("group created group=%s user_id=%s", group.id, creator.pk)
    return group


def join_group(user: User, group: Group, token: bytes) -> Membership | None:
    """Add ``user`` if ``token`` hashes to the stored value, else ``None``."""
    if not token_matches(token, group.token_hash):
        security_log.warning(
            "wrong membership token group=%s user_id=%s", group.id, user.pk
        )
        return None
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(group=group, user=user)
    if created:
        log.info("member joined group=%s user_id=%s", group.id, user.pk)
    return membership


def leave_group(user: User, group: Group) -> bool:
    with transaction.atomic():
        deleted, _ = Membership.objects.filter(group=group, user=user).delete()
    if deleted:
        log.info("member left group=%s user_id=%s", group.id, user.pk)
    return bool(deleted)


def member_ids(group: Group) -> list[int]:
    return list(
        Membership.objects.filter(group=group).values_list("user_id", flat=True)
    )
