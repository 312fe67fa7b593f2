"""One query for the signed-in user, the device and the session's row.

Django's authentication middleware loads the user, django-otp's middleware
then loads the device named in the session, and the session tracking loads
the session's row: three queries before any view runs. Here the backend
loads the device with its user and the row's fields in one query, and the
two later steps use what it brought.

Django's ``get_user()`` still decides whether the session is signed in (its
backend path, the active flag, the session hash with the fallback keys);
django-otp's own rules still decide whether the device counts. The backend
does not see the request, so the authentication middleware hands it the
session's device id and row id for the duration of that one call.
"""

import functools
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import auth
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.sessions.backends.base import SessionBase
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.middleware import OTPMiddleware
from django_otp.models import Device

from accounts.models import User, UserSession
from accounts.sessions import TRACKING_ROW

BACKEND = "accounts.session_auth.SessionUserBackend"
# Set on the user that the backend loaded together with the session's facts.
FACTS = "hw_session_facts"


@dataclass(frozen=True)
class SessionHints:
    device_id: str | None
    row_id: int | None


@dataclass(frozen=True)
class SessionFacts:
    """What the backend's one query found for the session it was given."""

    device_id: str
    device: Device
    row_id: int | None
    # Both ``None`` when the session's row is gone (or none was named).
    row_key_hash: bytes | None
    row_seen_at: datetime | None


_hints: ContextVar[SessionHints | None] = ContextVar("hw_session_hints", default=None)


@contextmanager
def session_hints(session: SessionBase) -> Iterator[None]:
    device_id = session.get(DEVICE_ID_SESSION_KEY)
    row_id = session.get(TRACKING_ROW)
    token = _hints.set(
        SessionHints(
            device_id=device_id if isinstance(device_id, str) else None,
            row_id=row_id if isinstance(row_id, int) else None,
        )
    )
    try:
        yield
    finally:
        _hints.reset(token)


def facts_of(user: Any) -> SessionFacts | None:
    facts = getattr(user, FACTS, None)
    return facts if isinstance(facts, SessionFacts) else None


def _device_with_user(user_id: Any, hints: SessionHints) -> Device | None:
    """The session's confirmed device of ``user_id``, with the user and the
    session row's fields; ``None`` if it is not there.

    The device is looked up the way django-otp looks up a persistent id.
    django-otp has no public hook for this; the private helpers used here
    and in ``SessionOTPMiddleware`` are those of the version pinned in
    requirements.txt, and tests/accounts/test_session_query.py notices if
    they stop doing their part.
    """
    if hints.device_id is None:
        return None
    persistent_id = OTPMiddleware._normalize_persistent_id(hints.device_id)
    devices = None
    with suppress(ValueError, LookupError):
        devices = Device._filter_persistent_id(persistent_id)
    if devices is None:
        return None
    devices = devices.filter(user_id=user_id, confirmed=True).select_related("user")
    if hints.row_id is not None:
        row = UserSession.objects.filter(
            pk=hints.row_id, user_id=OuterRef("user_id")
        ).order_by()
        devices = devices.annotate(
            hw_row_key_hash=Subquery(row.values("key_hash")[:1]),
            hw_row_seen_at=Subquery(row.values("last_seen_at")[:1]),
        )
    device: Device | None = devices.first()
    return device


class SessionUserBackend(ModelBackend):
    """Loads the session's user with its device and row in one query.

    Listed before Django's ``ModelBackend``, which keeps checking passwords
    and still serves sessions signed in under its name.
    """

    def authenticate(
        self, request: HttpRequest | None, *args: Any, **credentials: Any
    ) -> None:
        # Passwords are ModelBackend's alone: answering here as well would
        # hash every wrong password twice.
        return None

    def get_user(self, user_id: Any) -> User | None:
        hints = _hints.get()
        device = None if hints is None else _device_with_user(user_id, hints)
        if hints is None or hints.device_id is None or device is None:
            # A pending login, or a device that will not count: the usual
            # query, and django-otp then loads the device itself.
            return super().get_user(user_id)
        user: User = device.user
        if not self.user_can_authenticate(user):
            return None
        key_hash = getattr(device, "hw_row_key_hash", None)
        facts = SessionFacts(
            device_id=hints.device_id,
            device=device,
            row_id=hints.row_id,
            row_key_hash=None if key_hash is None else bytes(key_hash),
            row_seen_at=getattr(device, "hw_row_seen_at", None),
        )
        setattr(user, FACTS, facts)
        return user


def _user_with_hints(request: HttpRequest) -> Any:
    if not hasattr(request, "_cached_user"):
        with session_hints(request.session):
            request._cached_user = auth.get_user(request)  # type: ignore[attr-defined]
    return request._cached_user  # type: ignore[attr-defined]


class SessionAuthenticationMiddleware(AuthenticationMiddleware):
    """Django's authentication middleware, handing the backend the
    session's device and row ids while it loads the user."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        # A lazy stand-in for the user, as Django's own middleware sets.
        lazy_user = SimpleLazyObject(functools.partial(_user_with_hints, request))
        request.user = lazy_user  # type: ignore[assignment]


class SessionOTPMiddleware(OTPMiddleware):
    """django-otp's middleware, taking the device the backend already
    loaded instead of querying for it again.

    The device still passes django-otp's own check (it must be confirmed
    and the user's, else it is dropped from the session).
    """

    def _device_from_persistent_id(self, persistent_id: Any) -> Device | None:
        # django-otp expects the string it stored; anything else (only a
        # tampered session store could hold it) names no device, rather than
        # failing the request with a 500.
        if not isinstance(persistent_id, str):
            return None
        persistent_id = self._normalize_persistent_id(persistent_id)
        with suppress(ValueError, LookupError):
            devices = Device._filter_persistent_id(persistent_id)
            return None if devices is None else devices.first()
        return None

    def _verify_user_sync(self, request: HttpRequest, user: Any) -> Any:
        facts = facts_of(user)
        if facts is None or facts.device_id != request.session.get(
            DEVICE_ID_SESSION_KEY
        ):
            return super()._verify_user_sync(request, user)
        self._init_user_fields(user)
        user.otp_device = self._finalize_device(request, user, facts.device)
        return user
