"""Helpers shared by the server test folders: settings tweaks and types."""

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.db import connection

if TYPE_CHECKING:
    # The test client's answers carry json(), templates and so on; the type
    # exists only in django-stubs.
    from django.test.client import _MonkeyPatchedWSGIResponse as Response
else:
    from django.http import HttpResponse as Response

__all__ = [
    "FAST_HASHER",
    "Response",
    "asgi_get",
    "plain_static_storages",
    "require_postgresql",
]

PLAIN_STATIC_STORAGE = "django.contrib.staticfiles.storage.StaticFilesStorage"
FAST_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"


def plain_static_storages() -> dict[str, Any]:
    """``STORAGES`` with static files served without a manifest.

    Production settings use whitenoise's manifest storage, which needs
    ``collectstatic`` to have run; the test suite renders pages without it.
    """
    return {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": PLAIN_STATIC_STORAGE},
    }


ASGIApp = Callable[..., Coroutine[Any, Any, None]]


def asgi_get(
    app: ASGIApp, path: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> list[dict[str, Any]]:
    """Send one GET through an ASGI application in this process, as uvicorn
    would (HTTPS, a client that stays until the answer is done); return the
    messages the application sent."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 443),
    }
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        # Django stops a request whose client leaves; this one stays.
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(dict(message))

    asyncio.run(app(scope, receive, send))
    return sent


def require_postgresql(what: str) -> None:
    """Skip, saying why, unless the tests run on PostgreSQL.

    ``what`` names what needs it ("concurrent joins"); CI sets the URI and
    turns skips into failures.
    """
    if not os.environ.get("HASHWHISPER_DATABASE_URI"):
        reason = f"{what} need PostgreSQL: HASHWHISPER_DATABASE_URI is unset"
        print(f"skipping: {reason}", file=sys.stderr)
        pytest.skip(reason)
    assert connection.vendor == "postgresql"
