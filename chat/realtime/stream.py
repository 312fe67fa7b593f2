"""The ``/events/`` stream: one Server-Sent Events stream per browser.

The stream speaks django-eventstream's protocol and uses its parts: the
channel manager (``chat.events.UserChannelManager``), its per-process
listener queues, its event ids (``user-<id>:<cursor>``, which browsers send
back as ``Last-Event-ID``), its SSE encoding and its ``stream-open``,
``keep-alive``, ``stream-reset`` and ``stream-error`` events. Its loop is
ours, because the library's loop:

* holds a database connection for as long as the stream is open (it reads
  storage on the request's own thread, which Django only releases when the
  response ends): ours reads in a worker thread and releases the
  connection after each read;
* forgets the stream's position whenever an event without an id (presence,
  typing) passes, so a reconnect could no longer resume: ours keeps the
  position and sends such events without an ``id:`` line, which leaves the
  browser's ``Last-Event-ID`` as it was;
* only learns about a fan-out outage by luck: ours re-reads storage
  whenever the hub reconnects, and tells the browser when live delivery is
  down so it can poll meanwhile.

The request passes through every middleware like any other (sessions,
login and TOTP checks, session lifetimes, security headers). The view then
hands the connection over (``handoff``): Django finishes the request, which
frees its request object, its thread and its database connection, and the
stream goes on in a small loop of its own. Run without the hand-over (the
test client, or an application without the wrapper), the same loop runs
inside Django's streaming response instead.

A stream whose client has gone ends at once. A client that stops reading
blocks the stream on its send; meanwhile at most django-eventstream's
``MAX_PENDING`` events queue per stream, and past that the stream reads
storage again once the client drains, so nothing queues without limit.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache, partial
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from asgiref.sync import sync_to_async
from django.http import (
    HttpRequest,
    HttpResponse,
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
# proxy and browser buffers. Sent as one shared bytes object, on its own, so
# no stream keeps a copy of it.
PADDING = (":" + " " * 2048 + "\n\n").encode()
KEEP_ALIVE = b"event: keep-alive\ndata:\n\n"
PAGE_SIZE = 100
# Message ids a stream remembers having sent, to skip repeats when it reads
# storage while the same events also arrive live.
REMEMBERED_IDS = 64
# Where the view leaves a stream for the ASGI hand-over (``handoff``).
HANDOFF_KEY = "hashwhisper.stream"


# django-eventstream's rules for an event's text (``sse_encode_event``): the
# type and id lose any line break or NUL, and the data is split at line
# breaks, one ``data:`` line each.
FIELD_FORBIDDEN = re.compile(r"[\r\n\0]")
LINE_BREAK = re.compile(r"\r\n|\r|\n")


@lru_cache(maxsize=32)
def event_line(event_type: str) -> str:
    return f"event: {FIELD_FORBIDDEN.sub('', event_type)}\n"


# The data lines of the last event encoded: an event for a group reaches
# every member's stream in this process with the same data, which each
# stream then encodes with its own id.
_last_data: tuple[str, str] = ("", "data: \n\n")


def data_lines(data: str) -> str:
    global _last_data
    last = _last_data
    if last[0] == data:
        return last[1]
    lines = "".join(f"data: {line}\n" for line in LINE_BREAK.split(data)) + "\n"
    _last_data = (data, lines)
    return lines


def encode_event(event_type: str, data: str, event_id: str | None = None) -> str:
    """The same text as django-eventstream's ``sse_encode_event`` for a
    string ``data``, without its regular expressions for each stream."""
    if event_id:
        event_id = FIELD_FORBIDDEN.sub("", event_id)
    head = event_line(event_type)
    if event_id:
        head += f"id: {event_id}\n"
    return head + data_lines(data)


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
        # isascii(): str.isdigit() also accepts digits such as "²" that
        # int() refuses.
        if (
            unquote(name) == channel
            and raw.isascii()
            and raw.isdigit()
            and len(raw) <= 18
        ):
            return int(raw)
    return None


async def in_worker(read: Callable[[], T]) -> T:
    """Run a blocking storage read off the event loop."""
    return await sync_to_async(read, thread_sensitive=False)()


class StreamState:
    """Where a stream is: its cursor and the message ids it recently sent."""

    __slots__ = ("channel", "cursor", "id_prefix", "order", "sent")

    def __init__(self, channel: str, cursor: int) -> None:
        self.channel = channel
        self.cursor = cursor
        # django-eventstream's id of one channel (``make_id``): the quoted
        # channel, a colon, the position.
        self.id_prefix = f"{quote(channel)}:"
        # Made on the first message: an idle stream carries neither.
        self.sent: set[int] | None = None
        self.order: deque[int] | None = None

    def event_id(self) -> str:
        return f"{self.id_prefix}{self.cursor}"

    def encode(self, event: Event) -> str:
        # A delivered event object is shared by all streams of its user in
        # this process, and encodes the same for each of them (same channel,
        # same cursor after it): the text is kept on the event and reused.
        cached: tuple[int | None, str] | None = getattr(event, "sse", None)
        if event.id is None:
            # No id line: the browser's Last-Event-ID stays where it was.
            if cached is None:
                cached = (None, encode_event(event.type, str(event.data)))
                event.sse = cached
            return cached[1]
        event_id = int(event.id)
        if self.sent is None or self.order is None:
            self.sent, self.order = set(), deque()
        if event_id in self.sent:
            return ""
        self.sent.add(event_id)
        self.order.append(event_id)
        if len(self.order) > REMEMBERED_IDS:
            self.sent.discard(self.order.popleft())
        # The cursor only moves forward: events can arrive out of id order
        # (DESIGN.md, pitfall 5), and browsers sort by id themselves.
        self.cursor = max(self.cursor, event_id)
        if cached is not None and cached[0] == self.cursor:
            return cached[1]
        text = encode_event(event.type, str(event.data), self.event_id())
        event.sse = (self.cursor, text)
        return text

    def encode_all(self, events: list[Event]) -> str:
        return "".join(self.encode(e) for e in events)


def status_event(live: bool) -> str:
    return str(sse_encode_event(local.STATUS_EVENT, json.dumps({"live": live})))


async def read_stored(
    storage: MessageStorage, state: StreamState, *, resend: bool
) -> AsyncIterator[bytes]:
    """Send stored events after the cursor, page by page.

    With ``resend``, recent events at or below the cursor go first (see
    ``config.resend_seconds``). Past ``config.resume_limit`` events the
    stream jumps to the newest id and sends ``stream-reset``, and the
    browser reads the rest from the history API.
    """
    channel = state.channel
    if resend:
        since = timezone.now() - timedelta(seconds=config.resend_seconds())
        recent = await in_worker(
            partial(storage.get_recent, channel, state.cursor, since, PAGE_SIZE)
        )
        body = state.encode_all(recent)
        if body:
            yield body.encode()
    sent = 0
    while True:
        page = await in_worker(
            partial(storage.get_events, channel, state.cursor, PAGE_SIZE)
        )
        body = state.encode_all(page)
        if body:
            yield body.encode()
        sent += len(page)
        if len(page) < PAGE_SIZE:
            return
        if sent >= config.resume_limit():
            newest = await in_worker(partial(storage.get_current_id, channel))
            state.cursor = max(state.cursor, newest)
            reset = sse_encode_event(
                "stream-reset",
                {"channels": [channel]},
                event_id=state.event_id(),
                json_encode=True,
            )
            yield str(reset).encode()
            return


async def release_request_thread() -> None:
    """Give back the database connection the middleware used.

    Only needed when the stream runs inside Django's response: Django runs
    a request's synchronous middleware on a thread of its own and releases
    that thread's connection only when the response ends. The call runs on
    that same thread (``thread_sensitive``), after all middleware is done.
    """
    await sync_to_async(release_connections, thread_sensitive=True)()


def storage_or_fail() -> MessageStorage:
    storage = get_storage()
    if not isinstance(storage, MessageStorage):
        raise TypeError("EVENTSTREAM_STORAGE_CLASS must be a MessageStorage")
    return storage


async def event_stream(
    listener: local.StreamListener, cursor: int | None
) -> AsyncGenerator[bytes, None]:
    """The body of one stream, as SSE bytes; ends when the stream is refused
    or ``listener.closed`` is set."""
    manager = get_listener_manager()
    storage = storage_or_fail()
    channel = local.user_channel(listener.user_id)
    listener.assign_loop()
    manager.add_listener(listener)
    hub = get_hub()
    attached = False
    try:
        live = await hub.attach(listener.user_id)
        attached = True
        resume = cursor is not None
        if cursor is None:
            cursor = await in_worker(partial(storage.get_current_id, channel))
        state = StreamState(channel, cursor)
        yield PADDING
        # The opening carries the cursor, so a browser that hears nothing
        # else before a drop still resumes from here.
        opening = sse_encode_event("stream-open", "", event_id=state.event_id())
        yield (str(opening) + status_event(live)).encode()
        read_again = resume
        while not listener.closed:
            if read_again:
                read_again = False
                async for body in read_stored(storage, state, resend=True):
                    yield body
            await listener.aevent.wait()
            with manager.lock:
                queued = listener.channel_items
                overflow = listener.overflow
                error = listener.error
                keepalive = listener.keepalive_due
                listener.aevent.clear()
                listener.channel_items = {}
                listener.overflow = False
                listener.keepalive_due = False
            text = "".join(state.encode_all(items) for items in queued.values())
            if error:
                yield (text + refusal(error)).encode()
                return
            if text:
                yield text.encode()
            elif keepalive and not listener.closed:
                yield KEEP_ALIVE
            if overflow:
                read_again = True
    finally:
        manager.remove_listener(listener)
        if attached:
            hub.detach(listener.user_id)


async def streamed_in_response(
    listener: local.StreamListener, cursor: int | None
) -> AsyncIterator[bytes]:
    """The stream run inside Django's streaming response."""
    await release_request_thread()
    async for chunk in event_stream(listener, cursor):
        yield chunk


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


@dataclass
class Ticket:
    """What the hand-over needs to run a stream after Django is done."""

    user_id: int
    session_hash: str
    cursor: int | None


class Handoff:
    """The hand-over slot in the ASGI scope; the view fills it."""

    def __init__(self) -> None:
        self.ticket: Ticket | None = None


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
    ticket = Ticket(
        user.pk,
        session_hash(request.session.session_key),
        cursor_from(resume_from, channel),
    )
    scope = getattr(request, "scope", None)
    handoff = scope.get(HANDOFF_KEY) if isinstance(scope, dict) else None
    if isinstance(handoff, Handoff):
        # Headers only: the body follows once Django has let go.
        handoff.ticket = ticket
        response = HttpResponse(content_type="text/event-stream")
    else:
        listener = local.StreamListener(ticket.user_id, ticket.session_hash)
        response = StreamingHttpResponse(
            streamed_in_response(listener, ticket.cursor),
            content_type="text/event-stream",
        )
    add_default_headers(response, request=request)
    return response
