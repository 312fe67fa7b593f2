"""Django's Redis cache with one connection pool per process.

Django keeps a cache object per request context, and its Redis client keeps
the connection pools, so under ASGI every request built a new pool and
opened a new connection to Redis (a connect and a handshake per request;
measured with py-spy in bench/realtime.py's post run). Here every cache
object of one configuration shares one client, whose pools are thread-safe.
"""

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property

_clients: dict[str, RedisCacheClient] = {}
_lock = threading.Lock()


class SharedRedisCache(RedisCache):
    _class: type[RedisCacheClient]
    _servers: list[str]
    _options: dict[str, Any]

    @cached_property
    def _cache(self) -> RedisCacheClient:
        key = repr((self._servers, sorted(self._options.items())))
        with _lock:
            client = _clients.get(key)
            if client is None:
                # Two threads that both meet a pool missing on first use may
                # each build one; the one kept serves from then on.
                client = _clients[key] = self._class(self._servers, **self._options)
        return client
