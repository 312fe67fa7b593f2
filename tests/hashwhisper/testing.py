"""Helpers shared by the server test folders: settings tweaks and types."""

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    # The test client's answers carry json(), templates and so on; the type
    # exists only in django-stubs.
    from django.test.client import _MonkeyPatchedWSGIResponse as Response
else:
    from django.http import HttpResponse as Response

__all__ = ["FAST_HASHER", "Response", "asgi_get", "plain_static_storages"]

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
