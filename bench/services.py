"""The benchmark's own services: PostgreSQL, Redis and app servers.

Everything listens on 127.0.0.1 and a spare port, lives in one temporary
folder and is stopped by its process id. Servers are pinned to one core and
the load generator to another where the machine has two, so that they do
not take turns on the same core.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PG_BIN = Path(os.environ.get("HW_BENCH_PG_BIN", "/usr/local/bin"))
REDIS_SERVER = "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cores() -> tuple[set[int], set[int]]:
    """Cores for the servers and for the load generator."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return set(available), set(available)
    return {available[0]}, {available[1]}


def pin_self(core_set: set[int]) -> None:
    os.sched_setaffinity(0, core_set)


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.5),
        ):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def stop_process(
    process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM
) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@dataclass
class Postgres:
    """A throw-away PostgreSQL cluster owned by the postgres system user."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def admin_uri(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def uri(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, server_cores: set[int]) -> None:
        account = pwd.getpwnam("postgres")
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chown(self.folder, account.pw_uid, account.pw_gid)
        data = self.folder / "data"
        subprocess.run(  # noqa: S603 - fixed local command
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            user="postgres",
            check=True,
            capture_output=True,
        )
        log = (self.folder / "postgres.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - fixed local command
            [
                str(PG_BIN / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.folder}",
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=256MB",
            ],
            user="postgres",
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        os.sched_setaffinity(self.process.pid, server_cores)
        wait_for_port(self.port)
        time.sleep(0.5)

    def execute(
        self,
        statement: str,
        database: str = "postgres",
        params: dict[str, Any] | None = None,
    ) -> None:
        import psycopg

        with psycopg.connect(self.uri(database), autocommit=True) as conn:
            conn.execute(statement.encode(), params)

    def stop(self) -> None:
        # SIGINT is PostgreSQL's fast shutdown.
        stop_process(self.process, signal.SIGINT)


@dataclass
class Redis:
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, server_cores: set[int]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - fixed local command
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
                str(self.folder),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        os.sched_setaffinity(self.process.pid, server_cores)
        wait_for_port(self.port)

    def stop(self) -> None:
        stop_process(self.process)


def app_env(database_uri: str, redis_url: str, **extra: str) -> dict[str, str]:
    """Production settings over plain HTTP: the load generator says HTTPS
    through X-Forwarded-Proto, as a TLS proxy would."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HASHWHISPER_") and k != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        HASHWHISPER_SECRET=secrets.token_urlsafe(48),
        HASHWHISPER_ALLOWED_HOSTS="127.0.0.1",
        HASHWHISPER_TRUST_X_FORWARDED_PROTO="1",
        HASHWHISPER_DATABASE_URI=database_uri,
        HASHWHISPER_REDIS_URL=redis_url,
        HASHWHISPER_REALTIME_PREFIX=f"hwbench:{secrets.token_hex(4)}:",
        # The load generator posts far faster than people do. The limit is
        # still counted on every post, as in production; it just never bites.
        HASHWHISPER_MESSAGES_PER_MINUTE=str(10**9),
        HASHWHISPER_UPLOADS_PER_MINUTE=str(10**9),
        HASHWHISPER_UPLOAD_BYTES_PER_HOUR=str(10**15),
        HASHWHISPER_GROUPS_PER_HOUR=str(10**9),
        HASHWHISPER_GROUP_CHANGES_PER_HOUR=str(10**9),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(REPO_ROOT),
    )
    env.update(extra)
    return env


@dataclass
class Server:
    """One uvicorn process of some ASGI application."""

    app: str
    env: dict[str, str]
    log_path: Path
    server_cores: set[int]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, probe: str = "/") -> Server:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - fixed local command
            [
                sys.executable,
                "-m",
                "uvicorn",
                self.app,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "1",
                # The load generator keeps one connection per sender across
                # rounds of the other subjects, which can last longer than
                # uvicorn's default of 5 s.
                "--timeout-keep-alive",
                "300",
                "--log-level",
                "warning",
            ],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        os.sched_setaffinity(self.process.pid, self.server_cores)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.app} exited:\n{self.log_path.read_text()}")
            # Any answer will do (production settings redirect plain HTTP).
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                connection.request("GET", probe)
                connection.getresponse().read()
                return self
            except OSError:
                time.sleep(0.1)
            finally:
                connection.close()
        raise RuntimeError(f"{self.app} did not start")

    def stop(self) -> None:
        stop_process(self.process)

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.app} is not running")
        return self.process.pid


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run_manage(env: dict[str, str], *args: str, log: Path) -> None:
    """Run a management command; on failure show its output's end, since
    the work folder holding the log is removed when the benchmark stops."""
    with log.open("ab") as out:
        done = subprocess.run(  # noqa: S603 - fixed local command
            [sys.executable, "manage.py", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{tail}")


def remove_tree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
