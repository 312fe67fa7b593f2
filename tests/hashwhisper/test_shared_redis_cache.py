"""One Redis connection pool per process for Django's cache.

Django makes a cache object per thread and per request context; with its own
Redis backend each of them opened its own pool, so under ASGI each request
connected to Redis anew. These tests open caches the way concurrent requests
do (each on its own thread) against the real Redis and count connections.
"""

import os
import threading
from typing import Any

import pytest
import redis
from django.core.cache import caches

from hashwhisper.cache import SharedRedisCache

REQUESTS = 12


def redis_url() -> str:
    url = os.environ.get("HASHWHISPER_REDIS_URL", "")
    if not url:
        reason = "HASHWHISPER_REDIS_URL is not set (Redis needed)"
        print(f"skipped: {reason}")
        pytest.skip(reason)
    return url


def connections_made(url: str) -> int:
    info = redis.Redis.from_url(url).info("stats")
    return int(info["total_connections_received"])


def read_once(key: str) -> None:
    caches["default"].get(key)


def one_request_per_thread(settings: Any, backend: str) -> int:
    """Connections Redis received while each "request" read the cache once."""
    url = redis_url()
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": url}}
    before = connections_made(url)
    for index in range(REQUESTS):
        # The cache is looked up on the thread, as each request does.
        thread = threading.Thread(target=read_once, args=(f"k{index}",))
        thread.start()
        thread.join()
    # The counting connection itself is one more.
    return connections_made(url) - before - 1


def test_cache_objects_of_all_threads_share_one_client(settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "hashwhisper.cache.SharedRedisCache",
            "LOCATION": "redis://127.0.0.1:6399/0",
        }
    }
    seen: list[Any] = []
    for _ in range(2):
        thread = threading.Thread(target=lambda: seen.append(caches["default"]))
        thread.start()
        thread.join()
    first, second = seen
    assert first is not second
    assert isinstance(first, SharedRedisCache)
    assert first._cache is second._cache


def test_requests_reuse_the_process_connection(settings: Any) -> None:
    made = one_request_per_thread(settings, "hashwhisper.cache.SharedRedisCache")
    assert made <= 1


def test_django_backend_alone_connects_for_each_request(settings: Any) -> None:
    # The fault the shared client removes; if Django starts sharing pools
    # itself, this fails and hashwhisper.cache can go.
    made = one_request_per_thread(
        settings, "django.core.cache.backends.redis.RedisCache"
    )
    assert made == REQUESTS
