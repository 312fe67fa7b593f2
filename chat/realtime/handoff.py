"""ASGI hand-over of event streams, so an open stream costs little memory.

A request to ``/events/`` runs through Django and all its middleware like
any other, so sessions, the login and TOTP checks, session lifetimes and the
security headers apply to it unchanged. The view answers with the headers
only and leaves a ``Ticket`` in the ASGI scope. This wrapper holds back
Django's (empty) body, lets Django finish the request, which frees its
request and response objects, the thread Django ran the middleware on and
its database connection, and then sends the stream's events itself.

An open stream then holds the server's connection, one small coroutine
and its listener queue; inside Django's own streaming response it would
also hold all of the request's objects and a thread, several times as much
(docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import Any

from chat.realtime import local
from chat.realtime.stream import HANDOFF_KEY, Handoff, Ticket, event_stream

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STREAM_PATH = "/events/"


class StreamHandoff:
    """Wraps the ASGI application; takes over ``/events/`` responses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != STREAM_PATH:
            await self.app(scope, receive, send)
            return
        ticket = await self.answer(scope, receive, send)
        # Nothing of Django's answer is kept past this point: an open stream
        # holds only what ``serve`` makes.
        if ticket is not None:
            await serve(ticket, receive, send)

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> Ticket | None:
        """Run Django; send its headers (or its whole answer, if it is not a
        stream); return the stream's ticket if there is one."""
        handoff = Handoff()
        held: list[Message] = []
        passed = False

        async def hold(message: Message) -> None:
            nonlocal passed
            # The view has run before the first message: without a ticket
            # this is an ordinary answer, which goes out as it comes.
            if passed or handoff.ticket is None:
                passed = True
                await send(message)
            else:
                held.append(message)

        await self.app({**scope, HANDOFF_KEY: handoff}, receive, hold)
        if passed:
            return None
        start = held[0] if held else None
        ticket = handoff.ticket
        if ticket is None or start is None or start.get("status") != 200:
            # A later middleware replaced the stream (an error page, say):
            # answer as Django did.
            for message in held:
                await send(message)
            return None
        headers = [
            (name, value)
            for name, value in start.get("headers", [])
            if name.lower() != b"content-length"
        ]
        await send({**start, "headers": headers})
        return ticket


async def serve(ticket: Ticket, receive: Receive, send: Send) -> None:
    """Send one stream's events until it ends or the client leaves."""
    listener = local.StreamListener(ticket.user_id, ticket.session_hash)
    watcher = asyncio.ensure_future(watch_for_disconnect(receive, listener))
    stream = event_stream(listener, ticket.cursor)
    try:
        async for chunk in stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if listener.closed:
                break
    finally:
        watcher.cancel()
        with suppress(asyncio.CancelledError):
            await watcher
        await stream.aclose()
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def watch_for_disconnect(
    receive: Receive, listener: local.StreamListener
) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            listener.closed = True
            listener.wake_threadsafe()
            return
