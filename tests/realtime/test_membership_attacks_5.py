"""Attacks on the membership control messages and the hub's books of who is
in which group (a4241dc/d13e534, ad1affb), on a real Redis and database.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
import redis
from django_eventstream.views import get_listener_manager

from chat.realtime import bus, local
from groups.models import Group, Membership
from tests.conftest import make_user
from tests.realtime.support import OwnRedis, on_own_redis, wait_for
from tests.realtime.test_group_channels_attacks import (
    heard,
    new_group,
    run_with_hub,
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
        with on_own_redis(own_redis):
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


# The hub's books after a removal ---------------------------------------------


async def in_thread(work: Any) -> None:
    """Run database work on a thread, closing the thread's connection."""
    from django.db import connection

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    await asyncio.to_thread(run)


def open_listener(user_id: int) -> local.StreamListener:
    listener = local.StreamListener(user_id, "s")
    listener.assign_loop()
    get_listener_manager().add_listener(listener)
    return listener


@pytest.mark.django_db(transaction=True)
def test_a_group_its_only_local_member_left_is_no_longer_listened_to(
    own_redis: OwnRedis, fresh_publisher: None
) -> None:
    # Carol, the only one here in the group, is removed while her stream
    # stays open (as it does: she is still in other groups). The process
    # must stop listening to the group; before, it kept the channel until
    # her last stream closed or Redis reconnected, so a long-lived stream
    # gathered the channels of every group its user ever left (or that was
    # deleted).
    from chat.realtime.hub import Hub

    carol = make_user("carol")[0]
    kept = new_group("owner1", carol)
    left = new_group("owner2", carol)

    async def scenario(hub: Hub) -> tuple[bool, set[str], bool]:
        listener = open_listener(carol.pk)
        try:
            assert await hub.attach(carol.pk)
            topic = bus.group_topic(left)
            assert topic in hub.subscribed
            await in_thread(Membership.objects.filter(group_id=left, user=carol).delete)
            dropped = await wait_for(lambda: topic not in hub.subscribed, 5)
            await asyncio.to_thread(
                bus.publish_event, [carol.pk], "typing", '{"t":5}', group=kept
            )
            return (
                dropped,
                set(hub.user_groups.get(carol.pk, set())),
                await wait_for(lambda: heard(listener, '{"t":5}')),
            )
        finally:
            get_listener_manager().remove_listener(listener)

    assert run_with_hub(own_redis, scenario) == (True, {kept}, True)


@pytest.mark.django_db(transaction=True)
def test_a_removal_heard_after_the_rejoin_keeps_the_group(
    own_redis: OwnRedis, fresh_publisher: None
) -> None:
    # The removal's control message comes from one process, the rejoin's
    # from another: the hub may hear them the wrong way round. It must not
    # stop listening to a group its user is in again.
    from chat.realtime.hub import Hub

    carol, bob = make_user("carol")[0], make_user("bob")[0]
    group = new_group("owner", carol)
    shared = new_group("owner2", carol, bob)

    async def scenario(hub: Hub) -> tuple[bool, bool, bool]:
        listener = open_listener(carol.pk)
        bobs = open_listener(bob.pk)
        try:
            assert await hub.attach(carol.pk)
            assert await hub.attach(bob.pk)
            # Heard late: she was removed and is back (the database says so).
            hub.control({"op": "removed", "user": carol.pk, "group": group})
            # Bob's shared group is still his when Carol leaves it.
            await in_thread(
                Membership.objects.filter(group_id=shared, user=carol).delete
            )
            await asyncio.sleep(1.0)
            await asyncio.to_thread(
                bus.publish_event, [carol.pk], "typing", '{"t":6}', group=group
            )
            await asyncio.to_thread(
                bus.publish_event, [bob.pk], "typing", '{"t":7}', group=shared
            )
            return (
                bus.group_topic(group) in hub.subscribed,
                await wait_for(lambda: heard(listener, '{"t":6}')),
                await wait_for(lambda: heard(bobs, '{"t":7}')),
            )
        finally:
            get_listener_manager().remove_listener(listener)
            get_listener_manager().remove_listener(bobs)

    assert run_with_hub(own_redis, scenario) == (True, True, True)


@pytest.mark.django_db(transaction=True)
def test_removals_while_the_database_is_away_leave_no_task_behind(
    own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch, fresh_publisher: None
) -> None:
    # Many removals heard while the database fails: the hub keeps the
    # groups (listening a little longer is harmless), starts no endless
    # work, and drops them at its next good read.
    from django.db import OperationalError

    from chat.realtime import hub as hub_module

    carol = make_user("carol")[0]
    groups = [new_group(f"owner{n}", carol) for n in range(5)]
    original = hub_module.groups_of
    down = threading.Event()

    def flaky(user_ids: list[int]) -> dict[int, set[str]]:
        if down.is_set():
            raise OperationalError("the database went away")
        return original(user_ids)

    monkeypatch.setattr(hub_module, "groups_of", flaky)

    async def scenario(hub: hub_module.Hub) -> tuple[bool, bool, set[str]]:
        listener = open_listener(carol.pk)
        try:
            assert await hub.attach(carol.pk)
            down.set()
            await in_thread(
                Membership.objects.filter(group_id__in=groups[1:], user=carol).delete
            )
            settled = await wait_for(lambda: not hub.background, 5)
            down.clear()
            hub.control({"op": "resync"})
            dropped = await wait_for(
                lambda: bus.group_topic(groups[1]) not in hub.subscribed, 5
            )
            return settled, dropped, set(hub.user_groups[carol.pk])
        finally:
            down.clear()
            get_listener_manager().remove_listener(listener)

    assert run_with_hub(own_redis, scenario) == (True, True, {groups[0]})
