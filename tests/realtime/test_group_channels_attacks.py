"""Attacks on the group channels (commit 1c14072): a group's event crosses
Redis once, on the group's channel, with its recipients, and each process
listens to the groups of the users with a stream there.

The cases with real processes use the shared ``pair`` or a cluster on a
Redis of the test's own, which the test stops and starts; the hub's races
run one ``Hub`` on a real Redis and a real database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from django_eventstream.views import get_listener_manager

from accounts.models import User
from chat.realtime import bus, local
from groups.models import Group, Membership
from tests.conftest import make_user
from tests.realtime.conftest import deployment
from tests.realtime.support import (
    Api,
    Cluster,
    Deployment,
    OwnRedis,
    SseStream,
    message_ids,
    new_group_body,
    on_own_redis,
    start_cluster,
    streams,
    wait_for,
)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Two processes of this module's own: the suite's shared pair has only
    so many people."""
    yield from deployment(tmp_path_factory, "attacks")


GROUP_KINDS = {"message", "typing", "members", "deleted", "group"}


def group_events(
    stream: SseStream, group: str, quiet: float = 0.7, expected: int = 0
) -> list[str]:
    """Kinds of the group's events the stream carried until it went quiet,
    after waiting for the ``expected`` number of events first."""
    found = []
    for event in stream.expect(GROUP_KINDS | {"removed"}, expected, quiet=quiet):
        data = event.json()
        if isinstance(data, dict) and data.get("group") == group:
            found.append(event.kind)
    return found


# Removed and non-members, real processes -------------------------------------


def test_a_removed_member_hears_nothing_more_on_any_process_or_tab(
    pair: Deployment,
) -> None:
    # Both processes stay subscribed to the group after the removal (Bob
    # has streams on each); Carol's tabs on both must still hear nothing of
    # it, and neither must a stream she resumes from before the removal.
    alice, bob, carol, dan = (pair.person() for _ in range(4))
    body, token = new_group_body()
    owner = pair.api(alice, server=1)
    assert owner.call("POST", "/api/groups/", body)[0] == 201
    group = str(body["id"])
    for member in (bob, carol):
        status, answer = pair.api(member).call(
            "POST", f"/api/groups/{group}/join", {"token": token}
        )
        assert status == 200, answer
    with streams(
        pair.stream(bob, server=0),
        pair.stream(bob, server=1, session=1),
        pair.stream(carol, server=0, session=0),
        pair.stream(carol, server=1, session=1),
        pair.stream(carol, server=0, session=1),
    ) as (bob0, bob1, *tabs):
        for stream in (bob0, bob1, *tabs):
            stream.wait_open()
        before = owner.post_message(group)
        for tab in tabs:
            assert message_ids(tab.expect({"message"}, 1)) == [before]
        resume_from = tabs[0].last_id

        status, answer = owner.call(
            "POST", f"/api/groups/{group}/remove", {"user": carol.id}
        )
        assert status == 200, answer
        for tab in tabs:
            removed = tab.next({"removed"}, timeout=5)
            assert removed is not None and removed.json() == {"group": group}
            # The removal's own notice lists her, so that her browser hears
            # it; nothing after it does.
            notice = tab.next({"members"}, timeout=5)
            assert notice is not None and notice.json() == {"group": group}
        # Every kind of group event after the removal, from both processes.
        after = [owner.post_message(group), pair.api(bob).post_message(group)]
        assert (
            pair.api(bob, server=1).call("POST", f"/api/groups/{group}/typing", {})[0]
            == 202
        )
        status, answer = pair.api(dan, server=0).call(
            "POST", f"/api/groups/{group}/join", {"token": token}
        )
        assert status == 200, answer
        assert message_ids(bob0.expect({"message"}, 3, quiet=1.0)) == [before, *after]
        leaked = [group_events(tab, group, quiet=0.5) for tab in tabs]
        # A stream resuming from before the removal reads nothing after it.
        with streams(pair.stream(carol, server=1, last_event_id=resume_from)) as (
            resumed,
        ):
            resumed.wait_open()
            leaked.append(group_events(resumed, group))
    assert leaked == [[], [], [], []]


