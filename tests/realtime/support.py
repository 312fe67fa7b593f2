"""Servers, clients and a private Redis for the realtime tests.

``Cluster`` runs one or more real uvicorn processes of the app on one shared
database (a fresh PostgreSQL database when ``HASHWHISPER_DATABASE_URI`` is
set, else one SQLite file) and, when given one, one Redis. ``seed`` fills
the database through ``tests.realtime.seed``; ``Api`` and ``SseStream`` talk
to a server as a signed-in browser would. ``OwnRedis`` is a redis-server of
the test's own on a spare loopback port, which the test stops and starts.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import json
import os
import queue
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import (
    REPO_ROOT,
    _pg_execute,
    _pg_uri_with_database,
    free_port,
    wait_until_up,
)

REDIS_SERVER = "/usr/bin/redis-server"
SESSION_COOKIE = "sessionid"
CSRF_COOKIE = "csrftoken"


def postgres_missing_reason() -> str | None:
    if not os.environ.get("HASHWHISPER_DATABASE_URI"):
        return "HASHWHISPER_DATABASE_URI is not set (PostgreSQL needed)"
    return None


def redis_missing_reason() -> str | None:
    if not os.environ.get("HASHWHISPER_REDIS_URL"):
        return "HASHWHISPER_REDIS_URL is not set (Redis needed)"
    return None


def redis_server_missing_reason() -> str | None:
    if shutil.which(REDIS_SERVER) is None:
        return f"redis-server is not installed at {REDIS_SERVER}"
    return None


# Faults of the unwrapped library ------------------------------------------


class FaultShown(AssertionError):
    """The fault under test showed itself (and nothing else went wrong)."""


def no_fault(condition: bool, message: str) -> None:
    """Assert that the fault did not show.

    Scenario steps before this use plain asserts: if one of them fails, the
    test fails for both subjects, so a broken scenario cannot pass as the
    library's expected failure.
    """
    if not condition:
        raise FaultShown(message)


def subjects(reason: str) -> Any:
    """Parametrize over both subjects; the unwrapped one shows the fault."""
    return pytest.mark.parametrize(
        "subject",
        [
            pytest.param(
                "unwrapped",
                marks=pytest.mark.xfail(strict=True, raises=FaultShown, reason=reason),
            ),
            "wrapped",
        ],
    )


# A private Redis ----------------------------------------------------------


class OwnRedis:
    """A redis-server of this test only, on 127.0.0.1 and a spare port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.workdir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None


# Servers ------------------------------------------------------------------


@dataclass
class Server:
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class Cluster:
    """App servers sharing one database (and one Redis when given)."""

    workdir: Path
    env: dict[str, str]
    servers: list[Server] = field(default_factory=list)
    pg_admin_uri: str = ""
    pg_database: str = ""

    def seed(self, spec: dict[str, Any]) -> dict[str, Any]:
        result = subprocess.run(
            [sys.executable, "-m", "tests.realtime.seed", json.dumps(spec)],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            check=True,
        )
        return dict(json.loads(result.stdout.decode().strip().splitlines()[-1]))

    def start_server(self, server: Server) -> None:
        self.spawn(server)
        wait_until_up(server)

    def spawn(self, server: Server) -> None:
        with server.log_path.open("ab") as log:
            server.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "hashwhisper.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(server.port),
                    "--no-access-log",
                    "--timeout-graceful-shutdown",
                    "1",
                ],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop_server(self, server: Server) -> None:
        if server.process is not None and server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(timeout=5)
        server.process = None

    def stop(self) -> None:
        for server in self.servers:
            self.stop_server(server)
        if self.pg_database:
            _pg_execute(
                self.pg_admin_uri,
                f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)',
            )


