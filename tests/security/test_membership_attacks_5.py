"""Attacks on the roster version through the ORM paths that change members
(a4241dc/d13e534): every change of a group's members must raise that
group's roster version, or a one-statement post that waited for the
group's lock stores a message of someone no longer in it.

Only PostgreSQL has the row locks and the one-statement post.
"""

from __future__ import annotations

import pytest
from django.db import transaction

from accounts.models import User
from chat import services
from chat.models import Message
from groups import services as groups
from groups.models import Group, Membership
from tests.chat.test_post_during_removal import post_behind_a_lock
from tests.hashwhisper.testing import require_postgresql
from tests.integrity.conftest import new_spec

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def needs_postgresql() -> None:
    require_postgresql("row locks and the one-statement post")


def people(*names: str) -> list[User]:
    return [User.objects.create_user(username=n, password="x" * 16) for n in names]


def version(group: Group) -> int:
    return int(Group.objects.get(pk=group.pk).roster_version)


def test_a_membership_moved_to_another_group_raises_both_versions() -> None:
    # Saving a membership with another group takes the member out of the
    # first group as surely as deleting it: both rosters changed.
    owner, carol = people("owner", "carol")
    first = groups.create_group(owner, new_spec())
    second = groups.create_group(owner, new_spec())
    membership = Membership.objects.create(group=first, user=carol)
    before = (version(first), version(second))

    membership.group = second
    membership.save()

    assert version(first) > before[0]
    assert version(second) > before[1]


def test_a_membership_given_to_another_user_raises_the_version() -> None:
    owner, carol, dan = people("owner", "carol", "dan")
    group = groups.create_group(owner, new_spec())
    membership = Membership.objects.create(group=group, user=carol)
    before = version(group)

    membership.user = dan
    membership.save()

    assert version(group) > before


def test_a_post_that_waited_while_its_senders_membership_moved_is_refused() -> None:
    # Carol posts to the first group while another transaction holds its
    # lock and moves her membership to the second group. Her post waited;
    # once it runs she is no longer a member and nothing may be stored.
    owner, carol = people("owner", "carol")
    first = groups.create_group(owner, new_spec())
    second = groups.create_group(owner, new_spec())
    membership = Membership.objects.create(group=first, user=carol)
    first.refresh_from_db()

    def move() -> None:
        membership.group = second
        membership.save()

    outcome = post_behind_a_lock(first, carol, move)

    assert isinstance(outcome.get("error"), services.NotMember), outcome
    assert not Message.objects.filter(group=first, sender=carol).exists()


def test_a_role_saved_with_update_fields_reads_nothing_more() -> None:
    # The services save roles with update_fields: the membership's group
    # and user cannot change, so no extra read of the old row is needed.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    owner, carol = people("owner", "carol")
    group = groups.create_group(owner, new_spec())
    membership = Membership.objects.create(group=group, user=carol)
    with CaptureQueriesContext(connection) as seen, transaction.atomic():
        membership.role = Membership.Role.OWNER
        membership.save(update_fields=["role"])
    statements = [q["sql"] for q in seen.captured_queries]
    assert not any(s.startswith("SELECT") for s in statements), statements
