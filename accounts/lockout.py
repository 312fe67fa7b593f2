"""Per-account lockout after repeated failed passwords or codes.

``HASHWHISPER_LOCKOUT_FAILURES`` failures within
``HASHWHISPER_LOCKOUT_WINDOW_SECONDS`` (counted from the first failure of
the window) lock the username for ``HASHWHISPER_LOCKOUT_SECONDS``. The lock
then lapses on its own; nothing is permanent. Time comes from
``django.utils.timezone.now``.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.models import LoginLock

security_log = logging.getLogger("hashwhisper.security")

KEY_SALT = "hashwhisper.accounts.lockout"


def username_key(username: str) -> str:
    """The lock key of a username: case and outer spaces do not matter."""
    normalized = username.strip().lower()
    return salted_hmac(KEY_SALT, normalized, algorithm="sha256").hexdigest()


def locked_until(key: str) -> datetime | None:
    """When the lock on ``key`` ends, or ``None`` if it is not locked."""
    return (
        LoginLock.objects.filter(key=key, locked_until__gt=timezone.now())
        .values_list("locked_until", flat=True)
        .first()
    )


def _window() -> timedelta:
    return timedelta(seconds=settings.HASHWHISPER_LOCKOUT_WINDOW_SECONDS)


def _duration() -> timedelta:
    return timedelta(seconds=settings.HASHWHISPER_LOCKOUT_SECONDS)


@transaction.atomic
def record_failure(key: str) -> datetime | None:
    """Count one failure; return the lock's end if this failure locked it."""
    now = timezone.now()
    lock, _ = LoginLock.objects.select_for_update().get_or_create(
        key=key, defaults={"updated_at": now}
    )
    if lock.locked_until is not None and lock.locked_until > now:
        return lock.locked_until
    started = lock.window_started_at
    if started is None or now - started >= _window():
        lock.failures, lock.window_started_at = 0, now
    lock.failures += 1
    locked = lock.failures >= settings.HASHWHISPER_LOCKOUT_FAILURES
    if locked:
        # A fresh count begins once the lock lapses.
        lock.locked_until = now + _duration()
        lock.failures, lock.window_started_at = 0, None
    lock.updated_at = now
    lock.save()
    _forget_stale(now)
    if locked:
        security_log.warning("account locked key=%s", key[:12])
        return lock.locked_until
    return None


def clear_failures(key: str) -> None:
    """Forget the failures of ``key`` after a complete, successful login."""
    LoginLock.objects.filter(key=key).delete()


def _forget_stale(now: datetime) -> None:
    # Rows of usernames nobody tried for longer than a window plus a lock
    # carry no information any more; this keeps sprayed usernames from
    # piling up.
    horizon = now - _window() - _duration()
    LoginLock.objects.filter(updated_at__lt=horizon).filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    ).delete()
