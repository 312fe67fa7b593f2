"""Per-address rate limits on the account forms (django-ratelimit).

Each action has a rate in ``HASHWHISPER_RATE_LIMITS``, counted per client
address (``accounts.addresses``) in the cache, which is Redis when
``HASHWHISPER_REDIS_URL`` is set. Login, code entry and password
confirmation count failed attempts, so that one address cannot try many
usernames or codes; people who type correctly are never slowed down.
Registration counts the accounts created. When the cache cannot answer, the
forms refuse to work (fail closed) rather than run without limits.
"""

import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from accounts.addresses import address_bucket

security_log = logging.getLogger("hashwhisper.security")

LOGIN = "login"
CODE = "code"
CONFIRM = "password"
REGISTER = "register"


class AddressLimited(Exception):
    """This address used up the attempts of the current period."""


class LimiterUnavailable(Exception):
    """The rate-limit store did not answer, so nothing may proceed."""


def _bucket(group: str, request: HttpRequest) -> str:
    return address_bucket(request)


def _usage(request: HttpRequest, action: str, increment: bool) -> dict[str, Any]:
    rate = settings.HASHWHISPER_RATE_LIMITS[action]
    try:
        usage = get_usage(
            request,
            group=f"hashwhisper.{action}",
            key=_bucket,
            rate=rate,
            increment=increment,
        )
    except Exception as exc:
        # Django's Redis cache raises when Redis is away; whatever the cause,
        # a limit that cannot be read must not become no limit at all.
        security_log.error("rate limit store failed action=%s", action)
        raise LimiterUnavailable(action) from exc
    if usage is None:
        # RATELIMIT_ENABLE is off.
        return {"count": 0, "limit": 1}
    if usage["limit"] == 0:
        # django-ratelimit's own answer when the cache gave no count.
        security_log.error("rate limit store gave no count action=%s", action)
        raise LimiterUnavailable(action)
    result: dict[str, Any] = usage
    return result


def check(request: HttpRequest, action: str) -> None:
    """Raise ``AddressLimited`` if this address has no attempts left."""
    usage = _usage(request, action, increment=False)
    if usage["count"] >= usage["limit"]:
        security_log.warning("rate limited action=%s", action)
        raise AddressLimited(action)


def count(request: HttpRequest, action: str) -> None:
    """Count one attempt of ``action`` against this address."""
    _usage(request, action, increment=True)
