"""Expired messages vanish from every read at once, before any purge."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from chat.models import Message
from chat.realtime.storage import MessageStorage
from groups.models import Group
from tests.conftest import SecureClient, join_group
from tests.retention.conftest import expire

pytestmark = pytest.mark.django_db


def history_ids(client: SecureClient, group_id: str, query: str = "") -> list[int]:
    response = client.get(f"/api/groups/{group_id}/messages{query}")
    assert response.status_code == 200
    return [item["id"] for item in response.json()["messages"]]


def test_new_message_expires_after_server_retention(
    settings: Any,
    group_with_alice: dict[str, Any],
    post_message: Callable[[str], dict[str, Any]],
) -> None:
    settings.HASHWHISPER_RETENTION_DAYS = 3
    before = timezone.now()
    body = post_message(group_with_alice["id"])
    stored = Message.objects.get(pk=body["id"])
    lifetime = stored.expires_at - before
    assert timedelta(days=3) <= lifetime < timedelta(days=3, minutes=1)


def test_expired_message_is_gone_from_history_before_purge(
    alice_client: SecureClient,
    group_with_alice: dict[str, Any],
    post_message: Callable[[str], dict[str, Any]],
) -> None:
    group_id = group_with_alice["id"]
    kept = post_message(group_id)["id"]
    gone = post_message(group_id)["id"]
    assert history_ids(alice_client, group_id) == [kept, gone]

    expire(gone)

    assert Message.objects.filter(pk=gone).exists(), "no purge has run"
    assert history_ids(alice_client, group_id) == [kept]
    assert history_ids(alice_client, group_id, f"?after={kept - 1}") == [kept]
    assert history_ids(alice_client, group_id, f"?before={gone + 1}") == [kept]


def test_group_retention_applies_to_new_and_stored_messages(
    settings: Any,
    alice_client: SecureClient,
    group_with_alice: dict[str, Any],
    post_message: Callable[[str], dict[str, Any]],
) -> None:
    settings.HASHWHISPER_RETENTION_DAYS = 7
    group_id = group_with_alice["id"]
    old = post_message(group_id)["id"]
    # A message stored two days ago outlives a one-day retention already.
    Message.objects.filter(pk=old).update(created_at=timezone.now() - timedelta(days=2))

    response = alice_client.post(
        f"/api/groups/{group_id}/retention",
        {"days": 1},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    assert response.json() == {
        "days": 1,
        "chosen": 1,
        "server_days": 7,
        "can_change": True,
    }
    assert Group.objects.get(pk=group_id).retention_days == 1
    assert history_ids(alice_client, group_id) == []
    fresh = Message.objects.get(pk=post_message(group_id)["id"])
    assert fresh.expires_at - fresh.created_at < timedelta(days=1, minutes=1)


def test_group_retention_cannot_exceed_the_server_default(
    settings: Any, alice_client: SecureClient, group_with_alice: dict[str, Any]
) -> None:
    settings.HASHWHISPER_RETENTION_DAYS = 7
    url = f"/api/groups/{group_with_alice['id']}/retention"
    for bad in (0, 8, -1, "3", 2.5, True):
        response = alice_client.post(
            url, {"days": bad}, content_type="application/json"
        )
        assert response.status_code == 400, bad
    assert Group.objects.get(pk=group_with_alice["id"]).retention_days is None

    back = alice_client.post(url, {"days": None}, content_type="application/json")
    assert back.status_code == 200
    assert back.json()["days"] == 7


def test_only_the_owner_changes_group_retention(
    bob_client: SecureClient, group_with_alice: dict[str, Any]
) -> None:
    group_id = join_group(bob_client, group_with_alice)
    url = f"/api/groups/{group_id}/retention"

    seen = bob_client.get(url).json()
    assert seen["days"] >= 1 and seen["can_change"] is False
    refused = bob_client.post(url, {"days": 1}, content_type="application/json")

    assert refused.status_code == 403
    assert Group.objects.get(pk=group_id).retention_days is None


def test_non_member_cannot_read_group_retention(
    bob_client: SecureClient, group_with_alice: dict[str, Any]
) -> None:
    url = f"/api/groups/{group_with_alice['id']}/retention"
    assert bob_client.get(url).status_code == 404
    assert (
        bob_client.post(url, {"days": 1}, content_type="application/json").status_code
        == 404
    )


def test_expired_message_is_gone_from_the_stream_backlog_before_purge(
    alice: Any,
    group_with_alice: dict[str, Any],
    post_message: Callable[[str], dict[str, Any]],
) -> None:
    user, _ = alice
    channel = f"user-{user.pk}"
    kept = post_message(group_with_alice["id"])["id"]
    gone = post_message(group_with_alice["id"])["id"]
    backlog = MessageStorage()
    assert [e.id for e in backlog.get_events(channel, 0)] == [kept, gone]

    expire(gone)

    assert [e.id for e in backlog.get_events(channel, 0)] == [kept]
    recent = backlog.get_recent(channel, gone, timezone.now() - timedelta(hours=1))
    assert [e.id for e in recent] == [kept]
