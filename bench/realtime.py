"""Realtime benchmarks: each subject against its baseline, rounds alternating.

One command starts its own PostgreSQL, Redis and servers on 127.0.0.1,
pins the servers to one core and itself (the load generator) to another,
runs every pair as A B A B ... and prints median ratios with their spread
(a pair whose spread passes 15% is flagged). Absolute figures on a shared
two-core machine are context; the ratios are the result.

    .venv/bin/python bench/realtime.py [--rounds 3] [--only latency,memory]

Pairs (docs/benchmarks.md has the targets and the last results):

latency  send-to-receive p50/p99 with 50 and 500 streams on two workers,
         against a minimal raw-ASGI relay on the same Redis; raw Redis
         publish-to-receive as the floor; for context, the same relay
         committing each message to PostgreSQL before it publishes, and
         the Django floor (a bare Django view storing one message, then
         publishing it to the relay's streams)
memory   resident memory per idle stream at 2000 streams, against the relay
         app's streams; a plain Django streaming response for context
posts    message posts per second through the API, against a bare async
         Django view doing the same insert; again with 10% reused nonces
history  a 50-message history page at 1 000 000 stored messages, against a
         bare view running the same query; the query plan
idle     a worker's CPU for 100 events/s meant for users it has no stream
         of, against django-eventstream as it ships
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.loadgen import (  # noqa: E402
    HttpConnection,
    SseStream,
    close_streams,
    field_of,
    open_streams,
)
from bench.services import (  # noqa: E402
    Postgres,
    Redis,
    Server,
    app_env,
    cores,
    cpu_seconds,
    pin_self,
    remove_tree,
    rss_kib,
    run_manage,
)

PRODUCT_APP = "hashwhisper.asgi:application"
RELAY_APP = "bench.baselines:relay"
SESSION_COOKIE = "__Host-hw_session"
CSRF_COOKIE = "__Host-hw_csrf"
SPREAD_FLAG = 0.15
ALL = ("latency", "memory", "posts", "history", "idle")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sealed(nonce: bytes | None = None) -> dict[str, Any]:
    return {
        "ciphertext": b64(secrets.token_bytes(120)),
        "nonce": b64(nonce or secrets.token_bytes(12)),
        "tag": b64(secrets.token_bytes(16)),
        "epoch": 1,
    }


STARTED = time.monotonic()


def progress(text: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f} s] {text}", file=sys.stderr, flush=True)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Pair:
    """One subject against its baseline: a value of each per round."""

    name: str
    unit: str
    subject: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    target: str = ""
    higher_is_better: bool = False

    def ratios(self) -> list[float]:
        return [s / b for s, b in zip(self.subject, self.baseline, strict=False) if b]

    def row(self) -> str:
        ratios = self.ratios()
        ratio = statistics.median(ratios) if ratios else float("nan")
        spread = (max(ratios) - min(ratios)) / ratio if len(ratios) > 1 else 0.0
        flag = " ⚠ spread" if spread > SPREAD_FLAG else ""
        return (
            f"| {self.name} | {statistics.median(self.subject):.2f} {self.unit} "
            f"| {statistics.median(self.baseline):.2f} {self.unit} "
            f"| **{ratio:.2f}x** | {spread:.0%}{flag} | {self.target} |"
        )


class Bench:
    def __init__(self, workdir: Path, rounds: int) -> None:
        self.workdir = workdir
        self.rounds = rounds
        self.server_cores, self.load_cores = cores()
        self.pg = Postgres(workdir / "pg")
        self.redis = Redis(workdir / "redis")
        self.servers: list[Server] = []
        self.pairs: list[Pair] = []
        self.notes: list[str] = []
        self.env: dict[str, str] = {}
        self.people: dict[str, Any] = {}

    # Set-up ------------------------------------------------------------------

    def setup(self) -> None:
        pin_self(self.load_cores)
        self.pg.start(self.server_cores)
        self.redis.start(self.server_cores)
        self.pg.execute("CREATE DATABASE hw")
        # The relay's durable send (bench.baselines) stores here.
        self.pg.execute(
            "CREATE TABLE relay_message (id bigserial PRIMARY KEY, body bytea"
            " NOT NULL, stored_at timestamptz NOT NULL DEFAULT now())",
            database="hw",
        )
        self.env = app_env(self.pg.uri("hw"), self.redis.url)
        progress("services up; migrating")
        run_manage(self.env, "migrate", "--noinput", log=self.workdir / "migrate.log")
        progress("seeding")
        users = [f"u{i}" for i in range(320)]
        spec = {
            "users": users,
            "groups": {
                # A sender and 50 readers.
                "latency": ["u50", *users[:50]],
                "posts": users[60:68],
                "history": ["u70"],
                **{f"filler{i}": ["u70"] for i in range(9)},
                "idle": users[100:300],
            },
        }
        result = subprocess.run(  # noqa: S603 - fixed local command
            [sys.executable, "-m", "tests.realtime.seed", json.dumps(spec)],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            check=True,
        )
        self.people = json.loads(result.stdout.decode().strip().splitlines()[-1])

    def session(self, name: str) -> str:
        return str(self.people["users"][name]["sessions"][0])

    def user_id(self, name: str) -> int:
        return int(self.people["users"][name]["id"])

    def group(self, label: str) -> str:
        return str(self.people["groups"][label])

    def server(self, app: str, name: str, **extra: str) -> Server:
        env = {**self.env, **extra}
        server = Server(app, env, self.workdir / f"{name}.log", self.server_cores)
        self.servers.append(server)
        probe = "/" if app == RELAY_APP else "/accounts/login/"
        if extra.get("DJANGO_SETTINGS_MODULE") == "bench.bare.settings":
            probe = "/"
        return server.start(probe)

    def stop(self, server: Server) -> None:
        server.stop()
        self.servers.remove(server)

    def teardown(self) -> None:
        for server in list(self.servers):
            server.stop()
        self.redis.stop()
        self.pg.stop()

    def api_headers(self, name: str, port: int) -> dict[str, str]:
        csrf = secrets.token_hex(16)
        return {
            "Cookie": f"{SESSION_COOKIE}={self.session(name)}; {CSRF_COOKIE}={csrf}",
            "X-CSRFToken": csrf,
            "Origin": f"https://127.0.0.1:{port}",
            "X-Forwarded-Proto": "https",
            "Accept": "application/json",
        }

    def stream_headers(self, name: str) -> dict[str, str]:
        return {
            "Cookie": f"{SESSION_COOKIE}={self.session(name)}",
            "X-Forwarded-Proto": "https",
            "Accept": "text/event-stream",
        }

    # 1. Latency --------------------------------------------------------------

    async def latency(self) -> None:
        product = [self.server(PRODUCT_APP, f"product-w{i}") for i in range(2)]
        relay_env = {
            "HW_BENCH_REDIS_URL": self.redis.url,
            "HW_BENCH_DATABASE_URL": self.pg.uri("hw"),
        }
        relay = [self.server(RELAY_APP, f"relay-w{i}", **relay_env) for i in range(2)]
        # Context: the cheapest Django post that stores before it publishes
        # (bench/bare), its event delivered by the relay's streams.
        floor = self.server(
            PRODUCT_APP,
            "latency-bare",
            DJANGO_SETTINGS_MODULE="bench.bare.settings",
            HW_BENCH_REDIS_URL=self.redis.url,
        )
        async_floor = self.server(
            "bench.bare.asgi:application",
            "latency-bare-async",
            DJANGO_SETTINGS_MODULE="bench.bare.settings",
            HW_BENCH_REDIS_URL=self.redis.url,
        )
        for size in (50, 500):
            await self.latency_at(size, product, relay, floor, async_floor)
        self.stop(floor)
        self.stop(async_floor)
        round_trips = await self.redis_floor()
        self.notes.append(
            "Raw Redis publish→receive (the floor): "
            f"p50 {quantile(round_trips, 0.5) * 1000:.2f} ms, "
            f"p99 {quantile(round_trips, 0.99) * 1000:.2f} ms."
        )
        for server in product + relay:
            self.stop(server)

    async def latency_at(
        self,
        size: int,
        product: list[Server],
        relay: list[Server],
        floor: Server,
        async_floor: Server,
    ) -> None:
        """``size`` streams on each subject, spread over its two workers; a
        group of 50 readers (one stream each at 50, ten each at 500).
        ``floor`` posts through a bare Django view to the relay's streams."""
        readers = [f"u{i}" for i in range(50)]
        group = self.group("latency")
        arrivals: dict[str, dict[str, list[float]]] = {
            "product": defaultdict(list),
            "relay": defaultdict(list),
        }

        def on_product(kind: str, data: str, at: float) -> None:
            if kind == "message":
                arrivals["product"][str(field_of(data, "nonce"))].append(at)

        def on_relay(kind: str, data: str, at: float) -> None:
            if kind == "message":
                arrivals["relay"][data].append(at)

        streams = [
            SseStream(
                product[i % 2].port,
                "/events/",
                self.stream_headers(readers[i % 50]),
                on_product,
            )
            for i in range(size)
        ]
        streams += [
            SseStream(relay[i % 2].port, "/events", {}, on_relay) for i in range(size)
        ]
        progress(f"opening {len(streams)} streams")
        await open_streams(streams)
        progress("streams open")
        # The load generator also listens on Redis, to time the fan-out on
        # its own: from the moment an event is published to its arrival.
        published: dict[str, float] = {}
        prefix = self.env["HASHWHISPER_REALTIME_PREFIX"]
        watched = (f"{prefix}g:{group}", "relay")
        watcher = asyncio.ensure_future(self.watch_redis(watched, published))
        await asyncio.sleep(1)
        sender = HttpConnection(
            product[0].port, self.api_headers("u50", product[0].port)
        )
        relay_sender = HttpConnection(relay[0].port)
        floor_sender = HttpConnection(floor.port)
        floor_path = f"/bare/{group}/relay?sender={self.user_id('u50')}"
        async_sender = HttpConnection(async_floor.port)
        async_path = f"/bare/{group}/relay-async?sender={self.user_id('u50')}"

        answered: list[float] = []

        async def send_product(token: str) -> None:
            body = json.dumps(sealed(base64.b64decode(token))).encode()
            path = f"/api/groups/{group}/messages"
            started = time.perf_counter()
            status, _ = await sender.request("POST", path, body)
            answered.append(time.perf_counter() - started)
            if status != 201:
                raise RuntimeError(f"a post answered {status}")

        async def send_relay(token: str) -> None:
            await relay_sender.request("POST", "/send", token.encode())

        async def send_stored(token: str) -> None:
            status, _ = await relay_sender.request(
                "POST", "/send-stored", token.encode()
            )
            if status != 204:
                raise RuntimeError(f"a stored send answered {status}")

        async def send_floor(token: str) -> None:
            body = json.dumps(sealed(base64.b64decode(token))).encode()
            status, _ = await floor_sender.request("POST", floor_path, body)
            if status != 201:
                raise RuntimeError(f"a bare Django post answered {status}")

        async def send_async_floor(token: str) -> None:
            body = json.dumps(sealed(base64.b64decode(token))).encode()
            status, _ = await async_sender.request("POST", async_path, body)
            if status != 201:
                raise RuntimeError(f"an async bare Django post answered {status}")

        p50 = Pair(f"send→receive p50, {size} streams", "ms", target="≤ 2x")
        p99 = Pair(f"send→receive p99, {size} streams", "ms", target="≤ 3x")
        f50 = Pair(f"publish→receive p50, {size} streams", "ms", target="(fan-out)")
        f99 = Pair(f"publish→receive p99, {size} streams", "ms", target="(fan-out)")
        # Context, no target: the same relay, committing each message to
        # PostgreSQL before it publishes, as the product does.
        s50 = Pair(
            f"send→receive p50, {size} streams, vs relay storing first",
            "ms",
            target="(durability)",
        )
        s99 = Pair(
            f"send→receive p99, {size} streams, vs relay storing first",
            "ms",
            target="(durability)",
        )
        # Context, no target: the Django floor (no middleware, one ORM insert,
        # then a publish, the relay's streams) against the relay.
        d50 = Pair(
            f"send→receive p50, {size} streams, Django floor vs relay",
            "ms",
            target="(Django floor)",
        )
        d99 = Pair(
            f"send→receive p99, {size} streams, Django floor vs relay",
            "ms",
            target="(Django floor)",
        )
        a50 = Pair(
            f"send→receive p50, {size} streams, all-async Django floor vs relay",
            "ms",
            target="(Django floor)",
        )
        a99 = Pair(
            f"send→receive p99, {size} streams, all-async Django floor vs relay",
            "ms",
            target="(Django floor)",
        )
        senders = (
            ("product", send_product, "product"),
            ("relay", send_relay, "relay"),
            ("stored", send_stored, "relay"),
            ("floor", send_floor, "relay"),
            ("async", send_async_floor, "relay"),
        )
        for round_number in range(self.rounds):
            progress(f"latency round {round_number + 1} at {size} streams")
            for name, send, streams_of in senders:
                total, fanout = await self.latency_round(
                    send, arrivals[streams_of], published, size
                )
                taken = {
                    "product": [
                        (p50, total, 0.5, "subject"),
                        (p99, total, 0.99, "subject"),
                        (f50, fanout, 0.5, "subject"),
                        (f99, fanout, 0.99, "subject"),
                        (s50, total, 0.5, "subject"),
                        (s99, total, 0.99, "subject"),
                    ],
                    "relay": [
                        (p50, total, 0.5, "baseline"),
                        (p99, total, 0.99, "baseline"),
                        (f50, fanout, 0.5, "baseline"),
                        (f99, fanout, 0.99, "baseline"),
                        (d50, total, 0.5, "baseline"),
                        (d99, total, 0.99, "baseline"),
                        (a50, total, 0.5, "baseline"),
                        (a99, total, 0.99, "baseline"),
                    ],
                    "stored": [
                        (s50, total, 0.5, "baseline"),
                        (s99, total, 0.99, "baseline"),
                    ],
                    "floor": [
                        (d50, total, 0.5, "subject"),
                        (d99, total, 0.99, "subject"),
                    ],
                    "async": [
                        (a50, total, 0.5, "subject"),
                        (a99, total, 0.99, "subject"),
                    ],
                }[name]
                for pair, samples, q, side in taken:
                    getattr(pair, side).append(quantile(samples, q) * 1000)
        self.pairs += [p50, p99, f50, f99, s50, s99, d50, d99, a50, a99]
        watcher.cancel()
        self.notes.append(
            f"At {size} streams a post's own answer took "
            f"{quantile(answered, 0.5) * 1000:.1f} ms (p50); the relay's send does "
            "no database work."
        )
        await sender.close()
        await relay_sender.close()
        await floor_sender.close()
        await async_sender.close()
        await close_streams(streams)

    async def latency_round(
        self,
        send: Callable[[str], Awaitable[None]],
        arrivals: dict[str, list[float]],
        published: dict[str, float],
        size: int,
        messages: int = 20,
    ) -> tuple[list[float], list[float]]:
        """Send ``messages`` one after another; return each delivery's time
        from send and, where the publish was seen, from publish."""
        sent: dict[str, float] = {}
        for _ in range(messages):
            token = b64(secrets.token_bytes(12))
            sent[token] = time.perf_counter()
            await send(token)
            await asyncio.sleep(0.05)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if all(len(arrivals.get(t, ())) >= size for t in sent):
                break
            await asyncio.sleep(0.05)
        samples = [at - sent[t] for t in sent for at in arrivals.get(t, [])]
        fanout = [
            at - published[t]
            for t in sent
            if t in published
            for at in arrivals.get(t, [])
        ]
        missing = size * messages - len(samples)
        if missing:
            self.notes.append(f"{missing} deliveries missing in a latency round")
        return samples, fanout or [float("nan")]

    async def watch_redis(
        self, channels: tuple[str, ...], published: dict[str, float]
    ) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.redis.url)
        pubsub = client.pubsub()
        await pubsub.subscribe(*channels)
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            at = time.perf_counter()
            data = message["data"].decode()
            if message["channel"] == b"relay":
                published[data] = at
            else:
                nonce = field_of(json.loads(data)["d"], "nonce")
                published[str(nonce)] = at

    async def redis_floor(self, count: int = 200) -> list[float]:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.redis.url)
        pubsub = client.pubsub()
        await pubsub.subscribe("floor")
        await pubsub.get_message(timeout=1)
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            await client.publish("floor", b"x")
            while True:
                message = await pubsub.get_message(timeout=1)
                if message and message["type"] == "message":
                    break
            samples.append(time.perf_counter() - started)
        await pubsub.aclose()
        await client.aclose()
        return samples

    # 2. Memory ---------------------------------------------------------------

    async def memory(self, count: int = 2000) -> None:
        pair = Pair(f"memory per idle stream, {count} streams", "KiB", target="≤ 3x")
        readers = [f"u{i}" for i in range(100, 300)]

        async def measure(
            app: str, path: str, extra: dict[str, str], named: bool
        ) -> float:
            server = self.server(app, "memory", **extra)
            try:

                def make(i: int) -> SseStream:
                    headers = (
                        self.stream_headers(readers[i % len(readers)]) if named else {}
                    )
                    return SseStream(server.port, path, headers, lambda *_: None)

                warm = [make(i) for i in range(50)]
                await open_streams(warm)
                await close_streams(warm)
                await asyncio.sleep(1)
                before = rss_kib(server.pid)
                streams = [make(i) for i in range(count)]
                await open_streams(streams)
                await asyncio.sleep(2)
                after = rss_kib(server.pid)
                await close_streams(streams)
                return (after - before) / count
            finally:
                self.stop(server)

        relay_env = {"HW_BENCH_REDIS_URL": self.redis.url}
        for _ in range(self.rounds):
            pair.subject.append(await measure(PRODUCT_APP, "/events/", {}, True))
            pair.baseline.append(await measure(RELAY_APP, "/events", relay_env, False))
        self.pairs.append(pair)
        plain = await measure(
            PRODUCT_APP,
            "/bare/events",
            {"DJANGO_SETTINGS_MODULE": "bench.bare.settings"},
            False,
        )
        self.notes.append(
            f"A plain Django streaming response (no middleware) holds "
            f"{plain:.1f} KiB per idle stream, "
            f"{plain / statistics.median(pair.baseline):.1f}x the relay's."
        )

    # 3. Posts ----------------------------------------------------------------

    async def posts(self, seconds: float = 4.0, clients: int = 8) -> None:
        product = self.server(PRODUCT_APP, "posts-product")
        bare = self.server(
            PRODUCT_APP, "posts-bare", DJANGO_SETTINGS_MODULE="bench.bare.settings"
        )
        group = self.group("posts")
        writers = [f"u{i}" for i in range(60, 68)]
        plain = Pair(
            "message posts per second",
            "posts/s",
            target="≥ 0.7x",
            higher_is_better=True,
        )
        reused = Pair(
            "posts/s with 10% reused nonces",
            "posts/s",
            target="≥ 0.7x, no 5xx",
            higher_is_better=True,
        )
        failures: dict[str, int] = defaultdict(int)
        conflicts = 0

        async def run(kind: str) -> float:
            nonlocal conflicts
            done = 0
            stop_at = time.monotonic() + seconds

            async def worker(index: int) -> None:
                nonlocal done, conflicts
                name = writers[index % len(writers)]
                if kind == "bare":
                    conn = HttpConnection(bare.port)
                    path = f"/bare/{group}/messages?sender={self.user_id(name)}"
                else:
                    conn = HttpConnection(
                        product.port, self.api_headers(name, product.port)
                    )
                    path = f"/api/groups/{group}/messages"
                accepted: list[bytes] = []
                while time.monotonic() < stop_at:
                    reuse = kind == "reuse" and accepted and secrets.randbelow(10) == 0
                    nonce = (
                        secrets.choice(accepted) if reuse else secrets.token_bytes(12)
                    )
                    status, _ = await conn.request(
                        "POST", path, json.dumps(sealed(nonce)).encode()
                    )
                    done += 1
                    if status == 201:
                        accepted.append(nonce)
                    elif status == 409 and reuse:
                        conflicts += 1
                    else:
                        failures[f"{kind} {status}"] += 1
                await conn.close()

            started = time.monotonic()
            await asyncio.gather(*(worker(i) for i in range(clients)))
            return done / (time.monotonic() - started)

        for _ in range(self.rounds):
            plain.subject.append(await run("product"))
            plain.baseline.append(await run("bare"))
            reused.subject.append(await run("reuse"))
            reused.baseline.append(plain.baseline[-1])
        self.pairs += [plain, reused]
        fives = sum(n for k, n in failures.items() if " 5" in k)
        self.notes.append(
            f"Posts: {conflicts} reused nonces answered 409; other answers: "
            f"{dict(failures) or 'none'}; 5xx: {fives}."
        )
        self.post_servers = (product, bare)

    # 4. History --------------------------------------------------------------

    async def history(self, seconds: float = 4.0, clients: int = 8) -> None:
        product, bare = getattr(self, "post_servers", (None, None))
        if product is None or bare is None:
            product = self.server(PRODUCT_APP, "history-product")
            bare = self.server(
                PRODUCT_APP,
                "history-bare",
                DJANGO_SETTINGS_MODULE="bench.bare.settings",
            )
        group = self.group("history")
        self.fill_messages(1_000_000)
        low, high = self.id_range(group)
        pair = Pair(
            "history page at 1 000 000 messages",
            "pages/s",
            target="≥ 0.8x",
            higher_is_better=True,
        )

        async def run(kind: str) -> float:
            done = 0
            stop_at = time.monotonic() + seconds

            async def worker() -> None:
                nonlocal done
                if kind == "bare":
                    conn = HttpConnection(bare.port)
                else:
                    conn = HttpConnection(
                        product.port, self.api_headers("u70", product.port)
                    )
                while time.monotonic() < stop_at:
                    before = low + 60 + secrets.randbelow(high - low - 59)
                    path = (
                        f"/bare/{group}/history?before={before}"
                        if kind == "bare"
                        else f"/api/groups/{group}/messages?before={before}"
                    )
                    status, body = await conn.request("GET", path)
                    if status != 200:
                        raise RuntimeError(f"history answered {status}: {body[:200]!r}")
                    done += 1
                await conn.close()

            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(clients)))
            return done / (time.monotonic() - started)

        for _ in range(self.rounds):
            pair.subject.append(await run("product"))
            pair.baseline.append(await run("bare"))
        self.pairs.append(pair)
        plan = self.query_plan(group, (low + high) // 2)
        scan = "index scan" if "Index Scan" in plan else "NOT an index scan"
        self.notes.append(
            f"History query plan ({scan}):\n\n    " + "\n    ".join(plan.splitlines())
        )
        for server in (product, bare):
            self.stop(server)
        if hasattr(self, "post_servers"):
            del self.post_servers

    def fill_messages(self, total: int) -> None:
        """Insert ``total`` messages spread over ten groups (one tenth in the
        measured group), straight in SQL."""
        groups = [self.group("history")] + [self.group(f"filler{i}") for i in range(9)]
        sender = self.user_id("u70")
        self.pg.execute(
            """
            INSERT INTO chat_message
                (group_id, sender_id, epoch, ciphertext, nonce, tag, created_at,
                 expires_at)
            SELECT (%(groups)s::text[])[1 + (i %% 10)], %(sender)s, 1,
                   decode(md5('c' || i) || md5('d' || i), 'hex'),
                   substring(decode(md5('n' || i), 'hex') from 1 for 12),
                   decode(md5('t' || i), 'hex'),
                   now() - make_interval(secs => %(total)s - i),
                   now() + interval '7 days'
            FROM generate_series(1, %(total)s) AS i
            """,
            "hw",
            {"groups": groups, "sender": sender, "total": total},
        )
        self.pg.execute("VACUUM ANALYZE chat_message", "hw")

    def id_range(self, group: str) -> tuple[int, int]:
        import psycopg

        with psycopg.connect(self.pg.uri("hw")) as conn:
            row = conn.execute(
                "SELECT min(id), max(id) FROM chat_message WHERE group_id = %s",
                (group,),
            ).fetchone()
        if row is None:
            raise RuntimeError("the history group has no messages")
        return int(row[0]), int(row[1])

    def query_plan(self, group: str, before: int) -> str:
        """EXPLAIN ANALYZE of the product's own statement for a page before
        a cursor, as the reader of the history pair."""
        reader = self.user_id("u70")
        code = (
            "import django; django.setup()\n"
            "from django.db import connection\n"
            "from django.utils import timezone\n"
            "from chat.services import page_statements\n"
            "sql = page_statements('default').before\n"
            "now = connection.ops.adapt_datetimefield_value(timezone.now())\n"
            f"params = [{group!r}, now, {group!r}, {reader}, {before}, 51]\n"
            "with connection.cursor() as cursor:\n"
            "    cursor.execute('EXPLAIN ANALYZE ' + sql, params)\n"
            "    print('\\n'.join(row[0] for row in cursor.fetchall()))\n"
        )
        result = subprocess.run(  # noqa: S603 - fixed local command
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
            env={**self.env, "DJANGO_SETTINGS_MODULE": "hashwhisper.settings"},
        )
        return result.stdout.decode().strip()

    # 5. Events nobody here listens to ----------------------------------------

    async def idle(self, seconds: float = 5.0, rate: int = 100) -> None:
        import redis.asyncio as aioredis

        readers = [f"u{i}" for i in range(100, 200)]
        payload = json.dumps(
            {
                "id": 1,
                "group": "x" * 22,
                "sender": 1,
                "sender_name": "someone",
                "epoch": 1,
                **{k: v for k, v in sealed().items() if k != "epoch"},
                "created_at": "2026-01-01T00:00:00+00:00",
                "expires_at": "2026-01-08T00:00:00+00:00",
            }
        )
        prefix = self.env["HASHWHISPER_REALTIME_PREFIX"]
        client = aioredis.Redis.from_url(self.redis.url)

        async def publish_for(kind: str, until: float) -> None:
            other = 100_000
            while time.monotonic() < until:
                other += 1
                if kind == "product":
                    envelope = {"k": "message", "d": payload, "i": other, "g": "x" * 22}
                    await client.publish(f"{prefix}u:{other}", json.dumps(envelope))
                else:
                    event = {
                        "channel": f"user-{other}",
                        "event_type": "message",
                        "data": payload,
                        "pub_id": None,
                    }
                    await client.publish("events_channel", json.dumps(event))
                await asyncio.sleep(1 / rate)

        async def cpu_share(server: Server, kind: str | None) -> float:
            started, cpu = time.monotonic(), cpu_seconds(server.pid)
            until = started + seconds
            if kind is None:
                await asyncio.sleep(seconds)
            else:
                await publish_for(kind, until)
            return (cpu_seconds(server.pid) - cpu) / (time.monotonic() - started)

        servers = {
            "product": self.server(PRODUCT_APP, "idle-product"),
            # Its streams each hold a database connection (fault 2), so its
            # pool must be larger than the number of streams.
            "library": self.server(
                PRODUCT_APP,
                "idle-library",
                DJANGO_SETTINGS_MODULE="tests.realtime.unwrapped.settings",
                HASHWHISPER_DB_POOL_SIZE="150",
            ),
        }
        streams: list[SseStream] = []
        for kind, server in servers.items():
            for name in readers:
                path = (
                    "/events/"
                    if kind == "product"
                    else f"/events/?channel=user-{self.user_id(name)}"
                )
                streams.append(
                    SseStream(
                        server.port, path, self.stream_headers(name), lambda *_: None
                    )
                )
        # Ten at a time: each of the library's streams opens a pooled
        # database connection of its own, and a burst of a hundred could
        # outwait the pool's timeout on a busy core.
        for start in range(0, len(streams), 10):
            await open_streams(streams[start : start + 10])
        await asyncio.sleep(2)
        shares: dict[str, list[float]] = defaultdict(list)
        for _ in range(self.rounds):
            for kind, server in servers.items():
                loaded = await cpu_share(server, kind)
                quiet = await cpu_share(server, None)
                shares[kind].append(max(0.0, loaded - quiet) * 100)
        await close_streams(streams)
        await client.aclose()
        for server in servers.values():
            self.stop(server)
        ours, library = shares["product"], shares["library"]
        self.idle_result = (ours, library)
        self.notes.append(
            f"Events for users with no stream on the worker, {rate}/s: our worker "
            f"spends {statistics.median(ours):.2f}% of a core on them (target ≤ 5%; "
            f"rounds {', '.join(f'{v:.2f}' for v in ours)}); django-eventstream as it "
            f"ships spends {statistics.median(library):.2f}% "
            f"(rounds {', '.join(f'{v:.2f}' for v in library)})."
        )

    # Report ------------------------------------------------------------------

    def report(self, took: float) -> str:
        lines = [
            f"Machine: {os.cpu_count()} CPUs ({self.cpu_model()}), Python "
            f"{sys.version.split()[0]}; servers pinned to core(s) "
            f"{sorted(self.server_cores)}, load generator to "
            f"{sorted(self.load_cores)}; "
            f"{self.rounds} rounds per pair; run took {took:.0f} s.",
            "",
            "| pair | subject | baseline | ratio (median) | spread | target |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
            *[pair.row() for pair in self.pairs],
            "",
            *[f"- {note}" for note in self.notes],
        ]
        return "\n".join(lines)

    def cpu_model(self) -> str:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
        return "unknown CPU"


async def run(bench: Bench, chosen: list[str]) -> None:
    for name in ALL:
        if name in chosen:
            progress(name)
            await getattr(bench, name)()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(ALL))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="hw-bench-"))
    # PostgreSQL runs as the postgres user and must reach its folder inside.
    workdir.chmod(0o755)
    bench = Bench(workdir, args.rounds)
    started = time.monotonic()
    try:
        bench.setup()
        asyncio.run(run(bench, chosen))
    finally:
        bench.teardown()
        remove_tree(workdir)
    print(bench.report(time.monotonic() - started))
    if args.json:
        figures = {
            p.name: {"subject": p.subject, "baseline": p.baseline} for p in bench.pairs
        }
        args.json.write_text(
            json.dumps({"pairs": figures, "notes": bench.notes}, indent=1)
        )


if __name__ == "__main__":
    main()
