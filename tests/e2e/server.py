"""The real ASGI server (uvicorn) in a subprocess, with a database of its own.

Each run gets a fresh SQLite file in a temporary folder, or, when
``HASHWHISPER_DATABASE_URI`` points at PostgreSQL (as in CI), a fresh database
on that server, dropped afterwards. ``HASHWHISPER_REDIS_URL`` passes through,
so in CI live events cross Redis pub/sub.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    workdir: Path
    port: int
    env: dict[str, str]
    log_path: Path
    pg_admin_uri: str = ""
    pg_database: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sqlite_path(self) -> Path | None:
        return None if self.pg_database else self.workdir / "db.sqlite3"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _pg_uri_with_database(uri: str, name: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _pg_execute(admin_uri: str, statement: str) -> None:
    """Run a statement on the server's maintenance database ``postgres``.

    The configured database may not exist yet on a fresh server; ``postgres``
    always does.
    """
    import psycopg

    plain = _pg_uri_with_database(admin_uri, "postgres")
    plain = plain.replace("+psycopg2", "").replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(statement)


def start_server(workdir: Path, **settings: str) -> ServerProcess:
    """Migrate a database of its own and start uvicorn on it.

    ``settings`` are more environment variables, e.g.
    ``HASHWHISPER_MESSAGES_PER_MINUTE="3"``.
    """
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
        # Tests post by script far faster than people do (a hostile member's
        # 200 reactions); test_post_limit_browser.py runs with a low limit.
        HASHWHISPER_MESSAGES_PER_MINUTE="100000",
        # Likewise uploads and new groups (chat.limits).
        HASHWHISPER_UPLOADS_PER_MINUTE="100000",
        HASHWHISPER_UPLOAD_BYTES_PER_HOUR=str(10**15),
        HASHWHISPER_GROUPS_PER_HOUR="100000",
        HASHWHISPER_GROUP_CHANGES_PER_HOUR="100000",
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    server = ServerProcess(
        workdir=workdir, port=free_port(), env=env, log_path=workdir / "server.log"
    )
    database_uri = os.environ.get("HASHWHISPER_DATABASE_URI", "")
    if database_uri:
        server.pg_admin_uri = database_uri
        server.pg_database = f"hw_e2e_{secrets.token_hex(6)}"
        _pg_execute(database_uri, f'CREATE DATABASE "{server.pg_database}"')
        env["HASHWHISPER_DATABASE_URI"] = _pg_uri_with_database(
            database_uri, server.pg_database
        )
    else:
        env["HASHWHISPER_SQLITE_PATH"] = str(workdir / "db.sqlite3")
    if os.environ.get("HASHWHISPER_REDIS_URL"):
        env["HASHWHISPER_REDIS_URL"] = os.environ["HASHWHISPER_REDIS_URL"]

    with server.log_path.open("ab") as log:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
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
                "2",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    wait_until_up(server)
    return server


class RunningServer(Protocol):
    """What ``wait_until_up`` needs of a server started as a subprocess."""

    process: subprocess.Popen[bytes] | None

    @property
    def base_url(self) -> str: ...

    def log_text(self) -> str: ...


def wait_until_up(server: RunningServer, timeout: float = 30.0) -> None:
    """Poll the login page until it answers 200; fail with the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.process is not None
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log_text()}")
        try:
            with urllib.request.urlopen(  # noqa: S310 - fixed local URL
                f"{server.base_url}/accounts/login/", timeout=2
            ) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not start:\n{server.log_text()}")


def stop_server(server: ServerProcess) -> None:
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)
    if server.pg_database:
        _pg_execute(
            server.pg_admin_uri,
            f'DROP DATABASE IF EXISTS "{server.pg_database}" WITH (FORCE)',
        )
