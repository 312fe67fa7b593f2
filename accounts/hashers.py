"""Argon2id with a bound on how many hashes run at the same time.

Each Argon2id hash with Django's parameters takes about 100 MiB of memory
for a moment. Without a bound, a burst of parallel logins would take as many
times that as there are requests, so every hash (checks at login and
password confirmation, new hashes at registration and password change, and
the dummy hash run for unknown usernames) waits for one of a fixed number of
slots. A request that cannot get a slot in time is answered with a 503.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher

security_log = logging.getLogger("hashwhisper.security")


class PasswordChecksBusy(Exception):
    """Every password-hashing slot stayed taken for the whole wait."""


_guard = threading.Lock()
_slots: tuple[int, threading.BoundedSemaphore] | None = None


def _semaphore() -> threading.BoundedSemaphore:
    # Built on first use, and again when the setting changes (tests change
    # it); a hash already running keeps the semaphore it took a slot from.
    global _slots
    size = max(1, int(settings.HASHWHISPER_MAX_PASSWORD_CHECKS))
    with _guard:
        if _slots is None or _slots[0] != size:
            _slots = (size, threading.BoundedSemaphore(size))
        return _slots[1]


@contextmanager
def hashing_slot() -> Iterator[None]:
    """Hold one of the password-hashing slots for the block."""
    semaphore = _semaphore()
    wait = float(settings.HASHWHISPER_PASSWORD_CHECK_WAIT_SECONDS)
    if not semaphore.acquire(timeout=wait):
        security_log.warning("password hashing refused: every slot busy")
        raise PasswordChecksBusy
    try:
        yield
    finally:
        semaphore.release()


class BoundedArgon2PasswordHasher(Argon2PasswordHasher):
    """Django's Argon2id hasher, run inside a hashing slot.

    The algorithm name stays ``argon2``, so stored hashes are unchanged and
    keep the ``argon2$argon2id$`` prefix.
    """

    def encode(self, password: str, salt: str) -> str:
        with hashing_slot():
            return super().encode(password, salt)

    def verify(self, password: str, encoded: str) -> bool:
        with hashing_slot():
            return super().verify(password, encoded)
