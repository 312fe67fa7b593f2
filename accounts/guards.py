"""The checks in front of every password and code a person types.

Each attempt first meets the per-address limit, then the per-account lock;
only then is the password hashed or the code checked. A failure counts
against both. Refusals are exceptions that views turn into an answer with
``refusal``: a status and one sentence that never says whether the username
exists.
"""

import math
from collections.abc import Callable
from datetime import datetime

from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils import timezone
from django_otp.models import Device

from accounts import limits, lockout
from accounts.hashers import PasswordChecksBusy
from accounts.limits import AddressLimited, LimiterUnavailable
from accounts.models import User
from accounts.services import CodeThrottled


class AccountLocked(Exception):
    def __init__(self, until: datetime) -> None:
        super().__init__("account locked")
        self.until = until


REFUSALS = (
    AddressLimited,
    LimiterUnavailable,
    PasswordChecksBusy,
    AccountLocked,
    CodeThrottled,
)


def refusal(exc: Exception) -> tuple[int, str]:
    """The status and message for a refused attempt."""
    if isinstance(exc, AccountLocked):
        seconds = (exc.until - timezone.now()).total_seconds()
        minutes = max(1, math.ceil(seconds / 60))
        return 403, (
            "Too many failed attempts for this account. It is locked for now; "
            f"try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )
    if isinstance(exc, CodeThrottled):
        seconds = max(1, math.ceil((exc.until - timezone.now()).total_seconds()))
        return 429, (
            "Too many wrong codes just now. Wait "
            f"{seconds} second{'s' if seconds != 1 else ''}, then try again."
        )
    if isinstance(exc, AddressLimited):
        return 429, (
            "Too many attempts from your network. Wait a few minutes, then try again."
        )
    if isinstance(exc, PasswordChecksBusy):
        return 503, "The server is busy right now. Try again in a moment."
    return 503, "Signing in is unavailable for a moment. Try again shortly."


def _ensure_unlocked(key: str) -> None:
    until = lockout.locked_until(key)
    if until is not None:
        raise AccountLocked(until)


def _failed(request: HttpRequest, key: str, action: str) -> None:
    lockout.record_failure(key)
    limits.count(request, action)


def password_step(request: HttpRequest, username: str, password: str) -> User | None:
    """The user whose password this is, or ``None``.

    Django's backend hashes the password for an unknown username too, so
    known and unknown names cost the same work and get the same answer; a
    lock is keyed by the name, so an unknown name locks the same way.
    """
    limits.check(request, limits.LOGIN)
    key = lockout.username_key(username)
    _ensure_unlocked(key)
    user = authenticate(request, username=username, password=password)
    if isinstance(user, User):
        return user
    _failed(request, key, limits.LOGIN)
    return None


def code_step(
    request: HttpRequest, user: User, verify: Callable[[], Device | None]
) -> Device | None:
    """Run ``verify`` (a code check) behind the limit and the lock."""
    limits.check(request, limits.CODE)
    key = lockout.username_key(user.get_username())
    _ensure_unlocked(key)
    device = verify()
    if device is None:
        _failed(request, key, limits.CODE)
    return device


def confirm_password(request: HttpRequest, user: User, password: str) -> bool:
    """Whether ``password`` is the signed-in user's, behind limit and lock."""
    limits.check(request, limits.CONFIRM)
    key = lockout.username_key(user.get_username())
    _ensure_unlocked(key)
    if user.check_password(password):
        return True
    _failed(request, key, limits.CONFIRM)
    return False
