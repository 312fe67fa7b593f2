"""Presence (online, away, offline) from heartbeats, and typing notices.

A browser's stream-holding tab sends a heartbeat every third of the
time-to-live: ``online`` while one of its tabs is visible, else ``away``.
Each heartbeat keeps its state alive for ``HASHWHISPER_PRESENCE_TTL``
seconds. A user is online while an ``online`` heartbeat is alive, else away
while an ``away`` one is, else offline; a user's tabs and devices therefore
count once, and a user who closes every tab turns offline when the last
heartbeat runs out.

The state lives in Redis when it is configured, so every worker sees the
same, and in this process otherwise (one process then serves everyone).
Each change of a user's state is published once, to the people who share a
group with them, as a ``presence`` event carrying ids only. Changes from
heartbeats are found when the heartbeat arrives; expiries are found by a
periodic sweep that every worker runs (``hub``). In Redis both happen in a
Lua script, so when two workers sweep at once only one of them sees a
change and publishes it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from typing import Any, Protocol

import redis
from django.core.cache import cache

from chat.realtime import bus, config
from groups.models import Group, Membership

ONLINE = "online"
AWAY = "away"
OFFLINE = "offline"
HEARTBEAT_STATES = (ONLINE, AWAY)


class Unavailable(Exception):
    """The presence store (Redis) cannot be reached right now."""


def sweep_interval() -> float:
    """How often expiries are looked for: a quarter of the time-to-live."""
    return min(max(config.presence_ttl() / 4, 0.25), 5.0)


class Store(Protocol):
    def heartbeat(self, user_id: int, state: str, now: float) -> str | None: ...

    def sweep(self, now: float) -> list[tuple[int, str]]: ...

    def states(self, user_ids: list[int], now: float) -> dict[int, str]: ...


# The shared part of both Lua scripts: the effective state of one user, and
# whether it differs from the last one published (which it then records).
_SETTLE = """
local function settle(uid, now)
  local state = 'offline'
  local online = redis.call('ZSCORE', KEYS[1], uid)
  if online and tonumber(online) > now then
    state = 'online'
  else
    if online then redis.call('ZREM', KEYS[1], uid) end
    local away = redis.call('ZSCORE', KEYS[2], uid)
    if away and tonumber(away) > now then
      state = 'away'
    elseif away then
      redis.call('ZREM', KEYS[2], uid)
    end
  end
  local shown = redis.call('HGET', KEYS[3], uid) or 'offline'
  if shown == state then return false end
  if state == 'offline' then
    redis.call('HDEL', KEYS[3], uid)
  else
    redis.call('HSET', KEYS[3], uid, state)
  end
  return state
end
"""

_HEARTBEAT = (
    _SETTLE
    + """
local key = KEYS[1]
if ARGV[2] == 'away' then key = KEYS[2] end
redis.call('ZADD', key, ARGV[4], ARGV[1])
return settle(ARGV[1], tonumber(ARGV[3]))
"""
)

_SWEEP = (
    _SETTLE
    + """
local now = tonumber(ARGV[1])
local due = {}
for _, uid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  due[uid] = true
end
for _, uid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  due[uid] = true
end
local changed = {}
for uid, _ in pairs(due) do
  local state = settle(uid, now)
  if state then
    table.insert(changed, uid)
    table.insert(changed, state)
  end
