"""Per-user allowances: how much of one thing an account may do per period.

``spend`` is the one counter: messages posted (``count_post``), uploads
reserved and their bytes (media_vault.services) and groups created
(groups.views) each count through it under a name of their own. Every
allowance is set far above what a person does by hand; it stops a member's
script from filling the database and the disk.

A user's period starts with their first use after the last one ended, so
a burst is never split across two periods' allowances (at most twice the
allowance fits in any period, across the boundary).

The count lives in Redis when ``HASHWHISPER_REDIS_URL`` is set, through the
publisher's client and its pause after a failure (``bus.Publisher.call``),
else in the local cache. While Redis is away each process counts in its own
memory instead: posting, uploads and group changes go on during an outage
(the bus logs once that fan-out is down), and a script still meets the
allowance in every process it reaches (so at most the number of processes
times the allowance in all). The count in Redis takes over again when it is
back.

Missing: a cap on what one member stores over the seven days a message
lives. At the default rate that is still about 600 000 messages a week;
a per-group storage quota needs its own design (what to refuse, and how the
browser says so), so it is left for later.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache

from chat.realtime import bus, config
from hashwhisper.api import ApiError

security_log = logging.getLogger("hashwhisper.security")

# The posting period; tests shorten it.
WINDOW_SECONDS = 60

# This process's own counts, for while Redis is away.
OUTAGE_COUNTS = LocMemCache("hashwhisper-limits-while-redis-is-away", {})


class TooFast(Exception):
    """This user used the period's allowance already."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def per_minute() -> int:
    """Messages a user may post per minute; 0 turns the limit off."""
    return int(getattr(settings, "HASHWHISPER_MESSAGES_PER_MINUTE", 60))


def _count_in_redis(
    url: str, key: str, amount: int, window: int
) -> tuple[int, float] | None:
    def increment(client: redis.Redis) -> tuple[int, float]:
        pipe = client.pipeline(transaction=False)
        pipe.incrby(key, amount)
        pipe.expire(key, window, nx=True)
        pipe.ttl(key)
        count, _, left = pipe.execute()
        return int(count), float(left)

    try:
        return bus.publisher.call(url, increment)
    except (redis.RedisError, OSError):
        return None


def _count_in_cache(
    store: BaseCache, key: str, amount: int, window: int
) -> tuple[int, float]:
    now = time.time()
    store.add(f"{key}:start", now, timeout=window)
    started = float(store.get(f"{key}:start", now))
    store.add(key, 0, timeout=window)
    try:
        count = int(store.incr(key, amount))
    except ValueError:
        # The key expired between add() and incr(): this is its first use.
        store.add(key, amount, timeout=window)
        count = amount
    return count, started + window - now


def _give_back_in_cache(store: BaseCache, key: str, amount: int) -> None:
    # ValueError: the period ended meanwhile, nothing is left to return.
    with contextlib.suppress(ValueError):
        store.decr(key, amount)


# Decrements only a count that still exists: one that expired meanwhile must
# not come back as a negative count without an expiry.
GIVE_BACK = """
if redis.call('exists', KEYS[1]) == 1 then
  return redis.call('decrby', KEYS[1], ARGV[1])
end
return 0
"""


def _key(name: str, user_id: int) -> str:
    # The rate-limit namespace of the account forms: one per deployment.
    return f"{settings.RATELIMIT_CACHE_PREFIX}{name}:{user_id}"


def give_back(name: str, user_id: int, amount: int = 1) -> None:
    """Return ``amount`` that ``spend`` counted for an action not done."""
    key = _key(name, user_id)
    url = config.redis_url()
    if not url:
        _give_back_in_cache(cache, key, amount)
        return
    try:
        bus.publisher.call(url, lambda client: client.eval(GIVE_BACK, 1, key, amount))
    except (redis.RedisError, OSError):
        # Counted in this process's memory, if Redis was already away.
        _give_back_in_cache(OUTAGE_COUNTS, key, amount)


def spend(
    name: str,
    user_id: int,
    *,
    limit: int,
    window: int,
    amount: int = 1,
) -> None:
    """Count ``amount`` of ``name`` for ``user_id`` in a period of ``window``
    seconds; raise ``TooFast`` if that passes ``limit``.

    A refused use is not counted, so the refusal changes nothing and a
    smaller amount may still fit. ``limit`` 0 turns the allowance off.
    """
    if limit <= 0:
        return
    key = _key(name, user_id)
    url = config.redis_url()
    counted = _count_in_redis(url, key, amount, window) if url else None
    if counted is None:
        counted = _count_in_cache(OUTAGE_COUNTS if url else cache, key, amount, window)
    total, seconds_left = counted
    if total > limit:
        # Between the increment and this, a concurrent use may be refused
        # although both would fit: the error is on the safe side.
        give_back(name, user_id, amount)
        raise TooFast(max(math.ceil(seconds_left), 1))


def wait_text(seconds: int) -> str:
    """How long to wait, for a refusal's message: "1 second", "42 minutes"."""
    if seconds >= 120:
        amount, unit = math.ceil(seconds / 60), "minute"
    else:
        amount, unit = seconds, "second"
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


def refusal(
    exc: TooFast, doing: str, *, code: str = "too_much", then: str = "try again"
) -> ApiError:
    """The 429 answer to an allowance used up: what the user did, how long
    to wait (also as Retry-After), and a ``code`` for the browser."""
    return ApiError(
        429,
        f"{doing}. Wait {wait_text(exc.retry_after)}, then {then}.",
        code=code,
        headers={"Retry-After": str(exc.retry_after)},
    )


def spend_or_refuse(
    name: str, user_id: int, *, limit: int, window: int, doing: str
) -> None:
    """``spend`` one; past the allowance, log it and answer ``refusal``."""
    try:
        spend(name, user_id, limit=limit, window=window)
    except TooFast as exc:
        security_log.info("allowance used name=%s user_id=%s", name, user_id)
        raise refusal(exc, doing) from exc


def count_post(user_id: int) -> None:
    """Count one post of ``user_id``; raise ``TooFast`` past the limit."""
    spend("posts", user_id, limit=per_minute(), window=WINDOW_SECONDS)
