"""The ASGI body limit, driven directly with scripted ASGI messages."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from hashwhisper.asgi_limits import (
    SCOPE_KEY,
    BodyLimitMiddleware,
    BodyState,
    OversizedBodyMiddleware,
    body_too_large,
    limit_for_path,
)


class Client:
    """Plays the server side: hands out body messages, then a disconnect."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self.messages: list[dict[str, Any]] = []
        chunks = list(pieces)
        for index, piece in enumerate(chunks):
            more = index < len(chunks) - 1
            self.messages.append(
                {"type": "http.request", "body": piece, "more_body": more}
            )
        self.messages.append({"type": "http.disconnect"})
        self.taken = 0

    async def receive(self) -> dict[str, Any]:
        message = self.messages[self.taken]
        self.taken += 1
        return message


class DjangoLikeApp:
    """Reads the body to its end, then listens for a disconnect, as Django."""

    def __init__(self) -> None:
        self.body = b""
        self.after: dict[str, Any] = {}
        self.scope: dict[str, Any] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope
        while True:
            message = await receive()
            assert message["type"] == "http.request"
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.after = await receive()


def run(
    pieces: Iterable[bytes], path: str = "/nowhere", length: int | None = None
) -> tuple[DjangoLikeApp, Client]:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    scope = {"type": "http", "path": path, "method": "PUT", "headers": headers}
    app, client = DjangoLikeApp(), Client(pieces)
    asyncio.run(BodyLimitMiddleware(app)(scope, client.receive, lambda m: None))  # type: ignore[arg-type,return-value]
    return app, client


@pytest.fixture(autouse=True)
def small_limits(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.HASHWHISPER_MAX_UPLOAD = 5000


def test_body_within_the_limit_passes_whole() -> None:
    app, _ = run([b"a" * 400, b"b" * 600])
    assert app.body == b"a" * 400 + b"b" * 600
    assert app.after == {"type": "http.disconnect"}
    assert app.scope[SCOPE_KEY].too_large is False


def test_chunked_body_is_cut_at_the_limit_and_the_rest_swallowed() -> None:
    app, client = run([b"x" * 600] * 5)
    state: BodyState = app.scope[SCOPE_KEY]
    assert state.too_large is True
    # The piece that crossed the limit never reached the application.
    assert app.body == b"x" * 600
    # Django listens for a disconnect after the body; it must not see the
    # remaining body messages, which would break its handler.
    assert app.after == {"type": "http.disconnect"}
    assert client.taken == len(client.messages)


def test_declared_length_over_the_limit_reads_nothing() -> None:
    app, client = run([b"x" * 600] * 5, length=3000)
    assert app.scope[SCOPE_KEY].too_large is True
    assert app.body == b""
    assert client.messages[0]["body"] == b"x" * 600
    assert app.after == {"type": "http.disconnect"}


def test_a_route_limit_follows_its_setting_after_the_route_was_looked_up(
    settings: Any,
) -> None:
    upload = "/api/groups/AAAAAAAAAAAAAAAAAAAAAA/blobs/" + "A" * 32
    assert limit_for_path(upload) == 5000
    settings.HASHWHISPER_MAX_UPLOAD = 7000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1500
    assert limit_for_path(upload) == 7000
    assert limit_for_path("/api/groups/") == 1500
    assert limit_for_path("/no/such/route") == 1500


def test_blob_upload_route_has_the_upload_cap() -> None:
    upload = "/api/groups/AAAAAAAAAAAAAAAAAAAAAA/blobs/" + "A" * 32
    assert limit_for_path(upload) == 5000
    assert limit_for_path("/api/groups/") == 1000
    assert limit_for_path("/no/such/route") == 1000
    app, _ = run([b"x" * 900] * 5, path=upload)
    assert app.scope[SCOPE_KEY].too_large is False
    assert len(app.body) == 4500


def test_other_scopes_pass_untouched() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    scope = {"type": "lifespan"}
    asyncio.run(BodyLimitMiddleware(app)(scope, None, None))  # type: ignore[arg-type]
    assert seen == [scope]


def refused_request(too_large: bool) -> Any:
    request = RequestFactory().post("/api/groups/", {"a": "b"})
    request.scope = {SCOPE_KEY: BodyState(limit=10, received=11, too_large=too_large)}  # type: ignore[attr-defined]
    return request


def test_django_middleware_answers_413_before_the_view() -> None:
    middleware = OversizedBodyMiddleware(lambda request: None)  # type: ignore[arg-type,return-value]

    def view(request: Any) -> HttpResponse:
        raise AssertionError("the view must not run")

    response = middleware.process_view(refused_request(True), view, (), {})
    assert response is not None and response.status_code == 413
    assert middleware.process_view(refused_request(False), view, (), {}) is None


def test_views_that_handle_refusals_run_and_can_tell() -> None:
    middleware = OversizedBodyMiddleware(lambda request: None)  # type: ignore[arg-type,return-value]

    def view(request: Any) -> HttpResponse:
        return HttpResponse()

    view.handles_oversized_body = True  # type: ignore[attr-defined]
    request = refused_request(True)
    assert middleware.process_view(request, view, (), {}) is None
    assert body_too_large(request) is True
    assert body_too_large(RequestFactory().get("/")) is False
