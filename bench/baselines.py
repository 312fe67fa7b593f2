"""A minimal raw-ASGI event relay over Redis, the benchmark's yardstick.

``GET /events`` holds a Server-Sent Events stream; ``POST /send`` publishes
its body on one Redis channel, and every process relays what arrives there
to all of its streams. Nothing else: no sessions, no database, no storage.
``POST /send-stored`` first commits the body as a row in PostgreSQL
(``HW_BENCH_DATABASE_URL``, table ``relay_message``), as the product does
before it publishes: the same relay with durability, for context.
Run it with uvicorn: ``bench.baselines:relay``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import suppress
from typing import Any

import psycopg
import redis.asyncio as aioredis

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CHANNEL = "relay"
REDIS_URL = os.environ.get("HW_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE_URL = os.environ.get("HW_BENCH_DATABASE_URL", "")

queues: set[asyncio.Queue[bytes]] = set()
started: asyncio.Task[None] | None = None
publisher: aioredis.Redis | None = None
# One connection per process, one statement at a time, committed at once.
store: psycopg.AsyncConnection[Any] | None = None
store_lock = asyncio.Lock()


async def listen() -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub()
    await pubsub.subscribe(CHANNEL)
    async for message in pubsub.listen():
        if message["type"] == "message":
            chunk = b"data: " + message["data"] + b"\n\n"
            for queue in queues:
                queue.put_nowait(chunk)


async def relay(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    global started, publisher
    if scope["type"] != "http":
        return
    if started is None:
        started = asyncio.ensure_future(listen())
        publisher = aioredis.Redis.from_url(REDIS_URL)
    path, method = scope["path"], scope["method"]
    if path in ("/send", "/send-stored") and method == "POST":
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if path == "/send-stored":
            await stored(body)
        if publisher is not None:
            await publisher.publish(CHANNEL, body)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/events":
        await stream(receive, send)
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def stored(body: bytes) -> None:
    global store
    async with store_lock:
        if store is None:
            store = await psycopg.AsyncConnection.connect(DATABASE_URL, autocommit=True)
        await store.execute("INSERT INTO relay_message (body) VALUES (%s)", (body,))


async def stream(receive: Receive, send: Send) -> None:
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send(
        {
            "type": "http.response.body",
            "body": b"event: open\ndata:\n\n",
            "more_body": True,
        }
    )
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    queues.add(queue)

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(watch())
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait(
                {getter, watcher}, return_when=asyncio.FIRST_COMPLETED
            )
            if watcher in done:
                getter.cancel()
                return
            await send(
                {
                    "type": "http.response.body",
                    "body": getter.result(),
                    "more_body": True,
                }
            )
    finally:
        queues.discard(queue)
        watcher.cancel()
        with suppress(asyncio.CancelledError):
            await watcher
