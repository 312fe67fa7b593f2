"""Presence from heartbeats with a time-to-live, and throttled typing.

The rules are checked on both stores (Redis, and the in-process one used
without Redis) with the clock in the test's hands; then a real server with
a two-second time-to-live shows a user going online and, once the
heartbeats stop, offline, as the other members' streams see it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from chat.realtime import presence
from tests.realtime.conftest import PRESENCE_TTL
from tests.realtime.support import Deployment, OwnRedis, SseEvent, streams

TTL = 2


@pytest.fixture(params=["local", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[presence.Store]:
    with override_settings(
        HASHWHISPER_PRESENCE_TTL=TTL,
        HASHWHISPER_REALTIME_PREFIX=f"hwtest:{secrets.token_hex(4)}:",
    ):
        if request.param == "local":
            yield presence.LocalStore()
            return
        own: OwnRedis = request.getfixturevalue("own_redis")
        yield presence.RedisStore(own.url)


def test_a_heartbeat_turns_a_user_online_once(store: presence.Store) -> None:
    assert store.states([1], 100.0) == {1: "offline"}
    assert store.heartbeat(1, "online", 100.0) == "online"
    # A second tab (or the next beat) changes nothing, so nothing is said.
    assert store.heartbeat(1, "online", 100.5) is None
    assert store.states([1, 2], 101.0) == {1: "online", 2: "offline"}


def test_silence_turns_a_user_offline_after_the_ttl(store: presence.Store) -> None:
    store.heartbeat(1, "online", 100.0)
    store.heartbeat(2, "online", 101.0)
    assert store.sweep(100.0 + TTL - 0.1) == []
    assert store.sweep(100.0 + TTL + 0.1) == [(1, "offline")]
    # Announced once: a second sweep (another worker's) finds nothing.
    assert store.sweep(100.0 + TTL + 0.2) == []
    assert store.states([1, 2], 100.0 + TTL + 0.2) == {1: "offline", 2: "online"}


def test_a_visible_tab_wins_over_hidden_ones(store: presence.Store) -> None:
    assert store.heartbeat(1, "away", 100.0) == "away"
    assert store.heartbeat(1, "online", 100.5) == "online"
    # A hidden tab's beat does not hide the visible one.
    assert store.heartbeat(1, "away", 101.0) is None
    assert store.states([1], 101.5) == {1: "online"}
    # Once the visible tab stops, the user is away until that runs out too.
    assert store.sweep(100.5 + TTL + 0.01) == [(1, "away")]
    assert store.sweep(101.0 + TTL + 0.01) == [(1, "offline")]


def states_of(events: list[SseEvent], user_id: int) -> list[str]:
    return [e.json()["state"] for e in events if e.json()["user"] == user_id]


def test_presence_goes_online_and_offline_on_the_stream(pair: Deployment) -> None:
    alice, bob, mallory = pair.person(), pair.person(), pair.person()
    group = pair.group(alice, bob)
    # Two tabs (two sessions, on two processes) beat for Alice.
    tabs = [pair.api(alice, server=0, session=0), pair.api(alice, server=1, session=1)]
    with streams(pair.stream(bob), pair.stream(mallory)) as (watcher, stranger):
        watcher.wait_open()
        stranger.wait_open()
        for _ in range(3):
            for tab in tabs:
                status, body = tab.call("POST", "/api/presence", {"state": "online"})
                assert (status, body["state"]) == (200, "online")
            time.sleep(0.3)
        status, body = tabs[0].call("GET", f"/api/groups/{group}/presence")
        assert status == 200
        assert body["presence"] == {str(alice.id): "online", str(bob.id): "offline"}
        # The tabs count once: one "online", however many beats.
        assert states_of(watcher.expect({"presence"}, 1, quiet=0.2), alice.id) == [
            "online"
        ]

        started = time.monotonic()
        offline = watcher.next({"presence"}, timeout=PRESENCE_TTL + 5)
        assert offline is not None
        assert offline.json() == {"user": alice.id, "state": "offline"}
        # Within the time-to-live (plus one sweep) of the last heartbeat.
        assert time.monotonic() - started < PRESENCE_TTL + 1.5
        # Someone who shares no group with Alice hears nothing of her.
        assert stranger.collect({"presence"}, quiet=0.2) == []


def test_typing_is_rate_limited_and_reaches_the_others_only(pair: Deployment) -> None:
    alice, bob, mallory = pair.person(), pair.person(), pair.person()
    group = pair.group(alice, bob)
    typist = pair.api(alice, server=1)
    with streams(pair.stream(bob), pair.stream(alice, session=1)) as (
        reader,
        own_tab,
    ):
        reader.wait_open()
        own_tab.wait_open()
        answers = [
            typist.call("POST", f"/api/groups/{group}/typing", {})[0] for _ in range(5)
        ]
        assert answers == [202, 429, 429, 429, 429]
        typing = reader.expect({"typing"}, 1, quiet=0.3)
        assert [e.json() for e in typing] == [{"group": group, "user": alice.id}]
        # The typist's own tabs are not told.
        assert own_tab.collect({"typing"}, quiet=0.1) == []
        # After the interval, one more is accepted.
        time.sleep(2.05)
        assert typist.call("POST", f"/api/groups/{group}/typing", {})[0] == 202
        assert reader.next({"typing"}, timeout=2) is not None
    # A non-member cannot announce typing in the group (same 404 as unknown).
    assert pair.api(mallory).call("POST", f"/api/groups/{group}/typing", {})[0] == 404


def test_a_frozen_redis_costs_one_heartbeat_its_timeout_not_every_one(
    own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    from chat.realtime import bus

    monkeypatch.setattr(bus, "publisher", bus.Publisher())
    with override_settings(
        HASHWHISPER_PRESENCE_TTL=TTL,
        HASHWHISPER_REALTIME_PREFIX=f"hwtest:{secrets.token_hex(4)}:",
    ):
        store = presence.RedisStore(own_redis.url)
        assert store.heartbeat(1, "online", 100.0) == "online"
        assert own_redis.process is not None
        own_redis.process.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(presence.Unavailable):
                store.heartbeat(1, "online", 101.0)
            assert time.monotonic() - started < 5
            # The next ones fail at once while Redis stays frozen ...
            started = time.monotonic()
            for beat in range(5):
                with pytest.raises(presence.Unavailable):
                    store.heartbeat(2, "online", 102.0 + beat)
            with pytest.raises(presence.Unavailable):
                store.states([1, 2], 103.0)
            assert time.monotonic() - started < 0.5
        finally:
            own_redis.process.send_signal(signal.SIGCONT)
        # Publishing keeps its own pause: a message posted the moment Redis
        # is back is not skipped because presence failed a moment before.
        assert bus.publisher.publish(own_redis.url, ["hwtest:any"], b"{}")
        time.sleep(bus.RETRY_AFTER_SECONDS)
        assert store.heartbeat(2, "online", 110.0) == "online"
