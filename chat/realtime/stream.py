"""The ``/events/`` view: one Server-Sent Events stream per browser.

The stream speaks django-eventstream's protocol and uses its parts: the
channel manager (``chat.events.UserChannelManager``), its per-process
listener queues, its event ids (``user-<id>:<cursor>``, which browsers send
back as ``Last-Event-ID``), its SSE encoding and its ``stream-open``,
``keep-alive``, ``stream-reset`` and ``stream-error`` events. Its loop is
ours, because the library's loop:

* holds a database connection for as long as the stream is open (it reads
  storage on the request's own thread, which Django only releases when the
  response ends): ours reads in a worker thread and releases the
  connection after each read, and also releases the connection that the
  middleware took before the stream started;
* forgets the stream's position whenever an event without an id (presence,
  typing) passes, so a reconnect could no longer resume: ours keeps the
  position and sends such events without an ``id:`` line, which leaves the
  browser's ``Last-Event-ID`` as it was;
* only learns about a fan-out outage by luck: ours re-reads storage
  whenever the hub reconnects, and tells the browser when live delivery is
  down so it can poll meanwhile.

A stream whose client has gone is cancelled by Django's handler. A client
that stops reading blocks the stream on its send; meanwhile at most
django-eventstream's ``MAX_PENDING`` events queue per stream, and past that
the stream reads storage again once the client drains, so nothing queues
without limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar
from urllib.parse import unquote

from asgiref.sync import sync_to_async
from django.http import (
    HttpRequest,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.http import require_GET
from django_eventstream.event import Event
from django_eventstream.utils import (
    add_default_headers,
    get_channelmanager,
    get_storage,
    make_id,
    parse_last_event_id,
    sse_encode_error,
    sse_encode_event,
    sse_error_response,
)
from django_eventstream.views import get_listener_manager

from chat.realtime import config, local
from chat.realtime.hub import get_hub
from chat.realtime.storage import MessageStorage, release_connections

T = TypeVar("T")

# django-eventstream's opening: 2 KiB of padding pushes the first event past
# proxy and browser buffers, then "stream-open".
PADDING = ":" + " " * 2048 + "\n\n"
KEEP_ALIVE = "event: keep-alive\ndata:\n\n"
PAGE_SIZE = 100
# Message ids a stream remembers having sent, to skip repeats when it reads
# storage while the same events also arrive live.
REMEMBERED_IDS = 64


def session_hash(session_key: str | None) -> str:
    """A stable name for a session that does not reveal its key.

    Control messages that end one session's streams cross Redis; they carry
    this instead of the session key.
    """
    digest = hashlib.blake2b(
        (session_key or "").encode(), digest_size=16, person=b"hw-stream"
    )
    return digest.hexdigest()


def cursor_from(value: str | None, channel: str) -> int | None:
    """The position in ``channel`` that a ``Last-Event-ID`` names, if any."""
    if not value:
        return None
    try:
        parsed = parse_last_event_id(value)
    except ValueError:
        return None
    for name, raw in parsed.items():
        if unquote(name) == channel and raw.isdigit() and len(raw) <= 18:
            return int(raw)
    return None


async def in_worker(read: Callable[[], T]) -> T:
    """Run a blocking storage read off the event loop."""
    return await sync_to_async(read, thread_sensitive=False)()


class StreamState:
    """Where a stream is: its cursor and the message ids it recently sent."""

    __slots__ = ("channel", "cursor", "order", "sent")

    def __init__(self, channel: str, cursor: int) -> None:
        self.channel = channel
        self.cursor = cursor
        self.sent: set[int] = set()
        self.order: deque[int] = deque()

    def event_id(self) -> str:
        return str(make_id({self.channel: self.cursor}))

    def encode(self, event: Event) -> str:
        if event.id is None:
            # No id line: the browser's Last-Event-ID stays where it was.
            return str(sse_encode_event(event.type, event.data))
        event_id = int(event.id)
        if event_id in self.sent:
            return ""
        self.sent.add(event_id)
        self.order.append(event_id)
        if len(self.order) > REMEMBERED_IDS:
            self.sent.discard(self.order.popleft())
        # The cursor only moves forward: events can arrive out of id order
        # (DESIGN.md, pitfall 5), and browsers sort by id themselves.
        self.cursor = max(self.cursor, event_id)
        return str(sse_encode_event(event.type, event.data, event_id=self.event_id()))

    def encode_all(self, events: list[Event]) -> str:
        return "".join(self.encode(e) for e in events)


def status_event(live: bool) -> str:
    return str(sse_encode_event(local.STATUS_EVENT, json.dumps({"live": live})))


async def read_stored(
    storage: MessageStorage, state: StreamState, *, resend: bool
) -> AsyncIterator[str]:
    """Send stored events after the cursor, page by page.

    With ``resend``, recent events at or below the cursor go first (see
    ``config.resend_seconds``). Past ``config.resume_limit`` events the
    stream jumps to the newest id and sends ``stream-reset``, and the
    browser reads the rest from the history API.
    """
    channel = state.channel
    if resend:
        since = timezone.now() - timedelta(seconds=config.resend_seconds())
        cursor = state.cursor
        recent = await in_worker(
            lambda: storage.get_recent(channel, cursor, since, PAGE_SIZE)
        )
        body = state.encode_all(recent)
        if body:
            yield body
    sent = 0
    while True:
        page = await in_worker(
            partial(storage.get_events, channel, state.cursor, PAGE_SIZE)
        )
        body = state.encode_all(page)
        if body:
            yield body
        sent += len(page)
        if len(page) < PAGE_SIZE:
            return
        if sent >= config.resume_limit():
            newest = await in_worker(lambda: storage.get_current_id(channel))
            state.cursor = max(state.cursor, newest)
            yield str(
                sse_encode_event(
                    "stream-reset",
                    {"channels": [channel]},
                    event_id=state.event_id(),
                    json_encode=True,
                )
            )
            return


async def wait_for_events(listener: local.StreamListener, timeout: float) -> bool:
    try:
        await asyncio.wait_for(listener.aevent.wait(), timeout)
    except TimeoutError:
        return False
    return True


async def release_request_thread() -> None:
    """Give back the database connection the middleware used.

    Django runs a request's synchronous middleware on a thread of its own
    and releases that thread's connection only when the response ends,
    which for a stream is when the browser leaves. The call runs on that
    same thread (``thread_sensitive``), after all middleware has finished.
    """
    await sync_to_async(release_connections, thread_sensitive=True)()


async def event_stream(
    listener: local.StreamListener, cursor: int | None
) -> AsyncIterator[str]:
    manager = get_listener_manager()
    storage = get_storage()
    if not isinstance(storage, MessageStorage):
        raise TypeError("EVENTSTREAM_STORAGE_CLASS must be a MessageStorage")
    channel = local.user_channel(listener.user_id)
    listener.assign_loop()
    await release_request_thread()
    manager.add_listener(listener)
    hub = get_hub()
    attached = False
    try:
        live = await hub.attach(listener.user_id)
        attached = True
        resume = cursor is not None
        if cursor is None:
            cursor = await in_worker(lambda: storage.get_current_id(channel))
        state = StreamState(channel, cursor)
        # The opening carries the cursor, so a browser that hears nothing
        # else before a drop still resumes from here.
        yield (
            PADDING
            + str(sse_encode_event("stream-open", "", event_id=state.event_id()))
            + status_event(live)
        )
        read_again = resume
        keepalive = config.keepalive_seconds()
        while True:
            if read_again:
                read_again = False
                async for body in read_stored(storage, state, resend=True):
                    yield body
            if not await wait_for_events(listener, keepalive):
                yield KEEP_ALIVE
                continue
            with manager.lock:
                queued = listener.channel_items
                overflow = listener.overflow
                error = listener.error
                listener.aevent.clear()
                listener.channel_items = {}
                listener.overflow = False
            body = "".join(state.encode_all(items) for items in queued.values())
            if error:
                yield body + refusal(error)
                return
            if body:
                yield body
            if overflow:
                read_again = True
    finally:
        manager.remove_listener(listener)
        if attached:
            hub.detach(listener.user_id)


def refusal(error: dict[str, Any]) -> str:
    return str(
        sse_encode_error(
            error.get("condition", "forbidden"),
            error.get("text", "Refused."),
            extra=error.get("extra"),
        )
    )


def last_event_id(request: HttpRequest) -> str | None:
    header = request.headers.get("Last-Event-ID")
    if header:
        return header
    # A browser that opens a new EventSource (after a back-off, or in a new
    # leader tab) cannot set the header, so it sends the id as a parameter.
    for value in reversed(request.GET.getlist("lastEventId")):
        if value:
            return value
    return None


@require_GET
def events(request: HttpRequest) -> HttpResponseBase:
    """Open the user's stream; the channel comes from the session."""
    user = request.user
    channels = get_channelmanager().get_channels_for_request(request, {})
    if not channels or not user.is_authenticated:
        response: HttpResponseBase = sse_error_response("forbidden", "Log in first.")
        add_default_headers(response, request=request)
        return response
    channel = local.user_channel(user.pk)
    resume_from = last_event_id(request)
    if resume_from == "error":
        # django-eventstream's answer to a browser retrying after a refusal:
        # an HTTP error, which makes EventSource give up.
        return HttpResponseBadRequest("The stream was refused; do not retry.\n")
    listener = local.StreamListener(user.pk, session_hash(request.session.session_key))
    response = StreamingHttpResponse(
        event_stream(listener, cursor_from(resume_from, channel)),
        content_type="text/event-stream",
    )
    add_default_headers(response, request=request)
    return response
