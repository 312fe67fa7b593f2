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
else in the local cache. While Redis is away nothing can be counted; each
caller says whether its action goes on uncounted (``fail_open``) or is
refused with ``Unavailable``.

Posting fails open: posting must go on during an outage (the bus logs once
that fan-out is down), and the count starts again when Redis is back.

Missing: a cap on what one member stores over the seven days a message
lives. At the default rate that is still about 600 000 messages a week;
a per-group storage quota needs its own design (what to refuse, and how the
browser says so), so it is left for later.
"""

from __future__ import annotations

import contextlib
import math
import time

import redis
from django.conf import settings
from django.core.cache import cache

from chat.realtime import bus, config

# The posting period; tests shorten it.
WINDOW_SECONDS = 60


class TooFast(Exception):
    """This user used the period's allowance already."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class Unavailable(Exception):
    """Redis is away, and this action is not done uncounted."""

    # Seconds a client is asked to wait: an outage outlasts the bus's
    # one-second pause between attempts.
    retry_after = 5


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


def _count_in_cache(key: str, amount: int, window: int) -> tuple[int, float]:
    now = time.time()
    cache.add(f"{key}:start", now, timeout=window)
    started = float(cache.get(f"{key}:start", now))
    cache.add(key, 0, timeout=window)
    try:
        count = int(cache.incr(key, amount))
    except ValueError:
        # The key expired between add() and incr(): this is its first use.
        cache.add(key, amount, timeout=window)
        count = amount
    return count, started + window - now


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
        # ValueError: the period ended meanwhile, nothing is left to return.
        with contextlib.suppress(ValueError):
            cache.decr(key, amount)
        return
    # If Redis went away, the count is lost with it anyway.
    with contextlib.suppress(redis.RedisError, OSError):
        bus.publisher.call(url, lambda client: client.eval(GIVE_BACK, 1, key, amount))


def spend(
    name: str,
    user_id: int,
    *,
    limit: int,
    window: int,
    amount: int = 1,
    fail_open: bool,
) -> None:
    """Count ``amount`` of ``name`` for ``user_id`` in a period of ``window``
    seconds; raise ``TooFast`` if that passes ``limit``.

    A refused use is not counted, so the refusal changes nothing and a
    smaller amount may still fit. ``limit`` 0 turns the allowance off. While
    Redis is away: nothing is counted, and ``Unavailable`` is raised unless
    ``fail_open``.
    """
    if limit <= 0:
        return
    key = _key(name, user_id)
    url = config.redis_url()
    counted = (
        _count_in_redis(url, key, amount, window)
        if url
        else _count_in_cache(key, amount, window)
    )
    if counted is None:
        if fail_open:
            return
        raise Unavailable
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


def count_post(user_id: int) -> None:
    """Count one post of ``user_id``; raise ``TooFast`` past the limit."""
    spend("posts", user_id, limit=per_minute(), window=WINDOW_SECONDS, fail_open=True)
