"""A row per signed-in session, so people can see and end their sessions.

Django's session table has no index from users to sessions, and its rows
are opaque. Each verified session therefore gets a ``UserSession`` row: a
hash of the session key, when it started, when it was last seen and a coarse
client description. The session itself remembers its row's id. When the row
is gone (ended from the "what the server knows" page, or by an operator's
lock), the next request of that session is logged out.
"""

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_out
from django.contrib.sessions.models import Session
from django.db.models import Q, QuerySet
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.middleware import is_verified
from accounts.models import User, UserSession
from accounts.session_auth import facts_of
from accounts.sessions import DB_SESSION_ENGINES, delete_stored_session
from hashwhisper.crypto import token_hash

log = logging.getLogger("hashwhisper.accounts")
security_log = logging.getLogger("hashwhisper.security")

ROW = "hw_session_row"
# Busy pages would otherwise write the row on every request.
SEEN_RESOLUTION = timedelta(seconds=60)

_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/")),
    ("Chrome", re.compile(r"\b(?:Chrome|Chromium|CriOS)/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+ (?:Mobile/\S+ )?Safari/")),
)
_SYSTEMS = (
    ("Android", re.compile(r"\bAndroid\b")),
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)


def coarse_client(user_agent: str) -> str:
    """ "Firefox on Linux" and the like: a browser family and a system.

    Versions and the rest of the header are dropped on purpose; together
    they would single out one person's browser.
    """
    browser = next((n for n, p in _BROWSERS if p.search(user_agent)), "a browser")
    system = next((n for n, p in _SYSTEMS if p.search(user_agent)), "")
    return f"{browser} on {system}" if system else browser


def key_hash(session_key: str) -> bytes:
    return token_hash(session_key.encode("ascii"))


def start_tracking(request: HttpRequest, user: User) -> UserSession:
    session = request.session
    if session.session_key is None:
        session.save()
    key = str(session.session_key)
    row, _ = UserSession.objects.update_or_create(
        key_hash=key_hash(key),
        defaults={
            "user": user,
            "client": coarse_client(request.headers.get("User-Agent", ""))[:64],
        },
    )
    session[ROW] = row.pk
    return row


def _tracked_row(request: HttpRequest, user: User) -> tuple[bytes, datetime] | None:
    """The key hash and last-seen time of this session's row, if it exists.

    The authentication backend usually read them with the user already.
    """
    row_id = request.session[ROW]
    # Only a tampered session store holds anything but the id we wrote; such
    # a session counts as ended.
    if type(row_id) is not int:
        return None
    facts = facts_of(user)
    if facts is not None and facts.row_id == row_id:
        if facts.row_key_hash is None or facts.row_seen_at is None:
            return None
        return facts.row_key_hash, facts.row_seen_at
    row = (
        UserSession.objects.filter(pk=row_id, user=user)
        .values_list("key_hash", "last_seen_at")
        .first()
    )
    return None if row is None else (bytes(row[0]), row[1])


def still_tracked(request: HttpRequest, user: User) -> bool:
    """Refresh this session's row; ``False`` if the row was deleted."""
    row = _tracked_row(request, user)
    if row is None:
        return False
    stored_hash, seen_at = row
    now = timezone.now()
    current = key_hash(str(request.session.session_key))
    changes: dict[str, Any] = {}
    # Password changes cycle the session key; the row follows the session.
    if stored_hash != current:
        changes["key_hash"] = current
    if now - seen_at >= SEEN_RESOLUTION:
        changes["last_seen_at"] = now
    if changes:
        UserSession.objects.filter(pk=request.session[ROW]).update(**changes)
    return True


class SessionTrackingMiddleware:
    """Keeps each verified session's row, and logs out ended sessions.

    Runs after the OTP middleware (it needs ``is_verified``) and before the
    middleware that sends unverified requests to the login page, so an ended
    session is treated exactly like a logged-out one.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_verified(request) and isinstance(request.user, User):
            user = request.user
            if ROW not in request.session:
                start_tracking(request, user)
            elif not still_tracked(request, user):
                security_log.info("ended session refused user_id=%s", user.pk)
                logout(request)
        response = self.get_response(request)
        # A login completed by this request gets its row now.
        if (
            is_verified(request)
            and isinstance(request.user, User)
            and ROW not in request.session
        ):
            start_tracking(request, request.user)
        return response


@receiver(user_logged_out)
def forget_session(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        row_id = request.session.get(ROW)
        user = kwargs.get("user")
        # Only the signed-out user's own row: a row id planted in one session
        # must not end another user's. (A deleted account's rows went with it.)
        owner = getattr(user, "pk", None)
        if type(row_id) is int and owner is not None:
            UserSession.objects.filter(pk=row_id, user_id=owner).delete()


def live_since(now: datetime) -> tuple[datetime, datetime]:
    """Rows seen before the first, or started before the second, belong to
    sessions that the idle or absolute lifetime has already ended."""
    idle = timedelta(seconds=settings.HASHWHISPER_SESSION_IDLE_SECONDS)
    lifetime = timedelta(seconds=settings.HASHWHISPER_SESSION_MAX_SECONDS)
    return now - idle, now - lifetime


def live_sessions(user: User, now: datetime | None = None) -> QuerySet[UserSession]:
    seen_after, started_after = live_since(now or timezone.now())
    return UserSession.objects.filter(
        user=user, last_seen_at__gte=seen_after, created_at__gte=started_after
    )


def forget_stale_sessions(now: datetime, *, dry_run: bool = False) -> int:
    """Delete the rows of sessions that have ended by their lifetimes.

    Sessions ended elsewhere (a password change, a lifetime running out)
    leave their row behind; such a row names nothing live, so it goes.
    """
    seen_after, started_after = live_since(now)
    stale = UserSession.objects.filter(
        Q(last_seen_at__lt=seen_after) | Q(created_at__lt=started_after)
    )
    if dry_run:
        return stale.count()
    deleted, _ = stale.delete()
    return deleted


def end_session(user: User, row_id: int) -> bool:
    """End one of ``user``'s sessions; ``False`` if no such session.

    Deleting the row is enough to refuse the session's next request. The
    stored session itself is found by its key's hash and deleted as well,
    so nothing of it stays on the server; that needs a pass over the live
    sessions, which only an explicit user action pays for.
    """
    row = UserSession.objects.filter(pk=row_id, user=user).first()
    if row is None:
        return False
    target = bytes(row.key_hash)
    row.delete()
    if settings.SESSION_ENGINE in DB_SESSION_ENGINES:
        live = Session.objects.filter(expire_date__gt=timezone.now())
        for key in live.values_list("session_key", flat=True).iterator():
            if key_hash(key) == target:
                delete_stored_session(key)
                break
    log.info("session ended by its user user_id=%s", user.pk)
    return True
