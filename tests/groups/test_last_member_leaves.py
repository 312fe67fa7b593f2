"""A group whose last member leaves is deleted, not left ownerless."""

from typing import Any

import pytest

from chat.models import Message
from groups.models import Group, Membership
from tests.conftest import SecureClient, join_group, sealed


@pytest.mark.django_db
def test_last_member_leaving_deletes_the_group_and_its_messages(
    alice_client: SecureClient, bob_client: SecureClient, group_with_alice: dict
) -> None:
    gid = group_with_alice["id"]
    posted = alice_client.post(
        f"/api/groups/{gid}/messages",
        {**sealed(), "epoch": 1},
        content_type="application/json",
    )
    assert posted.status_code == 201, posted.content

    left = alice_client.post(f"/api/groups/{gid}/leave", {}, "application/json")

    assert left.status_code == 200, left.content
    assert not Group.objects.filter(pk=gid).exists()
    assert not Message.objects.filter(group_id=gid).exists()
    # The old invitation no longer opens anything.
    joined = bob_client.post(
        f"/api/groups/{gid}/join",
        {"token": group_with_alice["token"]},
        content_type="application/json",
    )
    assert joined.status_code == 404
    assert not Membership.objects.filter(group_id=gid).exists()


@pytest.mark.django_db
def test_a_member_leaving_keeps_the_group_for_the_others(
    alice_client: SecureClient, bob_client: SecureClient, group_with_alice: dict
) -> None:
    gid = join_group(bob_client, group_with_alice)

    left = bob_client.post(f"/api/groups/{gid}/leave", {}, "application/json")

    assert left.status_code == 200
    assert Group.objects.filter(pk=gid).exists()
    assert list(
        Membership.objects.filter(group_id=gid).values_list("role", flat=True)
    ) == ["owner"]


@pytest.mark.django_db
def test_no_one_joins_between_the_last_leave_and_the_deletion(
    alice_client: SecureClient,
    bob_client: SecureClient,
    group_with_alice: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The last member's leave commits, then the group is deleted: a join
    # with an old invitation in between was let in, and deleted with the
    # group a moment later.
    from chat import retention

    gid = group_with_alice["id"]
    answers: list[int] = []
    deletion = retention.delete_group

    def join_first(group_id: str, **kwargs: Any) -> None:
        joined = bob_client.post(
            f"/api/groups/{gid}/join",
            {"token": group_with_alice["token"]},
            content_type="application/json",
        )
        answers.append(joined.status_code)
        deletion(group_id, **kwargs)

    monkeypatch.setattr(retention, "delete_group", join_first)
    left = alice_client.post(f"/api/groups/{gid}/leave", {}, "application/json")

    assert left.status_code == 200, left.content
    assert answers and answers[0] in (403, 404), answers
    assert not Group.objects.filter(pk=gid).exists()
    assert not Membership.objects.filter(group_id=gid).exists()
