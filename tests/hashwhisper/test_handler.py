"""The ASGI handler enters the synchronous middleware chain once, on a
thread it reuses.

Django's own ASGI handler builds the chain for an async caller: with our
synchronous middleware and views a request goes from the event loop to a
worker thread, back to the loop (async_to_sync) at Django's messages
middleware, and to a thread again for the view. It also starts two threads
per request (the request's own, and one to join it). These tests drive real
requests through each handler and count the trips back to the loop and the
threads started.
"""

import threading
from typing import Any

import pytest
from asgiref.sync import AsyncToSync
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

from hashwhisper.handler import ExecutorPool, SyncChainASGIHandler
from tests.conftest import make_user, verified_client
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


def threads_started(
    monkeypatch: pytest.MonkeyPatch, handler: ASGIHandler, requests: int
) -> int:
    started: list[threading.Thread] = []
    original = threading.Thread.start

    def counting(self: threading.Thread) -> None:
        started.append(self)
        original(self)

    get(handler, "/accounts/login/")  # the first request may start one
    monkeypatch.setattr(threading.Thread, "start", counting)
    for _ in range(requests):
        assert get(handler, "/accounts/login/")[0] == 200
    monkeypatch.undo()
    return len(started)


def test_our_handler_reuses_its_request_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler = SyncChainASGIHandler()
    assert threads_started(monkeypatch, handler, 5) == 0
    assert handler.executors.started == 1


def test_djangos_handler_starts_threads_for_every_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What the pool removes; when Django stops doing this, it can go.
    assert threads_started(monkeypatch, ASGIHandler(), 5) >= 5


def test_nothing_of_a_request_stays_on_the_reused_thread() -> None:
    handler = SyncChainASGIHandler()
    client = verified_client(*make_user("alice"))
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}"
    signed_in = [(b"cookie", cookie.encode()), (b"accept", b"application/json")]
    assert get_with(handler, "/api/groups/", signed_in) == 200
    # Same thread, no cookie: nobody is signed in.
    assert get_with(handler, "/api/groups/", [(b"accept", b"application/json")]) == 401
    assert get_with(handler, "/api/groups/", signed_in) == 200
    assert handler.executors.started == 1


def get_with(
    handler: ASGIHandler, path: str, headers: list[tuple[bytes, bytes]]
) -> int:
    return int(asgi_get(handler, path, headers)[0]["status"])


def test_requests_in_flight_together_get_threads_of_their_own() -> None:
    pool = ExecutorPool(keep=4)
    first, second = pool.take(), pool.take()
    idents = {
        first.submit(threading.get_ident).result(),
        second.submit(threading.get_ident).result(),
    }
    assert len(idents) == 2
    pool.give_back(first)
    pool.give_back(second)
    assert pool.take() in (first, second)
    assert pool.started == 2


def test_an_executor_still_running_a_cancelled_request_is_not_reused() -> None:
    pool = ExecutorPool(keep=4)
    executor = pool.take()
    release = threading.Event()
    running = executor.submit(release.wait, 10)
    pool.give_back(executor)
    assert pool.idle == []
    release.set()
    assert running.result(timeout=5) is True
    assert pool.take() is not executor


def test_the_pool_keeps_only_so_many_idle_threads() -> None:
    pool = ExecutorPool(keep=2)
    taken = [pool.take() for _ in range(5)]
    for executor in taken:
        pool.give_back(executor)
    assert len(pool.idle) == 2
    assert all(e._shutdown for e in taken[2:])
