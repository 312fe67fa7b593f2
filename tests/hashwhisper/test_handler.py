"""The ASGI handler enters the synchronous middleware chain once.

Django's own ASGI handler builds the chain for an async caller: with our
synchronous middleware and views a request goes from the event loop to a
worker thread, back to the loop (async_to_sync) at Django's messages
middleware, and to a thread again for the view. These tests drive one real
request through each handler and count the trips back to the loop.
"""

from typing import Any

import pytest
from asgiref.sync import AsyncToSync
from django.core.handlers.asgi import ASGIHandler

from hashwhisper.handler import SyncChainASGIHandler
from tests.hashwhisper.testing import asgi_get

pytestmark = pytest.mark.django_db(transaction=True)


def get(handler: ASGIHandler, path: str) -> tuple[int, dict[bytes, bytes]]:
    start = asgi_get(handler, path)[0]
    return int(start["status"]), dict(start["headers"])


def trips_to_the_loop(
    monkeypatch: pytest.MonkeyPatch, handler: ASGIHandler, path: str
) -> tuple[int, int]:
    calls: list[object] = []
    original = AsyncToSync.__call__

    def counting(self: AsyncToSync, *args: Any, **kwargs: Any) -> Any:
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AsyncToSync, "__call__", counting)
    status, _ = get(handler, path)
    return status, len(calls)


def test_our_handler_answers_without_going_back_to_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    status, trips = trips_to_the_loop(
        monkeypatch, SyncChainASGIHandler(), "/accounts/login/"
    )
    assert status == 200
    assert trips == 0


def test_djangos_handler_goes_back_to_the_loop_for_the_view(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What the handler removes; when Django stops doing this, it can go.
    status, trips = trips_to_the_loop(monkeypatch, ASGIHandler(), "/accounts/login/")
    assert status == 200
    assert trips >= 1


def test_the_served_application_uses_our_handler() -> None:
    from hashwhisper import asgi

    assert isinstance(asgi.django_application, SyncChainASGIHandler)
    status, headers = get(asgi.django_application, "/accounts/login/")
    assert status == 200
    # The whole chain ran: the outermost middleware sets the first header,
    # the innermost ones (sessions, CSRF) the cookie.
    assert headers[b"Cross-Origin-Embedder-Policy"] == b"require-corp"
    assert b"csrf" in headers[b"Set-Cookie"].lower()