def start_cluster(
    workdir: Path,
    count: int = 1,
    *,
    redis_url: str = "",
    extra_env: dict[str, str] | None = None,
) -> Cluster:
    """Migrate a fresh database and start ``count`` servers on it."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HASHWHISPER_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        HASHWHISPER_DEBUG="1",
        HASHWHISPER_SECRET=secrets.token_urlsafe(48),
        HASHWHISPER_MEDIA_ROOT=str(workdir / "blobs"),
        HASHWHISPER_STATIC_ROOT=str(workdir / "static"),
        # Every run has channels and keys of its own on a shared Redis.
        HASHWHISPER_REALTIME_PREFIX=f"hwtest:{secrets.token_hex(4)}:",
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["HASHWHISPER_REDIS_URL"] = redis_url
    env.update(extra_env or {})
    cluster = Cluster(workdir=workdir, env=env)
    database_uri = os.environ.get("HASHWHISPER_DATABASE_URI", "")
    try:
        template = migrated_template(env)
        if database_uri:
            cluster.pg_admin_uri = database_uri
            cluster.pg_database = f"hw_rt_{secrets.token_hex(6)}"
            _pg_execute(
                database_uri,
                f'CREATE DATABASE "{cluster.pg_database}" TEMPLATE "{template}"',
            )
            env["HASHWHISPER_DATABASE_URI"] = _pg_uri_with_database(
                database_uri, cluster.pg_database
            )
        else:
            shutil.copyfile(template, workdir / "db.sqlite3")
            env["HASHWHISPER_SQLITE_PATH"] = str(workdir / "db.sqlite3")
        for index in range(count):
            server = Server(port=free_port(), log_path=workdir / f"server{index}.log")
            cluster.servers.append(server)
            cluster.spawn(server)
        for server in cluster.servers:
            wait_until_up(server)
    except BaseException:
        cluster.stop()
        raise
    return cluster


_templates: dict[str, str] = {}
_templates_lock = threading.Lock()


def migrated_template(env: dict[str, str]) -> str:
    """A migrated database that clusters copy, made once per test process.

    Migrating takes seconds; copying a PostgreSQL template database or a
    SQLite file takes a fraction of one.
    """
    database_uri = os.environ.get("HASHWHISPER_DATABASE_URI", "")
    key = database_uri or "sqlite"
    with _templates_lock:
        if key in _templates:
            return _templates[key]
        migrate_env = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
        folder = Path(tempfile.mkdtemp(prefix="hw-rt-template-"))
        # The migration's log, and the SQLite template, go with the process.
        atexit.register(shutil.rmtree, folder, True)
        if database_uri:
            name = f"hw_rt_template_{secrets.token_hex(6)}"
            _pg_execute(database_uri, f'CREATE DATABASE "{name}"')
            atexit.register(
                _pg_execute, database_uri, f'DROP DATABASE IF EXISTS "{name}"'
            )
            migrate_env["HASHWHISPER_DATABASE_URI"] = _pg_uri_with_database(
                database_uri, name
            )
            found = name
        else:
            path = folder / "template.sqlite3"
            migrate_env["HASHWHISPER_SQLITE_PATH"] = str(path)
            found = str(path)
        with (folder / "migrate.log").open("ab") as log:
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput"],
                cwd=REPO_ROOT,
                env=migrate_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
            )
        if not database_uri:
            # Fold the write-ahead log into the file, so one file is a copy.
            with contextlib.closing(sqlite3.connect(found)) as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _templates[key] = found
        return found


# Clients ------------------------------------------------------------------


class Api:
    """JSON API calls as a signed-in browser makes them (cookie + CSRF)."""

    def __init__(self, base_url: str, session_key: str) -> None:
        self.base_url = base_url
        self.session_key = session_key
        self.csrf = secrets.token_hex(16)

    def call(
        self, method: str, path: str, body: Any = None, timeout: float = 15
    ) -> tuple[int, Any]:
        headers = {
            "Cookie": f"{SESSION_COOKIE}={self.session_key}; {CSRF_COOKIE}={self.csrf}",
            "Accept": "application/json",
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers.update(
                {
                    "Content-Type": "application/json",
                    "X-CSRFToken": self.csrf,
                    "Origin": self.base_url,
                }
            )
        request = urllib.request.Request(  # noqa: S310 - fixed local URL
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return response.status, _json(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _json(error.read())

    def post_message(self, group_id: str, epoch: int = 1) -> int:
        """Post an opaque sealed message; return its id."""
        status, body = self.call(
            "POST", f"/api/groups/{group_id}/messages", sealed_body(epoch)
        )
        assert status == 201, (status, body)
        return int(body["id"])


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def sealed_body(epoch: int = 1, size: int = 40) -> dict[str, Any]:
    """Random stand-ins for a sealed message (opaque to the server)."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return {
        "ciphertext": b64(secrets.token_bytes(size)),
        "nonce": b64(secrets.token_bytes(12)),
        "tag": b64(secrets.token_bytes(16)),
        "epoch": epoch,
    }


