"""The per-process side of the fan-out: one Redis subscription, kept alive.

django-eventstream's own Redis listener subscribes once and dies for good
with the first connection error, after which its process silently delivers
nothing (DESIGN.md, pitfall 1). The hub instead:

* subscribes to the control channel, to the channel of each user with a
  stream open in this process and to the channels of those users' groups,
  and to nothing else, so events for users elsewhere cost this process
  nothing; an event on a group's channel goes to the users it lists that
  have a stream here;
* learns of a user's groups from the database when their first stream here
  opens, of a group joined later from a control message, and reads them all
  again after every (re)connection and resync;
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
from typing import Any

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from chat.realtime import bus, config, local
from chat.realtime.storage import released

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
        # The groups of each user counted above.
        self.user_groups: dict[int, set[str]] = {}
        self.loading: dict[int, asyncio.Future[dict[int, set[str]]]] = {}
        # Users to read back stored events for once a group's channel is
        # subscribed: they joined it and its events may have passed by.
        self.catch_up: dict[str, set[int]] = {}
        # Joins heard while ``reload_groups`` reads the database, one record
        # per read under way: its snapshot may predate them.
        self.hearing: list[dict[int, set[str]]] = []
        # Reading every user's groups again, after a failed read (the
        # database down as the subscription came back), until one succeeds.
        self.rereading: asyncio.Task[None] | None = None
        self.reread_failing = False
        # Groups local users were removed from, to be checked against the
        # database (``removed``) before their channels are let go.
        self.unsure: dict[int, set[str]] = {}
        self.checking: asyncio.Task[None] | None = None
        self.subscribed: set[str] = set()
        self.leaving: set[str] = set()
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
        self.background: set[asyncio.Task[None]] = set()
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
        try:
            return await self.subscribe_user(user_id)
        except BaseException:
            # Failed or cancelled (a streaming response whose client left):
            # not counted, or its channels would stay subscribed for good.
            self.detach(user_id)
            raise

    async def subscribe_user(self, user_id: int) -> bool:
        await self.learn_groups(user_id)
        if not self.connected:
            self.changed.set()
            return False
        # A user's channel is subscribed together with, and after, the
        # channels of their groups (``ordered``); a group joined later is
        # read back once its channel is (``catch_up``).
        topic = bus.user_topic(user_id)
        if topic in self.subscribed and topic not in self.leaving:
            return True
        waiter: asyncio.Future[None] = self.loop.create_future()
        self.waiters.setdefault(user_id, []).append(waiter)
        self.changed.set()
        try:
            await asyncio.wait_for(asyncio.shield(waiter), SUBSCRIBE_WAIT_SECONDS)
        except TimeoutError:
            return False
        finally:
            self.forget_waiter(user_id, waiter)
        return True

    def forget_waiter(self, user_id: int, waiter: asyncio.Future[None]) -> None:
        waiting = self.waiters.get(user_id, [])
        if waiter in waiting:
            waiting.remove(waiter)
        if not waiting:
            self.waiters.pop(user_id, None)

    async def learn_groups(self, user_id: int) -> None:
        """Read the user's groups, once however many streams open at once."""
        loading = self.loading.get(user_id)
        if loading is None:
            if user_id in self.user_groups:
                return
            # Joins heard while the database is read are kept here.
            self.user_groups[user_id] = set()
            loading = asyncio.ensure_future(
                sync_to_async(groups_of, thread_sensitive=False)([user_id])
            )
            self.loading[user_id] = loading
        try:
            found = await asyncio.shield(loading)
        except Exception:
            # Read again by the next stream to open. Another stream waiting
            # for the same read hears of the failure later; by then a third
            # may have started a new read, which stays.
            if self.loading.get(user_id) is loading:
                del self.loading[user_id]
                self.user_groups.pop(user_id, None)
            raise
        if self.loading.get(user_id) is not loading:
            # Another stream waiting for the same read got here first.
            return
        del self.loading[user_id]
        # Groups first, then the user counts as wanted (``wanted``).
        self.user_groups.setdefault(user_id, set()).update(found[user_id])
        self.changed.set()

    def detach(self, user_id: int) -> None:
        left = self.counts.get(user_id, 0) - 1
        if left > 0:
            self.counts[user_id] = left
            return
        self.counts.pop(user_id, None)
        self.user_groups.pop(user_id, None)
        self.loading.pop(user_id, None)
        self.unsure.pop(user_id, None)
        for group_id, users in list(self.catch_up.items()):
            users.discard(user_id)
            if not users:
                del self.catch_up[group_id]
        self.changed.set()

    def wanted(self) -> set[str]:
        """The channels this process needs: its users' and their groups'.

        A user whose groups are still being read is left out: their channel
        must not count as subscribed before their groups' channels are.
        """
        topics: set[str] = set()
        for user_id in self.counts:
            if user_id in self.loading:
                continue
            topics.add(bus.user_topic(user_id))
            topics.update(bus.group_topic(g) for g in self.user_groups.get(user_id, ()))
        return topics

    def joined(self, user_id: int, group_id: str) -> None:
        """A user with a stream here joined a group: listen to it too."""
        groups = self.user_groups.get(user_id)
        if user_id not in self.counts or groups is None:
            return
        for heard in self.hearing:
            heard.setdefault(user_id, set()).add(group_id)
        if group_id in groups:
            return
        groups.add(group_id)
        if bus.group_topic(group_id) not in self.subscribed:
            self.catch_up.setdefault(group_id, set()).add(user_id)
            self.changed.set()

    def removed(self, user_id: int, group_id: str) -> None:
        """A user with a stream here left a group, or was removed from it.

        Its channel is let go (unless another user here is in the group)
        once the database confirms: the control message of a join made
        right after may arrive first, from another process.
        """
        groups = self.user_groups.get(user_id)
        if user_id not in self.counts or groups is None or group_id not in groups:
            return
        self.unsure.setdefault(user_id, set()).add(group_id)
        if self.checking is None or self.checking.done():
            self.checking = self.loop.create_task(self.forget_removed())
            self.background.add(self.checking)
            self.checking.add_done_callback(self.background.discard)

    async def forget_removed(self) -> None:
        """Drop the groups ``removed`` heard of that the database no longer
        lists; if it cannot say, they stay until the next full read."""
        while self.unsure:
            batch, self.unsure = self.unsure, {}
            heard: dict[int, set[str]] = {}
            self.hearing.append(heard)
            try:
                found = await sync_to_async(groups_of, thread_sensitive=False)(
                    list(batch)
                )
            except Exception:
                self.unsure.clear()
                return
            finally:
                self.hearing.remove(heard)
            for user_id, gone in batch.items():
                groups = self.user_groups.get(user_id)
                if user_id not in self.counts or groups is None:
                    continue
                for group_id in gone - found[user_id] - heard.get(user_id, set()):
                    groups.discard(group_id)
                    waiting = self.catch_up.get(group_id)
                    if waiting is not None:
                        waiting.discard(user_id)
                        if not waiting:
                            del self.catch_up[group_id]
            self.changed.set()

    async def reload_groups(self) -> bool:
        """Read every local user's groups again (after an outage, control
        messages about joins may have been lost); False if the read failed."""
        users = list(self.counts)
        if not users:
            return True
        heard: dict[int, set[str]] = {}
        self.hearing.append(heard)
        try:
            found = await sync_to_async(groups_of, thread_sensitive=False)(users)
        except Exception as error:
            if not self.reread_failing:
                log.warning(
                    "could not read the groups of this process's streams (%s);"
                    " trying again",
                    type(error).__name__,
                )
            self.reread_failing = True
            return False
        finally:
            self.hearing.remove(heard)
        if self.reread_failing:
            self.reread_failing = False
            log.warning("read the groups of this process's streams again")
        for user_id, groups in found.items():
            if user_id not in self.counts:
                continue
            # A join heard during the read may be missing from what it saw.
            groups |= heard.get(user_id, set())
            for group_id in groups - self.user_groups.get(user_id, set()):
                self.catch_up.setdefault(group_id, set()).add(user_id)
            self.user_groups[user_id] = groups
        self.changed.set()
        return True

    async def reload_or_retry(self) -> None:
        """``reload_groups``; if the database fails it, again until it answers.

        Until then a group joined while the fan-out was down is unknown
        here: its events would not reach the member's streams on this worker.
        """
        if await self.reload_groups():
            return
        if self.rereading is None or self.rereading.done():
            self.rereading = self.loop.create_task(self.reload_until_read())
            self.background.add(self.rereading)
            self.rereading.add_done_callback(self.background.discard)

    async def reload_until_read(self) -> None:
        delay = MIN_RECONNECT_SECONDS
        while True:
            await asyncio.sleep(jittered(delay))
            if await self.reload_groups():
                return
            delay = min(delay * 2, MAX_RECONNECT_SECONDS)

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
            await self.reload_or_retry()
            # Whatever waited for a group's channel is read back below (up).
            self.catch_up.clear()
            wanted = self.wanted()
            await pubsub.subscribe(bus.control_topic(), *ordered(wanted))
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
        group_prefix = bus.group_topic("")
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
                self.dispatch(
                    channel, message["data"], control, user_prefix, group_prefix
                )
            elif kind == "subscribe" and channel == control:
                self.up()
            elif kind == "subscribe" and channel.startswith(user_prefix):
                self.confirmed(int(channel[len(user_prefix) :]))
            elif kind == "subscribe" and channel.startswith(group_prefix):
                self.group_confirmed(channel[len(group_prefix) :])

    def up(self) -> None:
        self.connected = True
        self.connected_since_failure = True
        bus.subscription_recovered()
        # Whatever was published before this subscription existed is in
        # storage: every stream here reads it back.
        local.announce(True, resync=True)

    def confirmed(self, user_id: int) -> None:
        for waiter in self.waiters.pop(user_id, []):
            if not waiter.done():
                waiter.set_result(None)

    def group_confirmed(self, group_id: str) -> None:
        users = self.catch_up.pop(group_id, set())
        local.read_back(sorted(u for u in users if u in self.counts))

    def dispatch(
        self,
        channel: str,
        raw: bytes,
        control: str,
        user_prefix: str,
        group_prefix: str,
    ) -> None:
        try:
            if channel == control:
                self.control(json.loads(raw))
            elif channel.startswith(group_prefix):
                envelope = self.decoded(raw)
                for user_id in envelope.recipients or ():
                    if user_id in self.counts:
                        local.deliver(user_id, envelope.event(user_id))
            elif channel.startswith(user_prefix):
                user_id = int(channel[len(user_prefix) :])
                local.deliver(user_id, self.decoded(raw).event(user_id))
        except Exception as error:
            # Whatever one message holds (not an object, nested past the
            # recursion limit, ...), it must not end the subscription: that
            # would tell every stream here that live delivery went down.
            log.warning(
                "dropped a malformed fan-out message (%s)", type(error).__name__
            )

    def control(self, message: Any) -> None:
        if not isinstance(message, dict):
            raise TypeError("a control message is an object")
        op, user, group = message.get("op"), message.get("user"), message.get("group")
        if op == "joined" and type(user) is int and isinstance(group, str):
            self.joined(user, group)
        elif op == "removed" and type(user) is int and isinstance(group, str):
            self.removed(user, group)
        elif op == "resync":
            # Joins announced while the fan-out was down are found again.
            task = self.loop.create_task(self.reload_or_retry())
            self.background.add(task)
            task.add_done_callback(self.background.discard)
        local.apply_control(message)

    def decoded(self, raw: bytes) -> bus.Envelope:
        if raw == self.last_raw and self.last_envelope is not None:
            return self.last_envelope
        envelope = bus.Envelope.decode(raw)
        self.last_raw, self.last_envelope = raw, envelope
        return envelope

    async def sync(self, pubsub: aioredis.client.PubSub) -> None:
        """Keep the subscriptions equal to the channels wanted here."""
        while True:
            await self.changed.wait()
            self.changed.clear()
            wanted = self.wanted()
            join = wanted - self.subscribed
            leave = self.subscribed - wanted
            if join:
                self.subscribed |= join
                await pubsub.subscribe(*ordered(join))
            if leave:
                self.leaving |= leave
                await pubsub.unsubscribe(*sorted(leave))
                self.subscribed -= leave
                self.leaving -= leave
                # A stream of one of these users may have opened meanwhile.
                if leave & self.wanted():
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
        for task in [*self.tasks, *self.background]:
            task.cancel()


def ordered(topics: set[str]) -> list[str]:
    """Groups' channels before users': a stream counts as live once its
    user's channel is confirmed, and Redis confirms in order."""
    user_prefix = bus.user_topic(0)[:-1]
    return sorted(topics, key=lambda t: (t.startswith(user_prefix), t))


def groups_of(user_ids: list[int]) -> dict[int, set[str]]:
    """The groups each user belongs to, from the database."""
    from groups.models import Membership

    def read() -> dict[int, set[str]]:
        found: dict[int, set[str]] = {u: set() for u in user_ids}
        rows = Membership.objects.filter(user_id__in=user_ids).values_list(
            "user_id", "group_id"
        )
        for user_id, group_id in rows:
            found[user_id].add(group_id)
        return found

    return released(read)


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
