"""Publishing live events to users' channels, and the fan-out's health.

With ``HASHWHISPER_REDIS_URL`` set, an event of a group (a message, a
membership change, typing) is published once, on the group's Redis
channel, with the ids of the users it is for; any other event (presence)
on the channel of each user it is for. Every worker process subscribes only
to the channels of the users with a stream open there and of their groups
(``hub``), so a worker never decodes events nobody on it listens to, and a
message to a group of 500 crosses Redis once per worker, not 500 times.
The recipients travel with the event and decide who gets it: they were
read from the database when the event was made, so a worker that still
listens to a group one of its users has left delivers nothing to that user.
Without Redis the chat runs as one process and events go straight to its
streams.

Publishing never raises: the data behind an event is committed before the
event is sent, and a browser reads what it missed back from storage or the
history API. A failed publish is logged once, when the fan-out goes down,
and once more when it is back (``Health``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chat.realtime import config, local

log = logging.getLogger("hashwhisper.realtime")

T = TypeVar("T")

# After a failed publish, publishing is skipped for this long, so requests
# do not each wait on an unreachable Redis.
RETRY_AFTER_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 0.5
COMMAND_TIMEOUT_SECONDS = 1.0
# One payload (ARGV[1]) published on each of the topics after it. redis-py
# runs it by its hash (EVALSHA) and loads it again if Redis has forgotten it.
FAN_OUT = """
for i = 2, #ARGV do
    redis.call('PUBLISH', ARGV[i], ARGV[1])
end
return #ARGV - 1
"""


def user_topic(user_id: int) -> str:
    return f"{config.prefix()}u:{user_id}"


def group_topic(group_id: str) -> str:
    return f"{config.prefix()}g:{group_id}"


def control_topic() -> str:
    return f"{config.prefix()}ctl"


def redis_client(url: str) -> redis.Redis:
    """A Redis client that fails fast instead of retrying.

    redis-py retries a failed command three times with back-off by default;
    a request publishing an event must not wait for that, and the hub runs
    its own reconnect loop.
    """
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=COMMAND_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
    )


@dataclass(frozen=True)
class Envelope:
    """One event as it travels between processes.

    ``data`` is the event's JSON text, sent to browsers as it is. ``event_id``
    is set for stored events (messages) only; ``group`` lets a removal drop
    queued events of that group. ``recipients`` is set on a group's channel
    only: the users the event is for.
    """

    kind: str
    data: str
    event_id: int | None = None
    group: str | None = None
    recipients: tuple[int, ...] | None = None

    def encode(self) -> bytes:
        doc: dict[str, Any] = {
            "k": self.kind,
            "d": self.data,
            "i": self.event_id,
            "g": self.group,
        }
        if self.recipients is not None:
            doc["r"] = list(self.recipients)
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes | str) -> Envelope:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise TypeError("an envelope is an object")
        event_id = doc.get("i")
        group = doc.get("g")
        listed = doc.get("r")
        recipients = (
            tuple(u for u in listed if type(u) is int)
            if isinstance(listed, list)
            else None
        )
        return cls(
            kind=str(doc["k"]),
            data=str(doc["d"]),
            event_id=event_id if isinstance(event_id, int) else None,
            group=group if isinstance(group, str) else None,
            recipients=recipients,
        )

    def event(self, user_id: int) -> local.GroupEvent:
        return local.GroupEvent(
            local.user_channel(user_id),
            self.kind,
            self.data,
            id=self.event_id,
            group=self.group,
        )


class Health:
    """Whether live fan-out works in this process; logs each change once.

    The fan-out is down while the last publish failed, or while the hub's
    subscription is lost. Until the hub has connected once it is only
    starting, which is not an outage.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._publish_failed = False
        self._subscription_lost = False
        self.down = False

    def publish_failed(self, error: BaseException) -> None:
        with self._lock:
            self._publish_failed = True
            self._settle(error)

    def publish_ok(self) -> bool:
        """Record a good publish; True if publishing had failed before."""
        with self._lock:
            had_failed = self._publish_failed
            self._publish_failed = False
            self._settle(None)
            return had_failed

    def publish_pending(self) -> bool:
        """Whether the last publish failed and nothing has succeeded since."""
        with self._lock:
            return self._publish_failed

    def subscription_lost(self, error: BaseException) -> None:
        with self._lock:
            self._subscription_lost = True
            self._settle(error)

    def subscription_ok(self) -> None:
        # A working subscription proves Redis is reachable again, so an
        # earlier publish failure no longer says anything.
        with self._lock:
            self._subscription_lost = False
            self._publish_failed = False
            self._settle(None)

    def _settle(self, error: BaseException | None) -> None:
        down = self._publish_failed or self._subscription_lost
        if down == self.down:
            return
        self.down = down
        if down:
            log.warning(
                "live fan-out down: Redis unreachable (%s); messages are still "
                "stored and browsers poll the history API",
                type(error).__name__ if error else "unknown",
            )
        else:
            log.warning("live fan-out recovered: Redis reachable again")


health = Health()