def test_a_non_member_next_to_a_member_hears_none_of_the_group(
    pair: Deployment,
) -> None:
    # The process is subscribed to the group because of Bob; Dave, with a
    # stream on the same process, is not in its recipients.
    alice, bob, dave, erin = (pair.person() for _ in range(4))
    body, token = new_group_body()
    owner = pair.api(alice, server=1)
    assert owner.call("POST", "/api/groups/", body)[0] == 201
    group = str(body["id"])
    assert (
        pair.api(bob).call("POST", f"/api/groups/{group}/join", {"token": token})[0]
        == 200
    )
    with streams(pair.stream(bob), pair.stream(dave), pair.stream(dave, session=1)) as (
        member,
        *spies,
    ):
        for stream in (member, *spies):
            stream.wait_open()
        posted = owner.post_message(group)
        assert owner.call("POST", f"/api/groups/{group}/typing", {})[0] == 202
        assert (
            pair.api(erin).call("POST", f"/api/groups/{group}/join", {"token": token})[
                0
            ]
            == 200
        )
        heard = group_events(member, group, quiet=1.0, expected=3)
        assert "message" in heard and "typing" in heard and "members" in heard
        assert [group_events(spy, group, quiet=0.3) for spy in spies] == [[], []]
    assert posted


# Joins -------------------------------------------------------------------


def test_posts_right_after_a_join_arrive_once_on_every_process(
    pair: Deployment,
) -> None:
    # Carol has a stream on each process, and no one else there listens to
    # the group: both processes learn of it from the join alone.
    alice, carol = pair.person(), pair.person()
    body, token = new_group_body()
    owner = pair.api(alice, server=1)
    assert owner.call("POST", "/api/groups/", body)[0] == 201
    group = str(body["id"])
    with streams(
        pair.stream(carol, server=0, session=0),
        pair.stream(carol, server=1, session=1),
    ) as tabs:
        for tab in tabs:
            tab.wait_open()
        status, answer = pair.api(carol, server=0).call(
            "POST", f"/api/groups/{group}/join", {"token": token}
        )
        assert status == 200, answer
        posted = [owner.post_message(group), pair.api(alice).post_message(group)]
        posted += [owner.post_message(group) for _ in range(3)]
        received = [
            message_ids(tab.expect({"message"}, len(posted), quiet=1.0)) for tab in tabs
        ]
    assert received == [posted, posted]


