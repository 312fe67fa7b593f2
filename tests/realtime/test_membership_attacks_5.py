"""Attacks on the membership control messages and the hub's books of who is
in which group (a4241dc/d13e534, ad1affb), on a real Redis and database.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
import redis
from django.test import override_settings

from chat.realtime import bus
from groups.models import Group, Membership
from tests.conftest import make_user
from tests.realtime.support import OwnRedis
from tests.realtime.test_group_channels_attacks import (
    new_group,
)
from tests.realtime.test_units import received, subscribed


@pytest.fixture
def fresh_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bus, "publisher", bus.Publisher())


def controls_of(own_redis: OwnRedis, change: Any, capture: Any) -> list[Any]:
    """The control messages ``change`` published once its transaction
    committed."""
    client = redis.Redis.from_url(own_redis.url)
    try:
        with override_settings(
            REDIS_URL=own_redis.url,
            HASHWHISPER_REALTIME_PREFIX=f"hwtest:{secrets.token_hex(4)}:",
        ):
            pubsub = subscribed(client, [bus.control_topic()])
            with capture(execute=True):
                change()
            return [json.loads(data) for _, data in received(pubsub)]
    finally:
        client.close()


# Memberships saved with another user or group --------------------------------


@pytest.mark.django_db
def test_a_membership_given_to_another_user_says_removed_and_joined(
    own_redis: OwnRedis,
    fresh_publisher: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # The row now makes Dan a member and Carol not: Carol's streams must
    # drop the group, Dan's must start carrying it.
    carol, dan = make_user("carol")[0], make_user("dan")[0]
    group = new_group("owner", carol)
    membership = Membership.objects.get(group_id=group, user=carol)

    def change() -> None:
        membership.user = dan
        membership.save()

    got = controls_of(own_redis, change, django_capture_on_commit_callbacks)
    assert sorted(got, key=lambda m: m["op"]) == [
        {"op": "joined", "user": dan.pk, "group": group},
        {"op": "removed", "user": carol.pk, "group": group},
    ]


@pytest.mark.django_db
def test_a_membership_moved_to_another_group_says_removed_and_joined(
    own_redis: OwnRedis,
    fresh_publisher: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    carol = make_user("carol")[0]
    first = new_group("owner1", carol)
    second = new_group("owner2")
    membership = Membership.objects.get(group_id=first, user=carol)

    def change() -> None:
        membership.group = Group.objects.get(pk=second)
        membership.save()

    got = controls_of(own_redis, change, django_capture_on_commit_callbacks)
    assert sorted(got, key=lambda m: m["op"]) == [
        {"op": "joined", "user": carol.pk, "group": second},
        {"op": "removed", "user": carol.pk, "group": first},
    ]


@pytest.mark.django_db
def test_a_role_change_says_nothing(
    own_redis: OwnRedis,
    fresh_publisher: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    carol = make_user("carol")[0]
    group = new_group("owner", carol)
    membership = Membership.objects.get(group_id=group, user=carol)

    def change() -> None:
        membership.role = Membership.Role.OWNER
        membership.save()
        membership.save(update_fields=["role"])

    assert controls_of(own_redis, change, django_capture_on_commit_callbacks) == []
