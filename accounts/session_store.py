"""Sessions read from the cache first and kept in the database.

Django's ``cached_db`` engine saves to both and reads the cache first, so a
request's session costs a cache read instead of a query. Its ``load()`` and
``delete()`` let some cache errors through, though, and its ``save()`` logs
a traceback for each. Here every cache error counts as a miss: the database
answers alone, and a request works while Redis is down exactly as it does
without a cache.

After a cache error the cache is left alone for ``SKIP_SECONDS``, so that a
Redis that hangs rather than refuses costs one request its timeout, not
every request.

A cache delete that fails (or is skipped in those seconds) leaves an ended
session's data in the cache, where a later read may find it again once
Redis is back. That is safe because no
decision rests on the session data alone: each request checks the user's
password hash, active flag and device and the session's row
(``accounts.session_tracking``) against the database, and an ended session
has lost its row. A pending login (password given, code not yet) has no row;
such data could come back for the rest of its ten minutes, and still needs
a code.
"""

import logging
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.cache.backends.base import BaseCache

log = logging.getLogger("hashwhisper.accounts")

# While the cache is down, every request would log its failure; one line
# per this many seconds and process says enough.
LOG_EVERY_SECONDS = 60.0
_last_logged = float("-inf")
# A Redis that stops answering (a frozen process, a lost network) costs each
# call its socket timeout; after a failure the cache is left alone this long,
# so only one request in that time waits.
SKIP_SECONDS = 5.0
_skip_until = float("-inf")


def _cache_usable() -> bool:
    return time.monotonic() >= _skip_until


def _cache_failed(operation: str, error: Exception) -> None:
    global _last_logged, _skip_until
    now = time.monotonic()
    _skip_until = now + SKIP_SECONDS
    if now - _last_logged >= LOG_EVERY_SECONDS:
        _last_logged = now
        # The error's class only: messages of some clients repeat the key.
        log.warning(
            "session cache unavailable op=%s error=%s",
            operation,
            type(error).__name__,
        )


class SessionStore(cached_db.SessionStore):
    """``cached_db`` sessions for which the cache is only ever a shortcut."""

    # Set by Django's classes; their type stubs leave them out.
    _cache: BaseCache
    _session: dict[str, Any]
    _get_session_from_db: Callable[[], AbstractBaseSession | None]

    def _cache_get(self) -> Any:
        if not _cache_usable():
            return None
        try:
            return self._cache.get(self.cache_key)
        except Exception as error:
            _cache_failed("get", error)
            return None

    def _cache_set(self, data: Any, age: int) -> None:
        if not _cache_usable():
            return
        try:
            self._cache.set(self.cache_key, data, age)
        except Exception as error:
            _cache_failed("set", error)

    def _cache_delete(self, session_key: str) -> None:
        if not _cache_usable():
            return
        try:
            self._cache.delete(self.cache_key_prefix + session_key)
        except Exception as error:
            _cache_failed("delete", error)

    def load(self) -> dict[str, Any]:
        data = self._cache_get()
        if data is None:
            stored = self._get_session_from_db()
            if stored is None:
                return {}
            data = self.decode(stored.session_data)
            self._cache_set(data, self.get_expiry_age(expiry=stored.expire_date))
        return data

    def exists(self, session_key: str | None) -> bool:
        if not session_key:
            return False
        try:
            if _cache_usable() and self.cache_key_prefix + session_key in self._cache:
                return True
        except Exception as error:
            _cache_failed("exists", error)
        return bool(DBStore.exists(self, session_key))

    def save(self, must_create: bool = False) -> None:
        DBStore.save(self, must_create)
        self._cache_set(self._session, self.get_expiry_age())

    def delete(self, session_key: str | None = None) -> None:
        DBStore.delete(self, session_key)
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self._cache_delete(session_key)

    # HashWhisper's middleware reads sessions synchronously; the asynchronous
    # methods run the same guarded code in a worker thread.
    async def aload(self) -> dict[str, Any]:
        return await sync_to_async(self.load)()

    async def aexists(self, session_key: str | None) -> bool:
        return await sync_to_async(self.exists)(session_key)

    async def asave(self, must_create: bool = False) -> None:
        await sync_to_async(self.save)(must_create)

    async def adelete(self, session_key: str | None = None) -> None:
        await sync_to_async(self.delete)(session_key)
