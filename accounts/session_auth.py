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

from django.apps import apps
from django.contrib import auth
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.sessions.backends.base import SessionBase
from django.db import connections, router
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.middleware import OTPMiddleware
from django_otp.models import Device

from accounts.models import User, UserSession
from accounts.sessions import TRACKING_ROW
from hashwhisper.statements import Columns, fits_bigint, written_once

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
            # type(), not isinstance(): True is an int too, and PostgreSQL
            # refuses to compare an id with a boolean.
            row_id=row_id if type(row_id) is int else None,
        )
    )
    try:
        yield
    finally:
        _hints.reset(token)


def facts_of(user: Any) -> SessionFacts | None:
    facts = getattr(user, FACTS, None)
    return facts if isinstance(facts, SessionFacts) else None


def _device_class(persistent_id: str) -> type[Device] | None:
    """The device model a persistent id ("<app_label>.<model_name>/<id>",
    django-otp's ``Device.persistent_id``) names, if it names one."""
    with suppress(ValueError, LookupError):
        label = persistent_id.rsplit("/", 1)[0]
        app_label, model_name = label.split(".")
        model = apps.get_model(app_label, model_name)
        if isinstance(model, type) and issubclass(model, Device):
            return model
    return None


def _device_pk(persistent_id: str) -> int | None:
    raw = persistent_id.rsplit("/", 1)[-1]
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


class _Statement:
    """The backend's query for one device model, written out once
    (``hashwhisper.statements``)."""

    def __init__(self, device_model: type[Device], connection: Any) -> None:
        quote = connection.ops.quote_name
        self.device_model = device_model
        self.device_names = [f.attname for f in device_model._meta.concrete_fields]
        self.user_names = [f.attname for f in User._meta.concrete_fields]
        self.columns = Columns(
            connection,
            [
                (
                    "d",
                    device_model,
                    [f.name for f in device_model._meta.concrete_fields],
                ),
                ("u", User, [f.name for f in User._meta.concrete_fields]),
                ("s", UserSession, ["key_hash", "last_seen_at"]),
            ],
        )
        user_id = quote(device_model._meta.get_field("user").column)
        # Names from the models' metadata, quoted; values are parameters.
        self.sql = (
            f"SELECT {self.columns.sql}"  # noqa: S608
            f" FROM {quote(device_model._meta.db_table)} d"
            f" INNER JOIN {quote(User._meta.db_table)} u"
            f" ON u.{quote(User._meta.pk.column)} = d.{user_id}"
            f" LEFT OUTER JOIN {quote(UserSession._meta.db_table)} s"
            f" ON s.{quote(UserSession._meta.pk.column)} = %s"
            f" AND s.{quote(UserSession._meta.get_field('user').column)} = d.{user_id}"
            f" WHERE d.{quote(device_model._meta.pk.column)} = %s"
            f" AND d.{user_id} = %s"
            f" AND d.{quote(device_model._meta.get_field('confirmed').column)}"
        )

    def run(
        self, connection: Any, device_pk: int, user_pk: int, row_id: int | None
    ) -> Device | None:
        if not fits_bigint(user_pk):
            return None
        if row_id is not None and not fits_bigint(row_id):
            row_id = None  # names no row, as the ORM's lookup would find none
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [row_id, device_pk, user_pk])
            found = cursor.fetchone()
        if found is None:
            return None
        values = self.columns.convert(found, connection)
        db = connection.alias
        split = len(self.device_names)
        ends = split + len(self.user_names)
        device = self.device_model.from_db(db, self.device_names, values[:split])
        user = User.from_db(db, self.user_names, values[split:ends])
        device.user = user
        device.hw_row_key_hash, device.hw_row_seen_at = values[ends:]
        return device


def _statement(device_model: type[Device], alias: str) -> _Statement:
    return written_once(
        ("login", device_model._meta.label_lower),
        alias,
        lambda connection: _Statement(device_model, connection),
    )


def _device_with_user(user_id: Any, hints: SessionHints) -> Device | None:
    """The session's confirmed device of ``user_id``, with the user and the
    session row's fields; ``None`` if it is not there.

    The device is found by its persistent id, the way django-otp finds it
    (``Device.from_persistent_id``, whose private helpers
    ``SessionOTPMiddleware`` uses too, from the version pinned in
    requirements.txt); tests/security/test_fastpath_attacks_2.py compares
    the two on many spellings of an id.
    """
    if hints.device_id is None or not isinstance(user_id, int):
        return None
    persistent_id = OTPMiddleware._normalize_persistent_id(hints.device_id)
    model = _device_class(persistent_id)
    device_pk = _device_pk(persistent_id)
    if model is None or device_pk is None:
        return None
    alias = router.db_for_read(model)
    return _statement(model, alias).run(
        connections[alias], device_pk, user_id, hints.row_id
    )


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