class Publisher:
    """Publishes over one thread-safe Redis client; skips while it is down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._url = ""
        self._skip_until = 0.0
        self._calls_skip_until = 0.0
        self._script: Any = None
        self._scripting = True

    def client(self, url: str) -> redis.Redis:
        with self._lock:
            if self._client is None or self._url != url:
                self._client = redis_client(url)
                self._url = url
            return self._client

    def publish(self, url: str, topics: list[str], raw: bytes) -> bool:
        """Publish ``raw`` on every topic in one round trip; False if that
        failed.

        Several topics go through a server-side script (``FAN_OUT``), so the
        payload crosses to Redis once, not once per member.
        """
        if not topics:
            return True
        now = time.monotonic()
        if now < self._skip_until:
            return False
        try:
            client = self.client(url)
            if len(topics) == 1:
                client.publish(topics[0], raw)
            elif self._scripting:
                try:
                    self.fan_out(client)(args=[raw, *topics])
                except redis.ResponseError:
                    # Scripts refused (a managed Redis or an ACL may forbid
                    # them): one PUBLISH per topic from now on.
                    self._scripting = False
                    log.warning("Redis refused the fan-out script; publishing per user")
                    self._publish_each(client, topics, raw)
            else:
                self._publish_each(client, topics, raw)
        except (redis.RedisError, OSError) as error:
            self._skip_until = time.monotonic() + RETRY_AFTER_SECONDS
            health.publish_failed(error)
            return False
        if health.publish_ok():
            # Events were lost while publishing failed: every process makes
            # its streams read them back from storage.
            self._publish_control(url, {"op": "resync"})
        return True

    @staticmethod
    def _publish_each(client: redis.Redis, topics: list[str], raw: bytes) -> None:
        pipe = client.pipeline(transaction=False)
        for topic in topics:
            pipe.publish(topic, raw)
        pipe.execute()

    def fan_out(self, client: redis.Redis) -> Any:
        with self._lock:
            if self._script is None or self._script.registered_client is not client:
                self._script = client.register_script(FAN_OUT)
            return self._script

    def call(self, url: str, command: Callable[[redis.Redis], T]) -> T:
        """Run ``command`` on the shared client, within the same pause.

        Presence and typing use Redis on every heartbeat; while it does not
        answer, each call would wait out the socket timeout. After a failure
        to reach it, calls fail at once (``redis.ConnectionError``) until
        their pause is over. The pause is their own: publishing keeps its
        own, so a message posted just after Redis is back is not skipped
        because a presence sweep failed a moment before.
        """
        if time.monotonic() < self._calls_skip_until:
            raise redis.ConnectionError("Redis failed moments ago; not tried")
        try:
            return command(self.client(url))
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            self._calls_skip_until = time.monotonic() + RETRY_AFTER_SECONDS
            raise

    def recover(self, url: str) -> None:
        """After a failed publish, try again with a resync for every process.

        Events are published when something happens; if nothing happens
        after a failure, this (called by the hub every few quiet seconds)
        still brings the streams back up to date.
        """
        if not health.publish_pending() or time.monotonic() < self._skip_until:
            return
        raw = json.dumps({"op": "resync"}).encode()
        try:
            self.client(url).publish(control_topic(), raw)
        except (redis.RedisError, OSError) as error:
            self._skip_until = time.monotonic() + RETRY_AFTER_SECONDS
            health.publish_failed(error)
            return
        health.publish_ok()

    def resume(self) -> None:
        """End the pauses an earlier failure started: Redis answers again."""
        self._skip_until = 0.0
        self._calls_skip_until = 0.0

    def _publish_control(self, url: str, message: dict[str, Any]) -> None:
        raw = json.dumps(message).encode()
        try:
            self.client(url).publish(control_topic(), raw)
        except (redis.RedisError, OSError) as error:
            health.publish_failed(error)


publisher = Publisher()


def subscription_recovered() -> None:
    """The hub is subscribed again, so Redis answers: publishing goes on at
    once. Otherwise a message posted while the pause of an earlier failed
    publish ran on would go unpublished, and unnoticed, since the streams
    are already told the fan-out is live again."""
    publisher.resume()
    health.subscription_ok()


def publisher_client(url: str) -> redis.Redis:
    """The process's shared, fail-fast Redis client for ``url``."""
    return publisher.client(url)


def publish_event(
    recipients: Iterable[int],
    kind: str,
    data: str,
    *,
    event_id: int | None = None,
    group: str | None = None,
) -> bool:
    """Send an event to each recipient's streams, wherever they are open.

    Returns False if the event could not be handed to the fan-out. Never
    raises: the request that caused the event has already done its work.
    """
    try:
        envelope = Envelope(kind, data, event_id, group)
        users = sorted(set(recipients))
        url = config.redis_url()
        if not url:
            for user_id in users:
                local.deliver(user_id, envelope.event(user_id))
            return True
        if not users:
            return True
        if group is not None:
            listed = Envelope(kind, data, event_id, group, tuple(users))
            return publisher.publish(url, [group_topic(group)], listed.encode())
        raw = envelope.encode()
        return publisher.publish(url, [user_topic(u) for u in users], raw)
    except Exception:
        log.exception("event publish failed kind=%s", kind)
        return False


def publish_control(message: dict[str, Any]) -> None:
    """Send a control message (kick, removal, resync) to every process.

    If Redis cannot take it, this process still applies it to its own
    streams.
    """
    try:
        url = config.redis_url()
        if url:
            raw = json.dumps(message).encode()
            if publisher.publish(url, [control_topic()], raw):
                return
        local.apply_control(message)
    except Exception:
        log.exception("control publish failed op=%s", message.get("op"))
