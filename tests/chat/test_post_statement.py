"""On PostgreSQL a post without attachments is stored by one statement; it
must store what the ORM's way through a transaction stores."""

import secrets
from datetime import timedelta

import pytest

from accounts.models import User
from chat import services
from chat.models import Message
from chat.retention import retention_days
from groups import services as groups
from groups.models import Group, Membership
from tests.hashwhisper.testing import require_postgresql
from tests.integrity.conftest import new_spec

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def needs_postgresql() -> None:
    require_postgresql("the one-statement post")


def sealed() -> tuple[bytes, bytes, bytes]:
    return secrets.token_bytes(40), secrets.token_bytes(12), secrets.token_bytes(16)


@pytest.mark.parametrize("chosen", [None, 1, 3, 30])
def test_both_ways_store_the_same_message(settings: object, chosen: int | None) -> None:
    owner = User.objects.create_user(username="owner", password="x" * 16)
    group = groups.create_group(owner, new_spec())
    Group.objects.filter(pk=group.pk).update(retention_days=chosen)
    group.refresh_from_db()
    lifetime = timedelta(days=retention_days(group))

    one, _ = services._insert_in_one_statement(group.pk, owner, *sealed(), 1)
    other = services._insert_in_transaction(group.pk, owner, *sealed(), 1, ())

    assert one.expires_at - one.created_at == lifetime
    for made in (one, other):
        stored = Message.objects.get(pk=made.pk)
        # The ORM's way reads the clock twice, microseconds apart.
        assert abs(stored.expires_at - stored.created_at - lifetime) < timedelta(
            seconds=1
        )
        assert (stored.group_id, stored.sender_id, stored.epoch) == (
            group.pk,
            owner.pk,
            1,
        )
        for name in ("ciphertext", "nonce", "tag", "created_at", "expires_at"):
            assert bytes_or_value(getattr(stored, name)) == bytes_or_value(
                getattr(made, name)
            ), name
    assert (
        services.message_json(one, "owner").keys()
        == services.message_json(other, "owner").keys()
    )


def bytes_or_value(value: object) -> object:
    return bytes(value) if isinstance(value, memoryview) else value


def test_refusals_change_nothing() -> None:
    owner = User.objects.create_user(username="owner", password="x" * 16)
    stranger = User.objects.create_user(username="stranger", password="x" * 16)
    group = groups.create_group(owner, new_spec())
    ciphertext, nonce, tag = sealed()
    services._insert_in_one_statement(group.pk, owner, ciphertext, nonce, tag, 1)

    with pytest.raises(services.NotMember):
        services._insert_in_one_statement(group.pk, stranger, *sealed(), 1)
    with pytest.raises(services.NotMember):
        services._insert_in_one_statement("A" * 22, owner, *sealed(), 1)
    with pytest.raises(services.OldEpoch) as old:
        services._insert_in_one_statement(group.pk, owner, *sealed(), 2)
    assert (old.value.stated, old.value.current) == (2, 1)
    with pytest.raises(services.NonceReused):
        services._insert_in_one_statement(
            group.pk, owner, secrets.token_bytes(40), nonce, tag, 1
        )
    # The refused nonce left the surrounding transaction usable.
    assert Message.objects.filter(group=group).count() == 1


def test_the_statement_tells_the_members_as_recipients() -> None:
    owner, second, third = (
        User.objects.create_user(username=name, password="x" * 16)
        for name in ("owner", "second", "third")
    )
    spec = new_spec()
    group = groups.create_group(owner, spec)
    for user in (second, third):
        assert groups.join_group(user, group, spec.token) is not None

    _, recipients = services._insert_in_one_statement(group.pk, owner, *sealed(), 1)

    assert recipients is not None
    assert sorted(recipients) == sorted([owner.pk, second.pk, third.pk])


def test_every_membership_change_raises_the_roster_version() -> None:
    owner, member = (
        User.objects.create_user(username=name, password="x" * 16)
        for name in ("owner", "member")
    )
    spec = new_spec()
    group = groups.create_group(owner, spec)

    def version() -> int:
        return int(Group.objects.get(pk=group.pk).roster_version)

    seen = [version()]
    assert groups.join_group(member, group, spec.token) is not None
    seen.append(version())
    groups.transfer_ownership(owner, group, member.pk)
    seen.append(version())
    assert groups.leave_group(owner, group)
    seen.append(version())
    Membership.objects.create(group=group, user=owner)
    seen.append(version())
    User.objects.filter(pk=owner.pk).delete()  # with its membership
    seen.append(version())
    assert seen == sorted(set(seen)), seen


def test_the_related_managers_raise_the_roster_version_too() -> None:
    owner, member, other = (
        User.objects.create_user(username=name, password="x" * 16)
        for name in ("owner", "member", "other")
    )
    group = groups.create_group(owner, new_spec())

    def version() -> int:
        return int(Group.objects.get(pk=group.pk).roster_version)

    # add() makes its rows with bulk_create: no post_save of its own.
    seen = [version()]
    group.members.add(member)
    seen.append(version())
    other.chat_groups.add(group)
    seen.append(version())
    group.members.add(member)  # already in: nothing changes
    assert version() == seen[-1]
    group.members.remove(other)
    seen.append(version())
    group.members.set([owner])
    seen.append(version())
    group.members.clear()
    seen.append(version())
    assert seen == sorted(set(seen)), seen
