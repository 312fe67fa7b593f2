"""How many messages one account may post: a count per user and minute.

Reactions, edits and replies are messages too, so the limit is set far
above what a person does by hand (``HASHWHISPER_MESSAGES_PER_MINUTE``);
it stops a member's script from filling the group and the disk.

The count lives in Redis when ``HASHWHISPER_REDIS_URL`` is set, through the
publisher's client and its pause after a failure (``bus.Publisher.call``),
else in the local cache. While Redis is away nothing is counted: posting
must go on during an outage (the bus logs once that fan-out is down), and
the count starts again when Redis is back.

Missing: a cap on what one member stores over the seven days a message
lives. At the default rate that is still about 600 000 messages a week;
a per-group storage quota needs its own design (what to refuse, and how the
browser says so), so it is left for later.
"""

from __future__ import annotations

import math
import time

import redis
from django.conf import settings
from django.core.cache import cache

from chat.realtime import bus, config

WINDOW_SECONDS = 60


class TooFast(Exception):
    """This user posted the minute's allowance already."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def per_minute() -> int:
    """Messages a user may post per minute; 0 turns the limit off."""
    return int(getattr(settings, "HASHWHISPER_MESSAGES_PER_MINUTE", 60))


def _count_in_redis(url: str, key: str) -> tuple[int, float] | None:
    def increment(client: redis.Redis) -> tuple[int, float]:
        pipe = client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, WINDOW_SECONDS, nx=True)
        pipe.ttl(key)
        count, _, left = pipe.execute()
        return int(count), float(left)

    try:
        return bus.publisher.call(url, increment)
    except (redis.RedisError, OSError):
        return None


def _count_in_cache(key: str) -> tuple[int, float]:
    now = time.time()
    cache.add(f"{key}:start", now, timeout=WINDOW_SECONDS)
    started = float(cache.get(f"{key}:start", now))
    cache.add(key, 0, timeout=WINDOW_SECONDS)
    try:
        count = int(cache.incr(key))
    except ValueError:
        # The key expired between add() and incr(): this is its first post.
        cache.add(key, 1, timeout=WINDOW_SECONDS)
        count = 1
    return count, started + WINDOW_SECONDS - now


def count_post(user_id: int) -> None:
    """Count one post of ``user_id``; raise ``TooFast`` past the limit.

    A user's minute starts with their first post after the last one ended,
    so a burst is never split across two minutes' allowances.
    """
    limit = per_minute()
    if limit <= 0:
        return
    # The rate-limit namespace of the account forms: one per deployment.
    key = f"{settings.RATELIMIT_CACHE_PREFIX}posts:{user_id}"
    url = config.redis_url()
    counted = _count_in_redis(url, key) if url else _count_in_cache(key)
    if counted is not None and counted[0] > limit:
        raise TooFast(max(math.ceil(counted[1]), 1))