@dataclass
class SseEvent:
    kind: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data) if self.data else None


class SseStream:
    """One event stream, read on a thread of its own into a queue.

    It speaks HTTP/1.0, so the server ends the body by closing the
    connection rather than with chunked encoding, and the reader only has
    to split lines.
    """

    def __init__(
        self,
        base_url: str,
        session_key: str,
        *,
        last_event_id: str | None = None,
        query: str = "",
    ) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.sock.settimeout(None)
        self.events: queue.Queue[SseEvent | None] = queue.Queue()
        self.status: int | None = None
        self.last_id: str | None = None
        self.ended = threading.Event()
        self.opened = threading.Event()
        lines = [
            f"GET /events/{query} HTTP/1.0",
            f"Host: {host}:{port}",
            f"Cookie: {SESSION_COOKIE}={session_key}",
            "Accept: text/event-stream",
        ]
        if last_event_id:
            lines.append(f"Last-Event-ID: {last_event_id}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            reader = self.sock.makefile("rb")
            status_line = reader.readline().decode("latin-1")
            self.status = int(status_line.split()[1])
            while reader.readline() not in (b"\r\n", b"\n", b""):
                pass
            kind, event_id = "message", None
            data: list[str] = []
            for raw in reader:
                line = raw.decode().rstrip("\n").rstrip("\r")
                if line == "":
                    if data or kind != "message":
                        if event_id is not None:
                            self.last_id = event_id
                        event = SseEvent(kind, "\n".join(data), event_id)
                        if kind == "stream-open":
                            self.opened.set()
                        self.events.put(event)
                    kind, data, event_id = "message", [], None
                elif line.startswith(":"):
                    continue
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "event":
                        kind = value
                    elif name == "data":
                        data.append(value)
                    elif name == "id":
                        event_id = value
        except (OSError, ValueError, IndexError):
            pass
        finally:
            self.ended.set()
            self.events.put(None)

    def wait_open(self, timeout: float = 10) -> None:
        assert self.opened.wait(timeout), f"stream did not open (HTTP {self.status})"

    def next(
        self, kinds: set[str] | None = None, timeout: float = 10
    ) -> SseEvent | None:
        """The next event of one of ``kinds`` (keep-alives skipped), or None
        when the stream ended or nothing came in time."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if event is None:
                self.events.put(None)
                return None
            if event.kind == "keep-alive":
                continue
            if kinds is None or event.kind in kinds:
                return event

    def collect(self, kinds: set[str], quiet: float = 0.5) -> list[SseEvent]:
        """Events of ``kinds`` until none came for ``quiet`` seconds.

        Only for events that must not come: a slow machine can take longer
        than ``quiet`` to deliver one that should (use ``expect`` then).
        """
        found = []
        while (event := self.next(kinds, timeout=quiet)) is not None:
            found.append(event)
        return found

    def expect(
        self, kinds: set[str], count: int, timeout: float = 10, quiet: float = 0.5
    ) -> list[SseEvent]:
        """The ``count`` events of ``kinds`` awaited (waiting up to ``timeout``
        seconds for them), then any more until none came for ``quiet``
        seconds, so an extra or duplicate one still shows."""
        found: list[SseEvent] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            event = self.next(kinds, timeout=deadline - time.monotonic())
            if event is None:
                break
            found.append(event)
        return found + self.collect(kinds, quiet)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(timeout=5)


@contextlib.contextmanager
def streams(*opened: SseStream) -> Iterator[tuple[SseStream, ...]]:
    try:
        yield opened
    finally:
        for stream in opened:
            stream.close()


def message_ids(events: list[SseEvent]) -> list[int]:
    return [int(e.json()["id"]) for e in events if e.kind == "message"]


# A populated deployment ----------------------------------------------------


@dataclass
class Person:
    name: str
    id: int
    sessions: list[str]


def new_group_body() -> tuple[dict[str, Any], str]:
    """A group as a browser creates it, and the token that lets others join."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    token = b64(secrets.token_bytes(32))
    body = {
        "id": base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode(),
        "salt": b64(secrets.token_bytes(16)),
        "iterations": 600_000,
        "token": token,
        "name": {
            "ciphertext": b64(secrets.token_bytes(20)),
            "nonce": b64(secrets.token_bytes(12)),
            "tag": b64(secrets.token_bytes(16)),
        },
    }
    return body, token


class Deployment:
    """A running cluster with people who hold signed-in sessions.

    Tests take fresh people with ``person()`` and make groups over the API,
    so they share the servers without seeing each other's events.
    """

    def __init__(self, cluster: Cluster, population: int = 40) -> None:
        self.cluster = cluster
        seeded = cluster.seed(
            {
                "users": [f"user{i}" for i in range(population)],
                "sessions": {f"user{i}": 2 for i in range(population)},
            }
        )
        self.people = [
            Person(name, int(user["id"]), list(user["sessions"]))
            for name, user in seeded["users"].items()
        ]
        self.taken = 0
        self.lock = threading.Lock()

    def person(self) -> Person:
        with self.lock:
            if self.taken >= len(self.people):
                raise RuntimeError("the deployment ran out of people")
            found = self.people[self.taken]
            self.taken += 1
            return found

    def url(self, server: int = 0) -> str:
        return self.cluster.servers[server].base_url

    def api(self, person: Person, server: int = 0, session: int = 0) -> Api:
        return Api(self.url(server), person.sessions[session])

    def stream(
        self, person: Person, server: int = 0, session: int = 0, **kwargs: Any
    ) -> SseStream:
        return SseStream(self.url(server), person.sessions[session], **kwargs)

    def group(self, owner: Person, *members: Person) -> str:
        body, token = new_group_body()
        status, answer = self.api(owner).call("POST", "/api/groups/", body)
        assert status == 201, answer
        for member in members:
            status, answer = self.api(member).call(
                "POST", f"/api/groups/{body['id']}/join", {"token": token}
            )
            assert status == 200, answer
        return str(body["id"])


async def wait_for(check: Callable[[], bool], timeout: float = 5) -> bool:
    """Whether ``check`` came true within ``timeout`` seconds, on the loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.02)
    return check()


def group_row(group_id: str | None = None, created_by: Any = None) -> Any:
    """A stored group with placeholder crypto fields and no members."""
    from groups.models import Group

    return Group.objects.create(
        id=group_id or secrets.token_urlsafe(16)[:22],
        salt=b"s" * 16,
        iterations=600_000,
        token_hash=b"t" * 32,
        name_ciphertext=b"n",
        name_nonce=b"n" * 12,
        name_tag=b"t" * 16,
        created_by=created_by,
    )


def on_own_redis(own: OwnRedis) -> Any:
    """The realtime layer on ``own``, under a channel prefix of its own."""
    from django.test import override_settings

    return override_settings(
        REDIS_URL=own.url,
        HASHWHISPER_REALTIME_PREFIX=f"hwtest:{secrets.token_hex(4)}:",
    )