end
return changed
"""
)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStore:
    """Presence in Redis, through the publisher's shared client and its
    pause after a failure (``bus.Publisher.call``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = bus.publisher_client(url)
        self._heartbeat = self.client.register_script(_HEARTBEAT)
        self._sweep = self.client.register_script(_SWEEP)

    def keys(self) -> list[str]:
        base = f"{config.prefix()}presence:"
        return [base + "online", base + "away", base + "shown"]

    def heartbeat(self, user_id: int, state: str, now: float) -> str | None:
        expiry = now + config.presence_ttl()
        try:
            changed = bus.publisher.call(
                self.url,
                lambda client: self._heartbeat(
                    keys=self.keys(),
                    args=[user_id, state, repr(now), repr(expiry)],
                    client=client,
                ),
            )
        except (redis.RedisError, OSError) as error:
            raise Unavailable from error
        return _text(changed) if changed else None

    def sweep(self, now: float) -> list[tuple[int, str]]:
        try:
            flat = bus.publisher.call(
                self.url,
                lambda client: self._sweep(
                    keys=self.keys(), args=[repr(now)], client=client
                ),
            )
        except (redis.RedisError, OSError) as error:
            raise Unavailable from error
        return [
            (int(_text(flat[i])), _text(flat[i + 1])) for i in range(0, len(flat), 2)
        ]

    def states(self, user_ids: list[int], now: float) -> dict[int, str]:
        online_key, away_key, _ = self.keys()

        def read(client: redis.Redis) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for user_id in user_ids:
                pipe.zscore(online_key, user_id)
                pipe.zscore(away_key, user_id)
            return list(pipe.execute())

        try:
            scores = bus.publisher.call(self.url, read)
        except (redis.RedisError, OSError) as error:
            raise Unavailable from error
        found = {}
        for index, user_id in enumerate(user_ids):
            online, away = scores[2 * index], scores[2 * index + 1]
            found[user_id] = _effective(online, away, now)
        return found


def _effective(online: float | None, away: float | None, now: float) -> str:
    if online is not None and online > now:
        return ONLINE
    if away is not None and away > now:
        return AWAY
    return OFFLINE


class LocalStore:
    """The same rules in this process, for a deployment without Redis."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.expiry: dict[str, dict[int, float]] = {ONLINE: {}, AWAY: {}}
        self.shown: dict[int, str] = {}

    def _settle(self, user_id: int, now: float) -> str | None:
        online = self.expiry[ONLINE].get(user_id)
        away = self.expiry[AWAY].get(user_id)
        state = _effective(online, away, now)
        if online is not None and online <= now:
            del self.expiry[ONLINE][user_id]
        if away is not None and away <= now:
            del self.expiry[AWAY][user_id]
        if self.shown.get(user_id, OFFLINE) == state:
            return None
        if state == OFFLINE:
            self.shown.pop(user_id, None)
        else:
            self.shown[user_id] = state
        return state

    def heartbeat(self, user_id: int, state: str, now: float) -> str | None:
        with self.lock:
            self.expiry[state][user_id] = now + config.presence_ttl()
            return self._settle(user_id, now)

    def sweep(self, now: float) -> list[tuple[int, str]]:
        with self.lock:
            due = {
                user_id
                for table in self.expiry.values()
                for user_id, expiry in table.items()
                if expiry <= now
            }
            changes = [(u, self._settle(u, now)) for u in sorted(due)]
        return [(u, s) for u, s in changes if s is not None]

    def states(self, user_ids: list[int], now: float) -> dict[int, str]:
        with self.lock:
            return {
                u: _effective(self.expiry[ONLINE].get(u), self.expiry[AWAY].get(u), now)
                for u in user_ids
            }


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def store() -> Store:
    url = config.redis_url()
    with _stores_lock:
        found = _stores.get(url)
        if found is None:
            found = RedisStore(url) if url else LocalStore()
            _stores[url] = found
        return found


def co_members(user_id: int) -> list[int]:
    """Everyone who shares at least one group with ``user_id``."""
    rows = (
        Membership.objects.filter(group__memberships__user_id=user_id)
        .exclude(user_id=user_id)
        .values_list("user_id", flat=True)
        .distinct()
    )
    return list(rows)


def announce(changes: Iterable[tuple[int, str]]) -> None:
    for user_id, state in changes:
        data = json.dumps({"user": user_id, "state": state})
        bus.publish_event(co_members(user_id), "presence", data)


def heartbeat(user_id: int, state: str, now: float | None = None) -> str:
    """Record a heartbeat; publish the user's new state if it changed.

    Returns the user's state after the heartbeat. Raises ``Unavailable``
    when Redis is configured but unreachable.
    """
    if state not in HEARTBEAT_STATES:
        raise ValueError(f"unknown presence state {state!r}")
    moment = time.time() if now is None else now
    changed = store().heartbeat(user_id, state, moment)
    if changed is not None:
        announce([(user_id, changed)])
    return store().states([user_id], moment)[user_id]


def sweep(now: float | None = None) -> list[tuple[int, str]]:
    """Find users whose heartbeats ran out, and publish their new state."""
    from chat.realtime.storage import released

    changes = store().sweep(time.time() if now is None else now)
    if changes:
        released(lambda: announce(changes))
    return changes


def states_of(user_ids: list[int], now: float | None = None) -> dict[int, str]:
    """The users' states; raises ``Unavailable`` when Redis cannot be read."""
    return store().states(user_ids, time.time() if now is None else now)


def group_states(group: Group, now: float | None = None) -> dict[int, str]:
    members = list(
        Membership.objects.filter(group=group).values_list("user_id", flat=True)
    )
    return states_of(members, now)


class TypingTooFast(Exception):
    """A typing notice within the interval of the previous one."""


def typing(user_id: int, group: Group) -> None:
    """Tell the other members that ``user_id`` is typing in ``group``.

    One notice per user and group is accepted per ``typing_interval``;
    browsers send one every few seconds while a person types. Raises
    ``TypingTooFast`` for more, and ``Unavailable`` if Redis is down.
    """
    interval = config.typing_interval()
    key = f"{config.prefix()}typing:{group.pk}:{user_id}"
    url = config.redis_url()
    if url:
        try:
            fresh = bool(
                bus.publisher.call(url, lambda c: c.set(key, 1, nx=True, ex=interval))
            )
        except (redis.RedisError, OSError) as error:
            raise Unavailable from error
    else:
        fresh = cache.add(key, 1, timeout=interval)
    if not fresh:
        raise TypingTooFast
    others = (
        Membership.objects.filter(group=group)
        .exclude(user_id=user_id)
        .values_list("user_id", flat=True)
    )
    data = json.dumps({"group": group.pk, "user": user_id})
    bus.publish_event(list(others), "typing", data, group=group.pk)
