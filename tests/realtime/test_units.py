"""The realtime layer's parts, in one process: positions, encoding, storage,
kicks, publishing and the ASGI hand-over."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory, override_settings
from django.utils import timezone
from django_eventstream.event import Event
from django_eventstream.views import get_listener_manager

from chat.events import UserChannelManager, publish_to_members
from chat.models import Message
from chat.realtime import bus, local
from chat.realtime.storage import MessageStorage, purge_event_backlog
from chat.realtime.stream import (
    KEEP_ALIVE,
    StreamState,
    cursor_from,
    read_stored,
    session_hash,
)
from groups.models import Group, Membership
from tests.conftest import make_user, sealed
from tests.hashwhisper.testing import asgi_get
from tests.realtime.support import OwnRedis, group_row, on_own_redis, wait_for


def test_the_position_comes_only_from_the_stream_own_channel() -> None:
    assert cursor_from("user-5:42", "user-5") == 42
    assert cursor_from("user-6:42,user-5:7", "user-5") == 7
    for other in ("user-6:42", "user-5:x", "user-5:-1", "garbage", "", None):
        assert cursor_from(other, "user-5") is None
    assert cursor_from("user-5:" + "9" * 19, "user-5") is None


def test_events_without_ids_leave_the_position_alone() -> None:
    state = StreamState("user-5", 10)
    typing = state.encode(Event("user-5", "typing", '{"user": 1}'))
    assert typing == 'event: typing\ndata: {"user": 1}\n\n'
    assert state.cursor == 10

    twelve = state.encode(Event("user-5", "message", '{"id": 12}', id=12))
    assert "id: user-5:12\n" in twelve
    # Out of order: sent, but the position never moves back.
    eleven = state.encode(Event("user-5", "message", '{"id": 11}', id=11))
    assert "id: user-5:12\n" in eleven and '{"id": 11}' in eleven
    assert state.cursor == 12
    # A repeat (read from storage while it also arrived live) is dropped.
    assert state.encode(Event("user-5", "message", '{"id": 12}', id=12)) == ""


def test_one_event_is_encoded_once_for_all_streams_of_its_user() -> None:
    event = Event("user-5", "message", '{"id": 20}', id=20)
    first, second = StreamState("user-5", 3), StreamState("user-5", 19)
    text = first.encode(event)
    assert second.encode(event) is text
    # A stream already past the event gives it its own (later) position.
    ahead = StreamState("user-5", 25)
    assert "id: user-5:25\n" in ahead.encode(event)


def test_a_stream_cannot_choose_its_channel(rf: RequestFactory) -> None:
    class Verified:
        pk = 7
        is_authenticated = True

        def is_verified(self) -> bool:
            return True

    request = rf.get("/events/?channel=user-8&channel=group-x")
    request.user = Verified()  # type: ignore[assignment]
    manager = UserChannelManager()
    assert manager.get_channels_for_request(request, {"channel": "user-8"}) == {
        "user-7"
    }
    assert not manager.can_read_channel(request.user, "user-8")


# Storage ---------------------------------------------------------------------


@pytest.fixture
def two_groups(db: None) -> Iterator[dict[str, Any]]:
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    groups = []
    for label in ("ab", "a"):
        group = group_row((label * 22)[:22])
        Membership.objects.create(group=group, user=alice)
        if label == "ab":
            Membership.objects.create(group=group, user=bob)
        groups.append(group)
    yield {"alice": alice, "bob": bob, "shared": groups[0], "own": groups[1]}


def message(group: Group, sender: Any, **extra: Any) -> Message:
    return Message.objects.create(
        group=group,
        sender=sender,
        epoch=1,
        ciphertext=b"c" * 10,
        nonce=sealed()["nonce"].encode()[:12],
        tag=b"t" * 16,
        **extra,
    )


def test_storage_reads_only_the_user_groups(two_groups: dict[str, Any]) -> None:
    alice, bob = two_groups["alice"], two_groups["bob"]
    shared = message(two_groups["shared"], alice)
    message(two_groups["own"], alice)
    expired = message(
        two_groups["shared"], alice, expires_at=timezone.now() - timedelta(seconds=1)
    )
    storage = MessageStorage()
    channel = f"user-{bob.pk}"

    events = storage.get_events(channel, 0)
    assert [e.id for e in events] == [shared.id]
    assert json.loads(events[0].data)["group"] == two_groups["shared"].pk
    assert expired.id not in [e.id for e in storage.get_events(channel, 0)]
    assert storage.get_current_id(channel) == expired.id
    assert storage.get_events("group-x", 0) == []
    # Resending: what was created recently, at or below the position.
    since = timezone.now() - timedelta(seconds=60)
    assert [e.id for e in storage.get_recent(channel, shared.id, since)] == [shared.id]


@pytest.mark.django_db(transaction=True)
def test_a_long_backlog_ends_in_stream_reset(
    two_groups: dict[str, Any],
) -> None:
    alice, bob = two_groups["alice"], two_groups["bob"]
    for _ in range(7):
        message(two_groups["shared"], alice)
    state = StreamState(f"user-{bob.pk}", 0)

    async def read() -> list[bytes]:
        return [
            chunk async for chunk in read_stored(MessageStorage(), state, resend=False)
        ]

    with override_settings(HASHWHISPER_STREAM_RESUME_LIMIT=5):
        from chat.realtime import stream

        original = stream.PAGE_SIZE
        stream.PAGE_SIZE = 5
        try:
            chunks = asyncio.run(read())
        finally:
            stream.PAGE_SIZE = original
    text = b"".join(chunks).decode()
    assert text.count("event: message") == 5
    assert "event: stream-reset" in text
    assert state.cursor == Message.objects.order_by("-id").first().id  # type: ignore[union-attr]


def test_the_purge_hook_deletes_old_stored_events(db: None) -> None:
    from django_eventstream.models import Event as StoredEvent

    StoredEvent.objects.create(channel="user-1", type="message", data="{}", eid=1)
    StoredEvent.objects.update(created=timezone.now() - timedelta(days=30))
    StoredEvent.objects.create(channel="user-1", type="message", data="{}", eid=2)
    assert purge_event_backlog() == 1
    assert StoredEvent.objects.count() == 1


# Delivery and kicks in this process ------------------------------------------


@pytest.fixture
def listener() -> Iterator[Callable[[int, str], local.StreamListener]]:
    """Register listeners as open streams would, without a server."""
    loop = asyncio.new_event_loop()
    made: list[local.StreamListener] = []

    def make(user_id: int, session: str = "session") -> local.StreamListener:
        found = local.StreamListener(user_id, session)
        found.loop = loop
        get_listener_manager().add_listener(found)
        made.append(found)
        return found

    yield make
    for found in made:
        get_listener_manager().remove_listener(found)
    loop.close()


def queued(found: local.StreamListener) -> list[tuple[str, Any]]:
    return [
        (event.type, json.loads(event.data))
        for items in found.channel_items.values()
        for event in items
    ]


@pytest.mark.django_db(transaction=True)
@override_settings(REDIS_URL="")
def test_publishing_without_redis_reaches_members_here(
    two_groups: dict[str, Any], listener: Callable[[int, str], local.StreamListener]
) -> None:
    alice, bob = two_groups["alice"], two_groups["bob"]
    bobs = listener(bob.pk, "b")
    alices = listener(alice.pk, "a")
    publish_to_members(two_groups["shared"].pk, "message", {"id": 5, "group": "g"})
    publish_to_members(two_groups["own"].pk, "typing", {"group": "own", "user": 1})

    assert queued(bobs) == [("message", {"id": 5, "group": "g"})]
    assert [kind for kind, _ in queued(alices)] == ["message", "typing"]
    assert bobs.channel_items[f"user-{bob.pk}"][0].id == 5


def test_a_removal_drops_the_group_queued_events(
    listener: Callable[[int, str], local.StreamListener],
) -> None:
    found = listener(31, "s")
    local.deliver(31, local.GroupEvent("user-31", "message", '{"id": 1}', 1, "gone"))
    local.deliver(31, local.GroupEvent("user-31", "message", '{"id": 2}', 2, "kept"))
    local.apply_control({"op": "removed", "user": 31, "group": "gone"})
    assert queued(found) == [("message", {"id": 2}), ("removed", {"group": "gone"})]


def test_a_revoke_ends_only_the_named_session(
    listener: Callable[[int, str], local.StreamListener],
) -> None:
    ended, kept, other = listener(41, "one"), listener(41, "two"), listener(42, "one")
    local.apply_control({"op": "revoke", "user": 41, "session": "one"})
    assert ended.error and ended.error["condition"] == "forbidden"
    assert not kept.error and not other.error
    local.apply_control({"op": "revoke", "user": 41})
    assert kept.error


def test_keep_alives_are_due_on_every_stream_after_a_tick(
    listener: Callable[[int, str], local.StreamListener],
) -> None:
    streams = [listener(51, "s"), listener(52, "s")]
    assert local.tick() >= 2
    assert all(found.keepalive_due for found in streams)
    assert KEEP_ALIVE.startswith(b"event: keep-alive")


def test_deleting_a_session_ends_its_streams(
    db: None, listener: Callable[[int, str], local.StreamListener]
) -> None:
    user, _ = make_user("carol")
    store = SessionStore()
    store["_auth_user_id"] = str(user.pk)
    store.create()
    found = listener(user.pk, session_hash(store.session_key))
    with override_settings(REDIS_URL=""), pytest.MonkeyPatch.context() as patch:
        # The test database wraps the test in a transaction: run the commit
        # callbacks at once.
        patch.setattr("django.db.transaction.on_commit", lambda f, **_: f())
        store.delete()
    assert found.error and found.error["condition"] == "forbidden"


# The ASGI hand-over ----------------------------------------------------------


def test_a_refused_stream_passes_through_the_hand_over(db: None) -> None:
    from hashwhisper.asgi import application

    sent = asgi_get(application, "/events/")
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 401
    assert b"Log in first" in b"".join(m.get("body", b"") for m in sent[1:])


# Fan-out health --------------------------------------------------------------


def test_the_log_says_once_down_and_once_recovered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = bus.Health()
    with caplog.at_level(logging.WARNING, logger="hashwhisper.realtime"):
        for _ in range(3):
            health.publish_failed(ConnectionError("refused"))
        health.subscription_lost(ConnectionError("gone"))
        health.publish_ok()
        # Still down: the subscription has not come back.
        health.subscription_ok()
        health.publish_ok()
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(":")[0] for line in lines] == [
        "live fan-out down",
        "live fan-out recovered",
    ]
    assert "ConnectionError" in lines[0] and "refused" not in lines[0]


def test_a_failed_publish_is_made_good_by_a_resync(own_redis: OwnRedis) -> None:
    import redis

    publisher = bus.Publisher()
    prefix = f"hwtest:{secrets.token_hex(4)}:"
    listener_client = redis.Redis.from_url(own_redis.url)
    pubsub = listener_client.pubsub()
    with (
        override_settings(HASHWHISPER_REALTIME_PREFIX=prefix),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr(bus, "health", bus.Health())
        pubsub.subscribe(bus.control_topic())
        pubsub.get_message(timeout=1)
        own_redis.stop()
        assert not publisher.publish(own_redis.url, [bus.user_topic(1)], b"{}")
        assert bus.health.publish_pending()
        own_redis.start()
        # Still inside the pause after a failure: nothing is tried yet.
        publisher.recover(own_redis.url)
        assert bus.health.publish_pending()
        time.sleep(bus.RETRY_AFTER_SECONDS)
        pubsub = listener_client.pubsub()
        pubsub.subscribe(bus.control_topic())
        pubsub.get_message(timeout=1)
        publisher.recover(own_redis.url)
        assert not bus.health.publish_pending()
        message = pubsub.get_message(timeout=2)
        assert message is not None and json.loads(message["data"]) == {"op": "resync"}
    listener_client.close()


def subscribed(client: Any, topics: list[str]) -> Any:
    """A pub/sub of ``client`` on ``topics``, its confirmations read."""
    pubsub = client.pubsub()
    pubsub.subscribe(*topics)
    for _ in topics:
        pubsub.get_message(timeout=1)
    return pubsub


def received(pubsub: Any) -> list[tuple[str, bytes]]:
    """Every (channel, data) that arrives until a second passes quietly."""
    got = []
    while (found := pubsub.get_message(timeout=1)) is not None:
        got.append((found["channel"].decode(), found["data"]))
    return sorted(got)


def test_one_event_for_many_users_goes_through_the_script(own_redis: OwnRedis) -> None:
    import redis

    publisher = bus.Publisher()
    listener_client = redis.Redis.from_url(own_redis.url)
    topics = [f"hwtest:{secrets.token_hex(4)}:u:{n}" for n in range(5)]
    pubsub = subscribed(listener_client, topics)
    before = listener_client.info("commandstats")

    assert publisher.publish(own_redis.url, topics, b'{"n": 1}')
    # Redis forgets its scripts on restart or SCRIPT FLUSH; the next
    # publish loads it again.
    listener_client.script_flush()
    assert publisher.publish(own_redis.url, topics, b'{"n": 2}')

    assert received(pubsub) == sorted(
        (t, data) for data in (b'{"n": 1}', b'{"n": 2}') for t in topics
    )
    after = listener_client.info("commandstats")

    def calls(stats: dict[str, Any], name: str) -> int:
        return int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))

    # Each topic once per event, published by the script (Redis counts the
    # script's own PUBLISH calls too).
    assert calls(after, "publish") - calls(before, "publish") == 2 * len(topics)
    assert calls(after, "evalsha") - calls(before, "evalsha") >= 2
    listener_client.close()


def test_a_redis_that_refuses_scripts_still_gets_every_event(
    own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    publisher = bus.Publisher()
    admin = redis.Redis.from_url(own_redis.url)
    # As some managed Redis services (or an operator's ACL) do.
    admin.acl_setuser("default", enabled=True, commands=["-@scripting"])
    listener_client = redis.Redis.from_url(own_redis.url)
    topics = [f"hwtest:{secrets.token_hex(4)}:u:{n}" for n in range(3)]
    pubsub = subscribed(listener_client, topics)

    with caplog.at_level("WARNING", logger="hashwhisper.realtime"):
        assert publisher.publish(own_redis.url, topics, b"1")
        assert publisher.publish(own_redis.url, topics, b"2")

    assert received(pubsub) == sorted((t, d) for d in (b"1", b"2") for t in topics)
    refusals = [r for r in caplog.records if "refused the fan-out script" in r.message]
    assert len(refusals) == 1
    listener_client.close()
    admin.close()


def test_a_stream_woken_on_its_own_loop_needs_no_wake_up_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> tuple[int, int, bool, bool]:
        loop = asyncio.get_running_loop()
        threadsafe: list[object] = []
        original = loop.call_soon_threadsafe

        def counting(callback: Any, *args: Any, **kwargs: Any) -> Any:
            threadsafe.append(callback)
            return original(callback, *args, **kwargs)

        monkeypatch.setattr(loop, "call_soon_threadsafe", counting)
        listener = local.StreamListener(1, "session")
        listener.assign_loop()

        def wakes() -> int:
            return threadsafe.count(listener.aevent.set)

        listener.wake_threadsafe()
        from_loop = wakes()
        woken_here = listener.aevent.is_set()
        listener.aevent.clear()
        await asyncio.to_thread(listener.wake_threadsafe)
        await asyncio.wait_for(listener.aevent.wait(), 5)
        return from_loop, wakes(), woken_here, listener.aevent.is_set()

    from_loop, in_all, woken_here, woken_from_thread = asyncio.run(scenario())
    assert (from_loop, woken_here) == (0, True)
    # From another thread it still goes through the loop's safe way.
    assert (in_all, woken_from_thread) == (1, True)


def test_one_event_for_many_users_here_is_decoded_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chat.realtime.hub import Hub

    decoded: list[object] = []
    original = bus.Envelope.decode

    def counting(raw: bytes | str) -> bus.Envelope:
        decoded.append(raw)
        return original(raw)

    delivered: list[tuple[int, str, str, int | None]] = []
    monkeypatch.setattr(bus.Envelope, "decode", counting)
    monkeypatch.setattr(
        local,
        "deliver",
        lambda user, event: delivered.append(
            (user, event.channel, event.data, event.id)
        ),
    )
    first = bus.Envelope("message", '{"n":1}', event_id=7, group="g").encode()
    second = bus.Envelope("message", '{"n":2}', event_id=8, group="g").encode()

    async def scenario() -> None:
        hub = Hub("", asyncio.get_running_loop())
        control, prefix = bus.control_topic(), bus.user_topic(0)[:-1]
        try:
            for raw, users in ((first, (5, 6, 7)), (second, (5, 6))):
                for user in users:
                    # A copy, as each channel's message arrives in bytes of
                    # its own.
                    hub.dispatch(
                        bus.user_topic(user),
                        bytes(bytearray(raw)),
                        control,
                        prefix,
                        bus.group_topic(""),
                    )
        finally:
            hub.stop()

    asyncio.run(scenario())
    assert len(decoded) == 2
    assert delivered == [
        (5, "user-5", '{"n":1}', 7),
        (6, "user-6", '{"n":1}', 7),
        (7, "user-7", '{"n":1}', 7),
        (5, "user-5", '{"n":2}', 8),
        (6, "user-6", '{"n":2}', 8),
    ]


def test_a_group_event_goes_to_the_listed_users_with_a_stream_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chat.realtime.hub import Hub

    delivered: list[tuple[int, str, int | None]] = []
    monkeypatch.setattr(
        local,
        "deliver",
        lambda user, event: delivered.append((user, event.channel, event.id)),
    )
    # For 5, 6 and 8; 7 has a stream here but is not listed (removed before
    # the event was made), 8 is listed but has no stream here.
    raw = bus.Envelope(
        "message", '{"n":1}', event_id=9, group="g", recipients=(5, 6, 8)
    ).encode()

    async def scenario() -> None:
        hub = Hub("", asyncio.get_running_loop())
        hub.counts.update({5: 1, 6: 2, 7: 1})
        try:
            hub.dispatch(
                bus.group_topic("g"),
                raw,
                bus.control_topic(),
                bus.user_topic(0)[:-1],
                bus.group_topic(""),
            )
        finally:
            hub.stop()

    asyncio.run(scenario())
    assert delivered == [(5, "user-5", 9), (6, "user-6", 9)]


def test_recipients_survive_the_trip_and_bad_ones_are_dropped() -> None:
    sent = bus.Envelope("typing", "{}", group="g", recipients=(3, 4))
    assert bus.Envelope.decode(sent.encode()) == sent
    tampered = json.dumps({"k": "typing", "d": "{}", "r": [3, "4", True, None]})
    assert bus.Envelope.decode(tampered).recipients == (3,)
    assert (
        bus.Envelope.decode(bus.Envelope("presence", "{}").encode()).recipients is None
    )


@pytest.mark.django_db(transaction=True)
def test_a_group_joined_meanwhile_is_subscribed_and_read_back(
    own_redis: OwnRedis,
) -> None:
    from chat.realtime.hub import Hub

    user = make_user("joiner")[0]

    async def scenario() -> tuple[bool, set[int], bool, bool]:
        loop = asyncio.get_running_loop()
        hub = Hub(own_redis.url, loop)
        listener = local.StreamListener(user.pk, "session")
        listener.assign_loop()
        manager = get_listener_manager()
        manager.add_listener(listener)
        try:
            assert await wait_for(lambda: hub.connected, 5)
            assert await hub.attach(user.pk)
            with manager.lock:
                listener.overflow = False
            hub.control({"op": "joined", "user": user.pk, "group": "G" * 22})
            waiting = set(hub.catch_up.get("G" * 22, set()))
            subscribed = await wait_for(
                lambda: (
                    bus.group_topic("G" * 22) in hub.subscribed and not hub.catch_up
                ),
                5,
            )
            return subscribed, waiting, listener.overflow, hub.connected
        finally:
            manager.remove_listener(listener)
            hub.stop()

    with on_own_redis(own_redis):
        subscribed, waiting, read_back, connected = asyncio.run(scenario())
    assert connected and subscribed
    assert waiting == {user.pk}
    # Once the group's channel was confirmed, the stream reads storage back.
    assert read_back


def test_a_group_event_crosses_redis_once_with_its_recipients(
    own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    prefix = f"hwtest:{secrets.token_hex(4)}:"
    monkeypatch.setattr(bus, "publisher", bus.Publisher())
    listener_client = redis.Redis.from_url(own_redis.url)
    pubsub = listener_client.pubsub()
    pubsub.psubscribe(f"{prefix}*")
    assert pubsub.get_message(timeout=1) is not None
    with override_settings(REDIS_URL=own_redis.url, HASHWHISPER_REALTIME_PREFIX=prefix):
        members = list(range(1, 501))
        assert bus.publish_event(members, "message", '{"n":1}', event_id=4, group="g")
        # An event of no group (presence) still goes to each user's channel.
        assert bus.publish_event([1, 2], "presence", '{"n":2}')
    arrived = []
    while (message := pubsub.get_message(timeout=0.5)) is not None:
        arrived.append((message["channel"].decode(), message["data"]))
    pubsub.close()
    listener_client.close()

    assert [channel for channel, _ in arrived] == [
        f"{prefix}g:g",
        f"{prefix}u:1",
        f"{prefix}u:2",
    ]
    envelope = bus.Envelope.decode(arrived[0][1])
    assert envelope.recipients == tuple(members)
    assert (envelope.kind, envelope.event_id, envelope.group) == ("message", 4, "g")


@pytest.mark.django_db(transaction=True)
def test_streams_opening_together_read_the_groups_once_and_hear_them(
    own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat.realtime import hub as hub_module

    owner, user = make_user("owner")[0], make_user("reader")[0]
    groups = []
    for _ in range(2):
        group = group_row(created_by=owner)
        Membership.objects.create(group=group, user=user)
        groups.append(group.pk)
    reads: list[list[int]] = []
    original = hub_module.groups_of

    def counting(user_ids: list[int]) -> dict[int, set[str]]:
        reads.append(user_ids)
        return original(user_ids)

    monkeypatch.setattr(hub_module, "groups_of", counting)
    monkeypatch.setattr(bus, "publisher", bus.Publisher())

    async def scenario() -> tuple[list[bool], set[str], bool]:
        loop = asyncio.get_running_loop()
        hub = hub_module.Hub(own_redis.url, loop)
        listener = local.StreamListener(user.pk, "session")
        listener.assign_loop()
        manager = get_listener_manager()
        manager.add_listener(listener)
        try:
            assert await wait_for(lambda: hub.connected, 5)
            live = list(await asyncio.gather(hub.attach(user.pk), hub.attach(user.pk)))
            subscribed = set(hub.subscribed)
            await asyncio.to_thread(
                bus.publish_event, [user.pk], "typing", '{"t":1}', group=groups[1]
            )
            heard = await wait_for(
                lambda: any(
                    e.data == '{"t":1}'
                    for items in listener.channel_items.values()
                    for e in items
                ),
                5,
            )
            return live, subscribed, heard
        finally:
            manager.remove_listener(listener)
            hub.stop()

    with on_own_redis(own_redis):
        live, subscribed, heard = asyncio.run(scenario())
        topics = {bus.user_topic(user.pk), *(bus.group_topic(g) for g in groups)}
    assert live == [True, True]
    assert reads == [[user.pk]]
    assert topics <= subscribed
    assert heard


@pytest.mark.django_db
def test_members_added_through_the_related_manager_send_joined(
    own_redis: OwnRedis,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    import redis

    owner, member, other = (make_user(name)[0] for name in ("own", "mem", "oth"))
    group = group_row("J" * 22)
    Membership.objects.create(group=group, user=owner, role=Membership.Role.OWNER)
    monkeypatch.setattr(bus, "publisher", bus.Publisher())
    listener_client = redis.Redis.from_url(own_redis.url)
    with on_own_redis(own_redis):
        pubsub = subscribed(listener_client, [bus.control_topic()])
        with django_capture_on_commit_callbacks(execute=True):
            # bulk_create underneath: no post_save for either row.
            group.members.add(member)
            other.chat_groups.add(group)
        got = [json.loads(data) for _, data in received(pubsub)]
    listener_client.close()
    assert got == [
        {"op": "joined", "user": member.pk, "group": group.pk},
        {"op": "joined", "user": other.pk, "group": group.pk},
    ]


def test_a_redis_that_stops_answering_is_left_and_reconnected(
    own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A frozen Redis (or a network that drops packets) resets nothing: only
    # the unanswered pings tell the hub its subscription is gone.
    import signal

    from chat.realtime import hub as hub_module

    monkeypatch.setattr(hub_module, "PING_SECONDS", 0.2)
    assert own_redis.process is not None
    process = own_redis.process

    async def scenario() -> tuple[bool, bool]:
        hub = hub_module.Hub(own_redis.url, asyncio.get_running_loop())
        try:
            assert await wait_for(lambda: hub.connected, 5)
            process.send_signal(signal.SIGSTOP)
            try:
                lost = await wait_for(lambda: not hub.connected, 5)
            finally:
                process.send_signal(signal.SIGCONT)
            back = await wait_for(lambda: hub.connected, 10)
            return lost, back
        finally:
            hub.stop()

    with on_own_redis(own_redis):
        lost, back = asyncio.run(scenario())
    assert lost, "the hub never noticed Redis had stopped answering"
    assert back
