"""Settings of the live-event layer, each with its default.

All are read at call time, so tests can change them with
``override_settings``.
"""

from django.conf import settings

DEFAULT_PREFIX = "hw:rt:"


def redis_url() -> str:
    """The Redis that carries events between processes; empty for none."""
    return str(getattr(settings, "REDIS_URL", "") or "")


def prefix() -> str:
    """Prefix of every Redis channel and key this layer uses.

    Two deployments (or two test runs) on one Redis stay apart by prefix.
    """
    return str(getattr(settings, "HASHWHISPER_REALTIME_PREFIX", DEFAULT_PREFIX))


def presence_ttl() -> float:
    """Seconds a presence heartbeat keeps its user online or away."""
    return float(getattr(settings, "HASHWHISPER_PRESENCE_TTL", 30))


def typing_interval() -> int:
    """Seconds during which the server accepts one typing notice per user
    and group; further notices in that time are refused with 429."""
    return int(getattr(settings, "HASHWHISPER_TYPING_INTERVAL", 2))


def keepalive_seconds() -> float:
    """Seconds of silence after which a stream sends a keep-alive event."""
    return float(getattr(settings, "HASHWHISPER_STREAM_KEEPALIVE", 20))


def resend_seconds() -> float:
    """How far back a resumed stream sends messages again.

    Message ids come from a database sequence, and two concurrent posts can
    commit in the other order: a stream may deliver message 12, drop, and
    only then see message 11 commit. On resume, messages created in this
    window are sent again even if their id is below the stream's cursor;
    browsers drop the duplicates by id.
    """
    return float(getattr(settings, "HASHWHISPER_STREAM_RESEND_SECONDS", 5))


def resume_limit() -> int:
    """Most stored events one resume sends before it asks the browser to
    read the history API instead (``stream-reset``)."""
    return int(getattr(settings, "HASHWHISPER_STREAM_RESUME_LIMIT", 500))
