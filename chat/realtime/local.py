"""This process's open streams: delivering to them, kicking them.

django-eventstream keeps the streams of a process in its
``ListenerManager``: one bounded queue per stream and channel, guarded by
a thread lock, with a wake-up that is safe from any thread. Everything here
goes through that manager, so it may be called from request threads and
from the event loop alike.
"""

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from django_eventstream.event import Event
from django_eventstream.views import Listener, get_listener_manager

# The event a stream sends when the fan-out goes away or comes back, so
# the browser knows to poll the history API meanwhile.
STATUS_EVENT = "realtime"
# The event a stream sends when its user left or was removed from a group.
REMOVED_EVENT = "removed"


def user_channel(user_id: int) -> str:
    return f"user-{user_id}"


@dataclass
class GroupEvent(Event):
    """An event with the group it concerns, so a removal can drop it."""

    group: str | None = None


class Signal:
    """``asyncio.Event``'s set, clear and wait, at a fraction of its size.

    Every open stream has one, and an Event keeps a deque even when nobody
    waits; this keeps one future, and only while its stream waits.
    """

    __slots__ = ("flag", "waiter")

    def __init__(self) -> None:
        self.flag = False
        self.waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self.flag = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self.flag = False

    def is_set(self) -> bool:
        return self.flag

    async def wait(self) -> bool:
        if not self.flag:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return True


class StreamListener(Listener):
    """One open stream: its user, its session and its queue."""

    def __init__(self, user_id: int, session_hash: str) -> None:
        super().__init__()
        self.aevent = Signal()
        self.user_id = user_id
        self.session_hash = session_hash
        self.channels = {user_channel(user_id)}
        # Set when the client has gone; the stream's loop then ends.
        self.closed = False
        # Set by the hub's keep-alive tick; the stream then sends one if it
        # has nothing else to send.
        self.keepalive_due = False

    def wake_threadsafe(self) -> None:
        """Wake the stream, from any thread.

        The library always goes through ``call_soon_threadsafe``, which
        writes to the loop's wake-up pipe: a system call per event and
        stream. Events from the hub are delivered on the stream's own loop,
        where the stream can be woken directly.
        """
        loop = self.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is loop:
            self.aevent.set()
        elif loop is not None:
            loop.call_soon_threadsafe(self.aevent.set)


def deliver(user_id: int, event: Event) -> None:
    """Queue an event for every stream of the user in this process."""
    get_listener_manager().add_to_queues(user_channel(user_id), event)


def _streams(user_id: int | None = None) -> list[Listener]:
    """Streams of one user, or all; the caller holds the manager's lock."""
    manager = get_listener_manager()
    if user_id is not None:
        return list(manager.listeners_by_channel.get(user_channel(user_id), ()))
    found: set[Listener] = set()
    for listeners in manager.listeners_by_channel.values():
        found.update(listeners)
    return list(found)


def revoke(user_id: int | None, session_hash: str | None = None) -> int:
    """End streams with a refusal: a user's (of one session, or all), or
    those of one session whoever it belonged to.

    The stream sends django-eventstream's ``stream-error``, which tells the
    browser not to reconnect. Returns how many streams were told.
    """
    if user_id is None and session_hash is None:
        return 0
    manager = get_listener_manager()
    with manager.lock:
        chosen = [
            listener
            for listener in _streams(user_id)
            if session_hash is None
            or getattr(listener, "session_hash", None) == session_hash
        ]
        for listener in chosen:
            listener.error = {
                "condition": "forbidden",
                "text": "The session ended.",
                "extra": {"channels": sorted(listener.channels)},
            }
    for listener in chosen:
        listener.wake_threadsafe()
    return len(chosen)


def drop_group(user_id: int, group_id: str) -> int:
    """Stop the user's streams carrying a group the user no longer belongs to.

    Events of the group still waiting in a queue are dropped, and the
    stream says ``removed`` so the browser closes the group. Returns how
    many streams were told.
    """
    manager = get_listener_manager()
    notice = Event(
        user_channel(user_id), REMOVED_EVENT, json.dumps({"group": group_id})
    )
    with manager.lock:
        chosen = _streams(user_id)
        for listener in chosen:
            for channel in listener.channels:
                items = listener.channel_items.get(channel, [])
                kept = [e for e in items if getattr(e, "group", None) != group_id]
                kept.append(Event(channel, notice.type, notice.data))
                listener.channel_items[channel] = kept
    for listener in chosen:
        listener.wake_threadsafe()
    return len(chosen)


def read_back(user_ids: list[int]) -> int:
    """Have these users' streams here read stored events back.

    For a group a user has just joined: its events may have passed by
    before this process listened to the group's channel. Returns how many
    streams were told.
    """
    manager = get_listener_manager()
    with manager.lock:
        chosen = [listener for user_id in user_ids for listener in _streams(user_id)]
        for listener in chosen:
            listener.overflow = True
    for listener in chosen:
        listener.wake_threadsafe()
    return len(chosen)


def announce(live: bool, *, resync: bool) -> int:
    """Tell every stream here whether the fan-out works.

    With ``resync`` the streams also read stored events back: after a
    fan-out outage, events published meanwhile never arrived. Returns how
    many streams were told.
    """
    manager = get_listener_manager()
    status = json.dumps({"live": live})
    with manager.lock:
        chosen = _streams()
        for listener in chosen:
            if resync:
                listener.overflow = True
            for channel in listener.channels:
                items = listener.channel_items.setdefault(channel, [])
                items.append(Event(channel, STATUS_EVENT, status))
    for listener in chosen:
        listener.wake_threadsafe()
    return len(chosen)


def tick() -> int:
    """Mark every stream here as due a keep-alive, and wake it."""
    manager = get_listener_manager()
    with manager.lock:
        chosen = _streams()
        for listener in chosen:
            listener.keepalive_due = True
    for listener in chosen:
        listener.wake_threadsafe()
    return len(chosen)


def user_ids_with_streams() -> set[int]:
    manager = get_listener_manager()
    with manager.lock:
        return {
            int(channel.removeprefix("user-"))
            for channel, listeners in manager.listeners_by_channel.items()
            if listeners and channel.startswith("user-")
        }


def stream_count() -> int:
    manager = get_listener_manager()
    with manager.lock:
        return len(_streams())


def apply_control(message: dict[str, Any]) -> None:
    """Carry out a control message that came over the fan-out (or locally)."""
    op = message.get("op")
    user = message.get("user")
    if op == "revoke":
        session = message.get("session")
        revoke(
            user if isinstance(user, int) else None,
            session if isinstance(session, str) else None,
        )
    elif op == "removed" and isinstance(user, int):
        group = message.get("group")
        if isinstance(group, str):
            drop_group(user, group)
    elif op == "resync":
        announce(True, resync=True)
