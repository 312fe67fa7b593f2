"""Request body limits enforced while the body streams in.

Django's ASGI handler reads a whole request body into a temporary file
before any middleware or view runs, so a size check in a view comes too late
to stop a huge upload from filling the disk. ``BodyLimitMiddleware`` wraps
the ASGI application and counts the bytes of each ``http.request`` message
as they arrive, whether or not the client sent a ``Content-Length``.

Past the limit it stops passing body bytes on, ends the body early for the
application and marks the request as refused. ``OversizedBodyMiddleware``
(a Django middleware) then answers 413 before the view runs, so no view ever
acts on a truncated body. A view that must clean up after a refused upload
(for example, drop a reserved blob row) declares that with
``body_limit(..., handles_oversized=True)`` and checks
``body_too_large(request)`` itself.

The limit of a route comes from its view (``body_limit``); every other route
is held to ``DATA_UPLOAD_MAX_MEMORY_SIZE``, the most Django itself accepts as
a request body, so no route accepts more than it can use.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import Resolver404, resolve

security_log = logging.getLogger("hashwhisper.security")

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
View = TypeVar("View", bound=Callable[..., HttpResponseBase])

SCOPE_KEY = "hashwhisper.body_limit"
TOO_LARGE_MESSAGE = "The request body is larger than this server accepts."


@dataclass
class BodyState:
    """What the wrapper learnt about one request body; kept in the scope."""

    limit: int
    received: int = 0
    too_large: bool = False


def body_limit(
    limit: Callable[[], int], *, handles_oversized: bool = False
) -> Callable[[View], View]:
    """Give a view its own body limit, read from settings at request time.

    With ``handles_oversized`` the view still runs after a refused body and
    must check ``body_too_large`` before reading anything.
    """

    def decorate(view: View) -> View:
        view.max_body_bytes = limit  # type: ignore[attr-defined]
        view.handles_oversized_body = handles_oversized  # type: ignore[attr-defined]
        return view

    return decorate


def default_limit() -> int:
    fallback = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return int(fallback) if fallback is not None else settings.HASHWHISPER_MAX_UPLOAD


def limit_for_path(path: str) -> int:
    getter = _limit_of_view(settings.ROOT_URLCONF, path)
    return int(getter()) if getter is not None else default_limit()


@functools.lru_cache(maxsize=4096)
def _limit_of_view(urlconf: str, path: str) -> Callable[[], int] | None:
    """The limit getter of the view at ``path``, if it declares one.

    Kept per path: Django resolves the path again for the request itself,
    and resolving twice cost a few percent of a message post. The getter
    is kept, not the limit, which is still read from settings each time.
    """
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return None
    getter: Callable[[], int] | None = getattr(match.func, "max_body_bytes", None)
    return getter


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def route_path(scope: Scope) -> str:
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


class LimitedReceive:
    """A ``receive`` that ends the body at the limit and swallows the rest.

    After a refusal the application is told the body ended; later calls
    (Django listens for a disconnect while it answers) skip any further body
    messages, because a second body message after the end would break
    Django's handler.
    """

    def __init__(self, receive: Receive, state: BodyState) -> None:
        self.receive = receive
        self.state = state
        self.ended = False

    async def __call__(self) -> Message:
        if self.ended:
            return await self.after_end()
        if self.state.too_large:
            return self.end()
        message = await self.receive()
        if message["type"] != "http.request":
            return message
        self.state.received += len(message.get("body", b""))
        if self.state.received > self.state.limit:
            self.state.too_large = True
            return self.end()
        if not message.get("more_body", False):
            self.ended = True
        return message

    def end(self) -> Message:
        self.ended = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def after_end(self) -> Message:
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                return message


class BodyLimitMiddleware:
    """ASGI wrapper that holds every HTTP request body to its route's limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = BodyState(limit=limit_for_path(route_path(scope)))
        declared = declared_length(scope)
        if declared is not None and declared > state.limit:
            # Refused before a single byte is read: the client said how much
            # it would send.
            state.too_large = True
        scope = {**scope, SCOPE_KEY: state}
        await self.app(scope, LimitedReceive(receive, state), send)


def body_state(request: HttpRequest) -> BodyState | None:
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        return None
    state = scope.get(SCOPE_KEY)
    return state if isinstance(state, BodyState) else None


def body_too_large(request: HttpRequest) -> bool:
    state = body_state(request)
    return state is not None and state.too_large


def too_large_response() -> JsonResponse:
    response = JsonResponse({"error": TOO_LARGE_MESSAGE}, status=413)
    response["Cache-Control"] = "no-store"
    return response


class OversizedBodyMiddleware:
    """Answers 413 for a refused body before any view can read it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: Any,
        view_kwargs: Any,
    ) -> HttpResponse | None:
        state = body_state(request)
        if state is None or not state.too_large:
            return None
        if getattr(view_func, "handles_oversized_body", False):
            return None
        security_log.warning(
            "request body refused: over limit limit=%s received=%s",
            state.limit,
            state.received,
        )
        return too_large_response()
