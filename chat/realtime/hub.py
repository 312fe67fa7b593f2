"""The per-process side of the fan-out: one Redis subscription, kept alive.

django-eventstream's own Redis listener subscribes once and dies for good
with the first connection error, after which its process silently delivers
nothing (DESIGN.md, pitfall 1). The hub instead:

* subscribes to the control channel and to the channel of each user with a
  stream open in this process, and to nothing else, so events for users
  elsewhere cost this process nothing;
* notices a lost connection (an error, or no answer to its pings), tells
  the streams here that live delivery is down, and reconnects with
  jittered back-off for as long as it takes;
* after every (re)connection makes the streams read stored events back, so
  what was published while it was away still arrives.

It also runs the presence sweep that turns silent users offline.

One hub runs per event loop, started by the first stream that opens.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from contextlib import suppress

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from chat.realtime import bus, config, local

log = logging.getLogger("hashwhisper.realtime")

MIN_RECONNECT_SECONDS = 0.25
MAX_RECONNECT_SECONDS = 3.0
# With nothing received for this long the hub pings Redis; with nothing for
# three times as long the connection counts as lost.
PING_SECONDS = 5.0
# How long a new stream waits for its subscription before it starts anyway
# (it then reads what it missed from storage when the hub catches up).
SUBSCRIBE_WAIT_SECONDS = 2.0


def jittered(delay: float) -> float:
    """A delay between half and one and a half times ``delay``.

    Spread out, so that processes (and browsers) do not all come back in
    the same instant after an outage.
    """
    return delay * (0.5 + random.random())  # noqa: S311 - timing only


class Hub:
    """Subscriptions of one process, and the tasks that keep them."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.url = url
        self.loop = loop
        self.counts: dict[int, int] = {}
        self.subscribed: set[int] = set()
        self.leaving: set[int] = set()
        self.waiters: dict[int, list[asyncio.Future[None]]] = {}
        self.connected = False
        # Whether the current connection got as far as its subscription,
        # which resets the reconnect back-off.
        self.connected_since_failure = False
        self.changed = asyncio.Event()
        # The last event decoded: one event to many users here arrives once
        # on each user's channel, with the same bytes.
        self.last_raw: bytes | None = None
        self.last_envelope: bus.Envelope | None = None
        self.tasks: list[asyncio.Task[None]] = []
        if url:
            self.tasks.append(loop.create_task(self.run()))
        else:
            # Without Redis every stream is in this process: always live.
            self.connected = True
        self.tasks.append(loop.create_task(self.sweep_presence()))
        self.tasks.append(loop.create_task(self.keep_alive()))

    # Streams -----------------------------------------------------------------

    async def attach(self, user_id: int) -> bool:
        """Count a stream of ``user_id``; True once its events will arrive."""
        self.counts[user_id] = self.counts.get(user_id, 0) + 1
        if not self.url:
            return True
        if not self.connected:
            self.changed.set()
            return False
        if user_id in self.subscribed and user_id not in self.leaving:
            return True
        waiter: asyncio.Future[None] = self.loop.create_future()
        self.waiters.setdefault(user_id, []).append(waiter)
        self.changed.set()
        try:
            await asyncio.wait_for(asyncio.shield(waiter), SUBSCRIBE_WAIT_SECONDS)
        except TimeoutError:
            return False
        return True

    def detach(self, user_id: int) -> None:
        left = self.counts.get(user_id, 0) - 1
        if left > 0:
            self.counts[user_id] = left
            return
        self.counts.pop(user_id, None)
        self.changed.set()

    # Redis subscription ------------------------------------------------------

    async def run(self) -> None:
        delay = MIN_RECONNECT_SECONDS
        while True:
            try:
                await self.session()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.lost(error)
            else:
                self.lost(ConnectionError("subscription ended"))
            if self.connected_since_failure:
                delay = MIN_RECONNECT_SECONDS
            await asyncio.sleep(jittered(delay))
            delay = min(delay * 2, MAX_RECONNECT_SECONDS)

    def lost(self, error: BaseException) -> None:
        was_connected = self.connected
        self.connected = False
        self.subscribed.clear()
        self.leaving.clear()
        bus.health.subscription_lost(error)
        if was_connected:
            local.announce(False, resync=False)

    async def session(self) -> None:
        """One connection: subscribe, then read until something breaks."""
        self.connected_since_failure = False
        client = aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=2,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
        )
        pubsub = client.pubsub()
        try:
            wanted = set(self.counts)
            topics = [bus.user_topic(u) for u in sorted(wanted)]
            await pubsub.subscribe(bus.control_topic(), *topics)
            self.subscribed = wanted
            reader = asyncio.ensure_future(self.read(pubsub))
            syncer = asyncio.ensure_future(self.sync(pubsub))
            try:
                done, _ = await asyncio.wait(
                    {reader, syncer}, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for task in (reader, syncer):
                    task.cancel()
                    with suppress(asyncio.CancelledError, Exception):
                        await task
            for task in done:
                task.result()
        finally:
            with suppress(Exception):
                await pubsub.aclose()
            with suppress(Exception):
                await client.aclose()

    async def read(self, pubsub: aioredis.client.PubSub) -> None:
        control = bus.control_topic()
        user_prefix = bus.user_topic(0)[:-1]
        clock = self.loop.time
        last_heard = clock()
        while True:
            message = await pubsub.get_message(timeout=PING_SECONDS)
            if message is None:
                if clock() - last_heard > 3 * PING_SECONDS:
                    raise ConnectionError("Redis stopped answering pings")
                await pubsub.ping()
                if bus.health.publish_pending():
                    await asyncio.to_thread(bus.publisher.recover, self.url)
                continue
            last_heard = clock()
            kind = message["type"]
            channel = _text(message["channel"])
            if kind == "message":
                self.dispatch(channel, message["data"], control, user_prefix)
            elif kind == "subscribe" and channel == control:
                self.up()
            elif kind == "subscribe" and channel.startswith(user_prefix):
                self.confirmed(int(channel[len(user_prefix) :]))

    def up(self) -> None:
        self.connected = True
        self.connected_since_failure = True
        bus.health.subscription_ok()
        # Whatever was published before this subscription existed is in
        # storage: every stream here reads it back.
        local.announce(True, resync=True)

    def confirmed(self, user_id: int) -> None:
        for waiter in self.waiters.pop(user_id, []):
            if not waiter.done():
                waiter.set_result(None)

    def dispatch(
        self, channel: str, raw: bytes, control: str, user_prefix: str
    ) -> None:
        try:
            if channel == control:
                local.apply_control(json.loads(raw))
            elif channel.startswith(user_prefix):
                user_id = int(channel[len(user_prefix) :])
                local.deliver(user_id, self.decoded(raw).event(user_id))
        except (ValueError, KeyError, TypeError):
            log.warning("dropped a malformed fan-out message")

    def decoded(self, raw: bytes) -> bus.Envelope:
        if raw == self.last_raw and self.last_envelope is not None:
            return self.last_envelope
        envelope = bus.Envelope.decode(raw)
        self.last_raw, self.last_envelope = raw, envelope
        return envelope

    async def sync(self, pubsub: aioredis.client.PubSub) -> None:
        """Keep the subscriptions equal to the users with streams here."""
        while True:
            await self.changed.wait()
            self.changed.clear()
            wanted = set(self.counts)
            join = wanted - self.subscribed
            leave = self.subscribed - wanted
            if join:
                self.subscribed |= join
                await pubsub.subscribe(*[bus.user_topic(u) for u in sorted(join)])
            if leave:
                self.leaving |= leave
                await pubsub.unsubscribe(*[bus.user_topic(u) for u in sorted(leave)])
                self.subscribed -= leave
                self.leaving -= leave
                # A stream of one of these users may have opened meanwhile.
                if leave & set(self.counts):
                    self.changed.set()

    # Presence ----------------------------------------------------------------

    async def sweep_presence(self) -> None:
        """Turn users whose heartbeats stopped offline, and say so."""
        from chat.realtime import presence

        while True:
            await asyncio.sleep(presence.sweep_interval())
            try:
                await sync_to_async(presence.sweep, thread_sensitive=False)()
            except Exception:
                # Presence waits for Redis like everything else; the outage
                # is logged once by the fan-out.
                log.debug("presence sweep failed", exc_info=True)

    async def keep_alive(self) -> None:
        """Have idle streams send a keep-alive, so proxies keep them open.

        One timer for the whole process rather than one per stream.
        """
        while True:
            await asyncio.sleep(config.keepalive_seconds())
            local.tick()

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return value or ""


_hub: Hub | None = None


def get_hub() -> Hub:
    """The hub of the running event loop, started on first use."""
    global _hub
    loop = asyncio.get_running_loop()
    url = config.redis_url()
    if _hub is None or _hub.loop is not loop or _hub.url != url:
        if _hub is not None and _hub.loop is loop:
            _hub.stop()
        _hub = Hub(url, loop)
    return _hub


def current_hub() -> Hub | None:
    return _hub
