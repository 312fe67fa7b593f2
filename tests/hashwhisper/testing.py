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
    "asgi_get_async",
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
    return asyncio.run(asgi_get_async(app, path, headers))


async def asgi_get_async(
    app: ASGIApp,
    path: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
    leave_after: float | None = None,
    raw_query: bytes | None = None,
) -> list[dict[str, Any]]:
    """``asgi_get`` on the running loop, so several can run at once; the
    path may carry a query (or ``raw_query`` gives its bytes as they are),
    and the client leaves after ``leave_after`` seconds if given, else stays
    until the answer is done."""
    path_only, _, query = path.partition("?")
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path_only,
        "raw_path": path_only.encode(),
        "query_string": query.encode() if raw_query is None else raw_query,
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
        if leave_after is None:
            # Django stops a request whose client leaves; this one stays.
            await asyncio.Event().wait()
        await asyncio.sleep(leave_after or 0)
        return {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
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
