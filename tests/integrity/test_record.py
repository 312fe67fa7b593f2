"""Every lifecycle change appends its event, in the same transaction."""

from __future__ import annotations

import pytest
from django.db import transaction

from groups import services
from groups.models import Group, Membership
from integrity.chain import Kind
from integrity.models import ChainEvent, ChainHead
from integrity.services import record, verify_group
from tests.integrity.conftest import GroupMaker, Person, rotation_for

pytestmark = pytest.mark.django_db


def kinds(group_id: str) -> list[tuple[int, str, int | None, int | None, int]]:
    rows = ChainEvent.objects.filter(group_id=group_id).order_by("seq")
    return [(e.seq, e.kind, e.actor, e.subject, e.epoch) for e in rows]


def test_each_lifecycle_change_appends_its_event(
    alice: Person, bob: Person, carol: Person, make_group: GroupMaker
) -> None:
    (a, _), (b, _), (c, _) = alice, bob, carol
    group, _ = make_group(a, b, c)

    services.remove_member(a, group, c.pk)
    services.transfer_ownership(a, group, b.pk)
    group.refresh_from_db()
    services.rotate_secret(b, group, rotation_for(group))
    services.leave_group(a, group)

    assert kinds(group.pk) == [
        (1, Kind.CREATE, a.pk, a.pk, 1),
        (2, Kind.JOIN, b.pk, b.pk, 1),
        (3, Kind.JOIN, c.pk, c.pk, 1),
        (4, Kind.REMOVE, a.pk, c.pk, 1),
        (5, Kind.OWNER, a.pk, b.pk, 1),
        (6, Kind.ROTATE, b.pk, None, 2),
        (7, Kind.LEAVE, a.pk, a.pk, 2),
    ]
    assert verify_group(group.pk) == []
    head = ChainHead.objects.get(group_id=group.pk)
    last = ChainEvent.objects.get(group_id=group.pk, seq=7)
    assert (head.seq, bytes(head.hash)) == (7, bytes(last.hash))


def test_joining_again_with_the_current_token_records_nothing(
    alice: Person, bob: Person, make_group: GroupMaker
) -> None:
    group, token = make_group(alice[0], bob[0])

    assert services.join_group(bob[0], group, token) is not None

    assert [k[1] for k in kinds(group.pk)] == [Kind.CREATE, Kind.JOIN]


def test_a_refused_join_records_nothing(
    alice: Person, bob: Person, make_group: GroupMaker
) -> None:
    group, _ = make_group(alice[0])

    assert services.join_group(bob[0], group, b"\x00" * 32) is None

    assert [k[1] for k in kinds(group.pk)] == [Kind.CREATE]


def test_a_rolled_back_change_leaves_no_event(
    alice: Person, bob: Person, make_group: GroupMaker
) -> None:
    group, token = make_group(alice[0])

    with pytest.raises(RuntimeError), transaction.atomic():
        services.join_group(bob[0], group, token)
        raise RuntimeError("the request failed after the join")

    assert not Membership.objects.filter(group=group, user=bob[0]).exists()
    assert [k[1] for k in kinds(group.pk)] == [Kind.CREATE]
    assert ChainHead.objects.get(group_id=group.pk).seq == 1


@pytest.mark.django_db(transaction=True)
def test_record_refuses_to_run_outside_a_transaction(
    alice: Person, make_group: GroupMaker
) -> None:
    group, _ = make_group(alice[0])

    with pytest.raises(RuntimeError, match="inside the membership change"):
        record(group, Kind.JOIN, alice[0], alice[0])

    assert [k[1] for k in kinds(group.pk)] == [Kind.CREATE]


def test_a_refused_leave_records_nothing(
    alice: Person, bob: Person, make_group: GroupMaker
) -> None:
    group, _ = make_group(alice[0], bob[0])

    with pytest.raises(services.LifecycleRefused, match="Hand ownership"):
        services.leave_group(alice[0], group)

    assert [k[1] for k in kinds(group.pk)] == [Kind.CREATE, Kind.JOIN]
    assert Membership.objects.filter(group=group).count() == 2


def test_the_last_member_may_leave_even_as_owner_and_the_group_goes(
    alice: Person, make_group: GroupMaker
) -> None:
    group, _ = make_group(alice[0])

    assert services.leave_group(alice[0], group) is True

    # An empty group is deleted with its chain: nobody could own it again.
    assert not Group.objects.filter(pk=group.pk).exists()
    assert list(kinds(group.pk)) == []
