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

import asyncio
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from asgiref.sync import AsyncToSync
from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIHandler
from django.test import override_settings

from hashwhisper.handler import ExecutorPool, RequestExecutor, SyncChainASGIHandler
from tests.conftest import make_user, verified_client
from tests.hashwhisper.testing import asgi_get, asgi_get_async

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


def visits_to_the_thread(
    monkeypatch: pytest.MonkeyPatch, handler: ASGIHandler, path: str
) -> int:
    calls: list[object] = []
    original = RequestExecutor.submit

    def counting(self: RequestExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn)
        return original(self, fn, *args, **kwargs)

    get(handler, path)  # the first request loads what it needs
    monkeypatch.setattr(RequestExecutor, "submit", counting)
    assert get(handler, path)[0] == 200
    monkeypatch.undo()
    return len(calls)


def test_a_request_visits_its_thread_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Django's handler goes there three times: to send request_started, for
    # the chain, and to close the response.
    handler = SyncChainASGIHandler()
    assert visits_to_the_thread(monkeypatch, handler, "/accounts/login/") == 1


@pytest.fixture
def timeline() -> Iterator[list[tuple[str, int]]]:
    """What happened during a request, in order: the signals (with the
    thread they ran on) and the ASGI messages sent."""
    events: list[tuple[str, int]] = []

    def started(**kwargs: Any) -> None:
        events.append(("request_started", threading.get_ident()))

    def finished(**kwargs: Any) -> None:
        events.append(("request_finished", threading.get_ident()))

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    yield events
    signals.request_started.disconnect(started)
    signals.request_finished.disconnect(finished)


def run_recorded(
    handler: ASGIHandler, path: str, events: list[tuple[str, int]]
) -> list[dict[str, Any]]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        async def recorded(message: Mapping[str, Any]) -> None:
            events.append((str(message["type"]), threading.get_ident()))
            await send(message)

        await handler(scope, receive, recorded)

    return asyncio.run(asgi_get_async(app, path))


def test_an_answer_in_memory_is_closed_on_its_thread_before_it_is_sent(
    timeline: list[tuple[str, int]],
) -> None:
    handler = SyncChainASGIHandler()
    sent = run_recorded(handler, "/accounts/login/", timeline)
    assert sent[0]["status"] == 200
    names = [name for name, _ in timeline]
    assert names == [
        "request_started",
        "request_finished",
        "http.response.start",
        "http.response.body",
    ]
    threads = dict(timeline)
    # Both signals on the request's thread (its database connection is
    # let go there), the messages on the event loop's.
    assert threads["request_started"] == threads["request_finished"]
    assert threads["request_finished"] != threads["http.response.start"]


@override_settings(ROOT_URLCONF="tests.hashwhisper.streaming_urls")
def test_a_streaming_answer_is_closed_after_its_last_chunk(
    timeline: list[tuple[str, int]],
) -> None:
    handler = SyncChainASGIHandler()
    sent = run_recorded(handler, "/accounts/login/streamed", timeline)
    assert sent[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"firstsecond"
    names = [name for name, _ in timeline]
    assert names[0] == "request_started"
    assert names[-1] == "request_finished"
    assert names.count("request_finished") == 1
    assert names.index("http.response.start") < names.index("request_finished")


@override_settings(ROOT_URLCONF="tests.hashwhisper.streaming_urls")
def test_a_failing_view_is_answered_500_and_logged_once(
    timeline: list[tuple[str, int]], caplog: pytest.LogCaptureFixture
) -> None:
    handler = SyncChainASGIHandler()
    with caplog.at_level(logging.ERROR, logger="django.request"):
        sent = run_recorded(handler, "/accounts/login/failing", timeline)
    assert sent[0]["status"] == 500
    logged = [r for r in caplog.records if r.name == "django.request"]
    assert len(logged) == 1
    assert [name for name, _ in timeline].count("request_finished") == 1


def test_a_client_gone_before_the_answer_still_finishes_the_request(
    timeline: list[tuple[str, int]],
) -> None:
    handler = SyncChainASGIHandler()
    client = verified_client(*make_user("alice"))
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}"
    # Leaves at once: the answer is cancelled and nothing is sent, but the
    # request still finishes on its thread (its connection is let go)
    # before the handler returns.
    sent = asyncio.run(
        asgi_get_async(handler, "/api/groups/", [(b"cookie", cookie.encode())], 0)
    )
    assert sent == []
    threads = {name: thread for name, thread in timeline}
    assert threads["request_finished"] == threads["request_started"]


def test_a_closer_that_raises_is_logged_and_the_answer_still_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Django sends before it closes, so a request_finished receiver that
    # raises cannot turn the answer into the server's 500; nor here, where
    # the closing comes first.
    def failing(**kwargs: Any) -> None:
        raise RuntimeError("a receiver failed")

    signals.request_finished.connect(failing)
    try:
        with caplog.at_level(logging.ERROR, logger="hashwhisper.handler"):
            sent = asyncio.run(
                asgi_get_async(SyncChainASGIHandler(), "/accounts/login/")
            )
    finally:
        signals.request_finished.disconnect(failing)
    assert sent[0]["status"] == 200
    assert b"<form" in b"".join(m.get("body", b"") for m in sent[1:])
    logged = [r for r in caplog.records if r.name == "hashwhisper.handler"]
    assert [r.getMessage() for r in logged] == ["closing a response failed"]
    assert logged[0].exc_info is not None
