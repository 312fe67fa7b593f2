"""Signed-in sessions: lifetimes, and ending a user's other sessions.

A session records when its login completed and when it was last used. It
ends after ``HASHWHISPER_SESSION_IDLE_SECONDS`` without a request, and in any
case ``HASHWHISPER_SESSION_MAX_SECONDS`` after the login.
"""

import logging
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User, UserSession

log = logging.getLogger("hashwhisper.accounts")

AUTH_AT = "hw_auth_at"
SEEN_AT = "hw_seen_at"
# A request refreshes the last-seen time only when it is this old, so that
# busy pages do not write the session on every request.
SEEN_RESOLUTION_SECONDS = 60
# Where accounts.session_tracking keeps the id of the session's list row.
TRACKING_ROW = "hw_session_row"
# Engines whose sessions can be listed from Django's session table.
DB_SESSION_ENGINES = {
    "accounts.session_store",
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
}


def delete_stored_session(session_key: str) -> None:
    """Delete one session through its engine, so that a cached copy goes
    with the database row."""
    engine = import_module(settings.SESSION_ENGINE)
    engine.SessionStore().delete(session_key)


def _now() -> int:
    return int(timezone.now().timestamp())


def start_session_clock(request: HttpRequest) -> None:
    now = _now()
    request.session[AUTH_AT] = now
    request.session[SEEN_AT] = now


def session_expired(request: HttpRequest) -> bool:
    """Whether the idle or absolute lifetime of this session has passed.

    A session without timestamps (one signed in before they were kept)
    starts its clock now. Otherwise the last-seen time moves forward.
    """
    session = request.session
    now = _now()
    auth_at, seen_at = session.get(AUTH_AT), session.get(SEEN_AT)
    if not isinstance(auth_at, int) or not isinstance(seen_at, int):
        start_session_clock(request)
        return False
    if now - seen_at > settings.HASHWHISPER_SESSION_IDLE_SECONDS:
        return True
    if now - auth_at > settings.HASHWHISPER_SESSION_MAX_SECONDS:
        return True
    if now - seen_at >= SEEN_RESOLUTION_SECONDS:
        session[SEEN_AT] = now
    return False


def end_sessions(
    user: User, keep: str | None = None, keep_row: int | None = None
) -> int:
    """Delete every stored session of ``user`` but ``keep``; return how many.

    Django keeps no index from users to sessions, so the live sessions are
    read one by one. This runs only on rare actions (password change,
    authenticator reset, account deletion), where a full pass is affordable.
    The rows of the session list (``UserSession``) follow, except
    ``keep_row``, the kept session's own row.
    """
    rows = UserSession.objects.filter(user=user)
    if keep_row is not None:
        rows = rows.exclude(pk=keep_row)
    rows.delete()
    if settings.SESSION_ENGINE not in DB_SESSION_ENGINES:
        # Other engines cannot be listed; a password change still ends their
        # sessions through Django's session hash check on the next request.
        return 0
    owner = str(user.pk)
    doomed = [
        session.session_key
        for session in Session.objects.filter(expire_date__gt=timezone.now())
        if session.session_key != keep
        and str(session.get_decoded().get(SESSION_KEY)) == owner
    ]
    for session_key in doomed:
        delete_stored_session(session_key)
    if doomed:
        log.info("sessions ended user_id=%s count=%s", user.pk, len(doomed))
    return len(doomed)


def end_other_sessions(request: HttpRequest, user: User) -> int:
    """End every session of ``user`` except the one of this request."""
    row = request.session.get(TRACKING_ROW)
    return end_sessions(
        user,
        keep=request.session.session_key,
        keep_row=row if isinstance(row, int) else None,
    )