def test_a_join_during_a_redis_outage_still_delivers_what_was_posted_meanwhile(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    running = start_cluster(tmp_path, 2, redis_url=own_redis.url)
    try:
        seeded = running.seed({"users": ["alice", "carol"], "groups": {"g": ["alice"]}})
        group = seeded["groups"]["g"]
        first, second = running.servers
        alice = Api(second.base_url, seeded["users"]["alice"]["sessions"][0])
        carol = Api(second.base_url, seeded["users"]["carol"]["sessions"][0])
        status, answer = alice.call("GET", "/api/groups/")
        assert status == 200, answer
        with streams(
            SseStream(first.base_url, seeded["users"]["carol"]["sessions"][0])
        ) as (stream,):
            stream.wait_open()
            wait_live(stream)
            own_redis.stop()
            wait_live(stream, live=False, timeout=20)
            token = join_token(running, group)
            status, answer = carol.call(
                "POST", f"/api/groups/{group}/join", {"token": token}
            )
            assert status == 200, answer
            during = [alice.post_message(group) for _ in range(3)]
            own_redis.start()
            wait_live(stream, timeout=20)
            caught_up = message_ids(stream.expect({"message"}, len(during), quiet=1.0))
            after = alice.post_message(group)
            live = message_ids(stream.expect({"message"}, 1, quiet=1.0))
        assert sorted(set(caught_up)) == during
        assert live == [after]
        for server in running.servers:
            assert "Traceback" not in server.log_text()
    finally:
        running.stop()


def wait_live(stream: SseStream, live: bool = True, timeout: float = 10) -> None:
    """Wait for the stream to say that live delivery works (a process's
    first stream opens before its hub has subscribed), or with ``live``
    false that it stopped; a status repeated meanwhile is passed over."""
    stream.wait_open()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = stream.next({"realtime"}, timeout=deadline - time.monotonic())
        if status is not None and status.json() == {"live": live}:
            return
    raise AssertionError(f"the stream never said live delivery is {live}")


def join_token(running: Cluster, group: str) -> str:
    """Give the seeded group a known join token; return it."""
    import base64
    import subprocess
    import sys

    from tests.e2e.server import REPO_ROOT

    token = base64.b64encode(secrets.token_bytes(32)).decode()
    script = (
        "import django, sys; django.setup();"
        "from groups.models import Group; from hashwhisper.crypto import token_hash;"
        "import base64;"
        "Group.objects.filter(pk=sys.argv[1]).update("
        "token_hash=token_hash(base64.b64decode(sys.argv[2])))"
    )
    env = dict(running.env)
    env.setdefault("DJANGO_SETTINGS_MODULE", "hashwhisper.settings")
    subprocess.run(
        [sys.executable, "-c", script, group, token],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return token


# Hostile payloads, real process ---------------------------------------------


def test_malformed_group_channel_payloads_do_not_drop_the_fan_out(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    # Whatever lands on a group's (or the control) channel, the process
    # keeps its subscription: its streams are not told that live delivery
    # went down, and the next real event arrives.
    running = start_cluster(tmp_path, 1, redis_url=own_redis.url)
    try:
        seeded = running.seed(
            {"users": ["alice", "bob", "spy"], "groups": {"g": ["alice", "bob"]}}
        )
        group = seeded["groups"]["g"]
        server = running.servers[0]
        alice = Api(server.base_url, seeded["users"]["alice"]["sessions"][0])
        bob_id = seeded["users"]["bob"]["id"]
        spy_id = seeded["users"]["spy"]["id"]
        prefix = running.env["HASHWHISPER_REALTIME_PREFIX"]
        with streams(
            SseStream(server.base_url, seeded["users"]["bob"]["sessions"][0]),
            SseStream(server.base_url, seeded["users"]["spy"]["sessions"][0]),
        ) as (bob, spy):
            wait_live(bob)
            wait_live(spy)
            first = alice.post_message(group)
            assert message_ids(bob.expect({"message"}, 1)) == [first]
            junk: list[bytes] = [
                b"[]",
                b'"text"',
                b"null",
                b"42",
                b"[" * 100_000 + b"]" * 100_000,
                b'{"k":"message","d":"{}","r":' + b"9" * 5000 + b"}",
                b"\xff\xfe",
                b'{"k":"message"}',
            ]
            # Well formed, but with recipients tampered with: nobody here.
            tampered: list[bytes] = [
                json.dumps(
                    {"k": "message", "d": "{}", "r": [str(spy_id), True, 1.0]}
                ).encode(),
                json.dumps({"k": "message", "d": "{}", "r": {"a": spy_id}}).encode(),
                json.dumps({"k": "message", "d": "{}", "r": None}).encode(),
            ]
            client = redis.Redis.from_url(own_redis.url)
            try:
                for raw in junk:
                    client.publish(f"{prefix}g:{group}", raw)
                    client.publish(f"{prefix}ctl", raw)
                    client.publish(f"{prefix}u:{bob_id}", raw)
                for raw in tampered:
                    client.publish(f"{prefix}g:{group}", raw)
                # A huge list naming someone else: delivered to no one here.
                listed = list(range(1_000_000, 1_200_000))
                client.publish(
                    f"{prefix}g:{group}",
                    bus.Envelope(
                        "typing", "{}", group=group, recipients=tuple(listed)
                    ).encode(),
                )
            finally:
                client.close()
            second = alice.post_message(group)
            received = bob.collect({"message", "realtime", "typing"}, quiet=1.0)
            spied = spy.collect({"message", "typing", "realtime"}, quiet=0.3)
        # A stream opening as the hub first connects may hear "live" twice;
        # it must never hear that live delivery went down.
        statuses = [e.json() for e in [*received, *spied] if e.kind == "realtime"]
        assert {"live": False} not in statuses
        assert [(e.kind, e.json()["id"]) for e in received if e.kind != "realtime"] == [
            ("message", second)
        ]
        assert [e for e in spied if e.kind != "realtime"] == []
        log = server.log_text()
        assert "live fan-out down" not in log, log
        assert "Traceback" not in log, log
    finally:
        running.stop()


# The hub's bookkeeping, one process ------------------------------------------


def new_group(owner_name: str, *members: User) -> str:
    owner = make_user(owner_name)[0]
    group = Group.objects.create(
        id=secrets.token_urlsafe(16)[:22],
        salt=b"s" * 16,
        iterations=600_000,
        token_hash=secrets.token_bytes(32),
        name_ciphertext=b"n",
        name_nonce=b"n" * 12,
        name_tag=b"t" * 16,
        created_by=owner,
    )
    for member in members:
        Membership.objects.create(group=group, user=member)
    return str(group.pk)


def heard(listener: local.StreamListener, data: str) -> bool:
    return any(
        e.data == data for items in listener.channel_items.values() for e in items
    )


@contextmanager
def listening(user_id: int) -> Iterator[local.StreamListener]:
    """A listener of the user's streams, on the running loop, for the block."""
    listener = local.StreamListener(user_id, "s")
    listener.assign_loop()
    manager = get_listener_manager()
    manager.add_listener(listener)
    try:
        yield listener
    finally:
        manager.remove_listener(listener)


async def until_listed(own_redis: OwnRedis, group_id: str) -> None:
    """Wait (up to 5 s) until Redis lists a subscriber of the group's channel.

    The hub counts a channel as subscribed once it has asked for it; an
    event that is not stored (typing) is only heard once Redis has it too.
    """
    for _ in range(250):
        if await asyncio.to_thread(listens, own_redis, group_id):
            return
        await asyncio.sleep(0.02)


def listens(own_redis: OwnRedis, group_id: str) -> bool:
    """Whether Redis lists a subscriber of the group's channel."""
    client = redis.Redis.from_url(own_redis.url)
    try:
        counts = client.pubsub_numsub(bus.group_topic(group_id))
    finally:
        client.close()
    return bool(counts and counts[0][1])


def run_with_hub(own_redis: OwnRedis, scenario: Callable[..., object]) -> object:
    """Run ``scenario(hub)`` on a hub of its own over ``own_redis``."""
    from chat.realtime.hub import Hub

    async def main() -> object:
        hub = Hub(own_redis.url, asyncio.get_running_loop())
        try:
            assert await wait_for(lambda: hub.connected)
            return await scenario(hub)  # type: ignore[misc]
        finally:
            hub.stop()

    with on_own_redis(own_redis):
        return asyncio.run(main())


@pytest.fixture
def fresh_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bus, "publisher", bus.Publisher())


@pytest.mark.django_db(transaction=True)
def test_a_join_heard_while_a_resync_reads_the_groups_is_kept(
    own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch, fresh_publisher: None
) -> None:
    # A resync (Redis failed a publish a moment ago) makes the hub read every
    # local user's groups again. Carol joins a group while that read is under
    # way: the read saw the database before her join, the join's control
    # message arrives before the read ends. The group must stay subscribed.
    from chat.realtime import hub as hub_module

    carol = make_user("carol")[0]
    first = new_group("owner1", carol)
    second = new_group("owner2")
    original = hub_module.groups_of
    read_done, release = threading.Event(), threading.Event()

    def slow(user_ids: list[int]) -> dict[int, set[str]]:
        found = original(user_ids)
        if release.is_set():
            return found
        read_done.set()
        release.wait(10)
        return found

    async def scenario(hub: hub_module.Hub) -> tuple[bool, bool, set[str], bool]:
        with listening(carol.pk) as listener:
            try:
                assert await hub.attach(carol.pk)
                monkeypatch.setattr(hub_module, "groups_of", slow)
                hub.control({"op": "resync"})
                assert await asyncio.to_thread(read_done.wait, 5)
                # The join commits; its control message reaches the hub.
                await asyncio.to_thread(
                    Membership.objects.create, group_id=second, user=carol
                )
                topic = bus.group_topic(second)
                joined = await wait_for(lambda: topic in hub.subscribed)
                release.set()
                await wait_for(lambda: not hub.background)
                await asyncio.sleep(0.3)
                await asyncio.to_thread(
                    bus.publish_event, [carol.pk], "typing", '{"t":2}', group=second
                )
                return (
                    joined,
                    await wait_for(lambda: heard(listener, '{"t":2}')),
                    set(hub.user_groups.get(carol.pk, set())),
                    not hub.catch_up,
                )
            finally:
                release.set()

    result = run_with_hub(own_redis, scenario)
    assert result == (True, True, {first, second}, True)


@pytest.mark.django_db(transaction=True)
def test_a_stream_given_up_while_it_waits_for_its_channel_is_not_counted(
    own_redis: OwnRedis,
) -> None:
    # A stream whose task is cancelled while it waits for its user's channel
    # (Django cancels a streaming response whose client left) must not stay
    # counted: its user's and groups' channels would be listened to for
    # the life of the process.
    carol = make_user("carol")[0]
    group = new_group("owner", carol)

    async def scenario(hub: object) -> tuple[dict[int, int], bool, dict[int, list]]:
        from chat.realtime.hub import Hub

        assert isinstance(hub, Hub)
        task = asyncio.ensure_future(hub.attach(carol.pk))
        while not hub.waiters.get(carol.pk):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        topics = {bus.user_topic(carol.pk), bus.group_topic(group)}
        dropped = await wait_for(lambda: not topics & hub.subscribed, 3)
        return dict(hub.counts), dropped, {k: v for k, v in hub.waiters.items() if v}

    assert run_with_hub(own_redis, scenario) == ({}, True, {})


@pytest.mark.django_db(transaction=True)
def test_a_join_of_a_user_whose_stream_closes_at_once_leaves_nothing_behind(
    own_redis: OwnRedis,
) -> None:
    carol = make_user("carol")[0]
    new_group("owner1", carol)
    second = new_group("owner2")

    async def scenario(hub: object) -> tuple[dict[str, set[int]], set[str]]:
        from chat.realtime.hub import Hub

        assert isinstance(hub, Hub)
        assert await hub.attach(carol.pk)
        hub.joined(carol.pk, second)
        hub.detach(carol.pk)
        await wait_for(lambda: not hub.subscribed, 3)
        await asyncio.sleep(0.2)
        return dict(hub.catch_up), set(hub.subscribed)

    assert run_with_hub(own_redis, scenario) == ({}, set())


@pytest.mark.django_db(transaction=True)
def test_the_database_failing_as_streams_open_leaves_the_hub_working(
    own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch, fresh_publisher: None
) -> None:
    # The database fails the read of Carol's groups, which two of her
    # streams wait for; a third stream opens just as they hear of it. The
    # failed streams end; the hub's books stay right, and the third stream
    # (and any later one) hears her groups.
    from django.db import OperationalError

    from chat.realtime import hub as hub_module

    carol = make_user("carol")[0]
    group = new_group("owner", carol)
    original = hub_module.groups_of
    calls: list[list[int]] = []
    release = threading.Event()

    def failing_once(user_ids: list[int]) -> dict[int, set[str]]:
        calls.append(list(user_ids))
        if len(calls) == 1:
            release.wait(10)
            raise OperationalError("the database went away")
        return original(user_ids)

    monkeypatch.setattr(hub_module, "groups_of", failing_once)

    async def scenario(hub: hub_module.Hub) -> tuple[list[str], bool, bool]:
        with listening(carol.pk) as listener:
            try:
                first = asyncio.ensure_future(hub.attach(carol.pk))
                await wait_for(lambda: carol.pk in hub.loading)
                loading = hub.loading[carol.pk]
                third: list[asyncio.Future[bool]] = []
                # The third stream starts between the two failing ones'
                # wake-ups.
                loading.add_done_callback(
                    lambda _: third.append(asyncio.ensure_future(hub.attach(carol.pk)))
                )
                second = asyncio.ensure_future(hub.attach(carol.pk))
                await asyncio.sleep(0.05)
                release.set()
                outcomes = []
                for task in (first, second):
                    try:
                        await task
                        outcomes.append("opened")
                    except OperationalError:
                        outcomes.append("failed")
                assert await wait_for(lambda: bool(third))
                live = await third[0]
                await asyncio.to_thread(
                    bus.publish_event, [carol.pk], "typing", '{"t":3}', group=group
                )
                got = await wait_for(lambda: heard(listener, '{"t":3}'))
                return [*outcomes, str(live)], got, hub.counts == {carol.pk: 1}
            finally:
                release.set()

    assert run_with_hub(own_redis, scenario) == (
        ["failed", "failed", "True"],
        True,
        True,
    )


@pytest.mark.django_db(transaction=True)
def test_groups_the_database_could_not_give_at_a_reconnect_are_read_later(
    own_redis: OwnRedis,
    monkeypatch: pytest.MonkeyPatch,
    fresh_publisher: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Redis and the database fail together. Carol joins a group meanwhile
    # (its control message goes down with Redis); Redis comes back first, so
    # the hub's read of her groups at the reconnect fails. Once the database
    # answers, the hub reads them again by itself and the group's events
    # reach her stream; the failure and the recovery are logged once each.
    from django.db import OperationalError

    from chat.realtime import hub as hub_module

    carol = make_user("carol")[0]
    original = hub_module.groups_of
    down = threading.Event()
    failed: list[list[int]] = []

    def flaky(user_ids: list[int]) -> dict[int, set[str]]:
        if down.is_set():
            failed.append(list(user_ids))
            raise OperationalError("the database went away")
        return original(user_ids)

    monkeypatch.setattr(hub_module, "groups_of", flaky)

    async def scenario(hub: hub_module.Hub) -> tuple[bool, int, bool, bool]:
        with listening(carol.pk) as listener:
            try:
                assert await hub.attach(carol.pk)
                down.set()
                await asyncio.to_thread(own_redis.stop)
                assert await wait_for(lambda: not hub.connected)
                group = await asyncio.to_thread(new_group, "owner", carol)
                await asyncio.to_thread(own_redis.start)
                assert await wait_for(lambda: hub.connected, 10)
                # Several reads fail while the database stays away.
                assert await wait_for(lambda: len(failed) >= 3, 10)
                known_while_down = group in hub.user_groups[carol.pk]
                down.clear()
                subscribed = await wait_for(
                    lambda: bus.group_topic(group) in hub.subscribed, 10
                )
                await until_listed(own_redis, group)
                await asyncio.to_thread(
                    bus.publish_event, [carol.pk], "typing", '{"t":9}', group=group
                )
                got = await wait_for(lambda: heard(listener, '{"t":9}'))
                return known_while_down, len(failed), subscribed, got
            finally:
                down.clear()

    with caplog.at_level(logging.WARNING, logger=hub_module.log.name):
        outcome = run_with_hub(own_redis, scenario)
    known_while_down, failures, subscribed, got = cast(
        "tuple[bool, int, bool, bool]", outcome
    )
    assert not known_while_down and failures >= 3
    assert subscribed and got
    lines = [r.getMessage() for r in caplog.records if r.name == hub_module.log.name]
    assert [line for line in lines if "groups of this process" in line] == [
        "could not read the groups of this process's streams (OperationalError);"
        " trying again",
        "read the groups of this process's streams again",
    ]


@pytest.mark.django_db(transaction=True)
def test_publishing_goes_on_as_soon_as_the_hub_is_back(
    own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch, fresh_publisher: None
) -> None:
    # A publish fails while Redis is away, which pauses publishing. Redis
    # comes back and the hub subscribes again, so its streams are told the
    # fan-out is live. A message posted then must be published, not skipped
    # because the pause is still running (it was: nothing published it, and
    # nothing read it back either). The pause is made long so the hub is
    # surely back before it ends.
    monkeypatch.setattr(bus, "RETRY_AFTER_SECONDS", 60.0)
    carol = make_user("carol")[0]
    group = new_group("owner", carol)

    async def scenario(hub: Any) -> tuple[bool, bool, bool]:
        with listening(carol.pk) as listener:
            assert await hub.attach(carol.pk)
            await asyncio.to_thread(own_redis.stop)
            assert await wait_for(lambda: not hub.connected)
            failed = await asyncio.to_thread(
                bus.publish_event, [carol.pk], "typing", '{"t":1}', group=group
            )
            await asyncio.to_thread(own_redis.start)
            assert await wait_for(lambda: hub.connected, 10)
            await until_listed(own_redis, group)
            published = await asyncio.to_thread(
                bus.publish_event, [carol.pk], "typing", '{"t":2}', group=group
            )
            got = await wait_for(lambda: heard(listener, '{"t":2}'))
            return failed, published, got

    assert run_with_hub(own_redis, scenario) == (False, True, True)
