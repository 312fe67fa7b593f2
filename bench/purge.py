"""Benchmark: purge_expired's peak memory does not grow with what expired.

Fills a fresh PostgreSQL database with expired messages and blobs (blob files
on disk under a temporary folder), runs ``manage.py purge_expired`` in a
child process and reads the child's peak resident memory from the kernel.
Two sizes are measured (a tenth of the full run, then the full run: by
default 1 000 000 messages and 10 000 blobs); the ratio of their peaks is
the result. At the full size it then refills and starts two purges at once,
which must together remove everything exactly once.

    HASHWHISPER_DATABASE_URI=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/purge.py [--messages N] [--blobs N]

The URI names a server where the benchmark may create and drop its own
database; nothing else on that server is touched. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

REPO_ROOT = Path(__file__).resolve().parents[1]
GROUP_ID = "B" * 22
COUNT_LINE = re.compile(r"removed (\d+) (expired messages|expired or orphaned blobs)")


@dataclass
class Run:
    messages: int
    blobs: int
    seconds: float
    peak_kib: int
    removed_messages: int
    removed_blobs: int


def admin_uri() -> str:
    uri = os.environ.get("HASHWHISPER_DATABASE_URI", "")
    if not uri:
        sys.exit("Set HASHWHISPER_DATABASE_URI to a PostgreSQL server (see --help).")
    return uri.replace("+psycopg2", "").replace("+psycopg", "")


def with_database(uri: str, name: str) -> str:
    return urlunsplit(urlsplit(uri)._replace(path=f"/{name}"))


def app_env(database_uri: str, media_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHWHISPER_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        HASHWHISPER_SECRET=secrets.token_urlsafe(50),
        HASHWHISPER_ALLOWED_HOSTS="localhost",
        HASHWHISPER_DATABASE_URI=database_uri,
        HASHWHISPER_MEDIA_ROOT=str(media_root),
        HASHWHISPER_STATIC_ROOT=str(media_root.parent / "static"),
    )
    return env


def manage(env: dict[str, str], *args: str) -> None:
    command = [sys.executable, "manage.py", *args]
    subprocess.run(command, cwd=REPO_ROOT, env=env, check=True)  # noqa: S603


def fill(conn: psycopg.Connection, media_root: Path, messages: int, blobs: int) -> None:
    """Store ``messages`` expired messages and ``blobs`` expired blobs."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO accounts_user (password, is_superuser, username, "
            "first_name, last_name, email, is_staff, is_active, date_joined) "
            "VALUES ('!', false, 'bench', '', '', '', false, true, now()) "
            "ON CONFLICT (username) DO NOTHING"
        )
        cur.execute("SELECT id FROM accounts_user WHERE username = 'bench'")
        user_id = one(cur.fetchone())
        cur.execute(
            "INSERT INTO groups_group (id, salt, iterations, token_hash, "
            "name_ciphertext, name_nonce, name_tag, description_ciphertext, "
            "description_nonce, description_tag, epoch, created_at) VALUES "
            "(%s, %s, 600000, %s, 'n', %s, %s, '', '', '', 1, now()) "
            "ON CONFLICT (id) DO NOTHING",
            (GROUP_ID, bytes(16), bytes(32), bytes(12), bytes(16)),
        )
        # Each message: 96 bytes of ciphertext, a nonce unique in the group.
        cur.execute(
            "INSERT INTO chat_message (group_id, sender_id, epoch, ciphertext, "
            "nonce, tag, created_at, expires_at) "
            "SELECT %s, %s, 1, decode(repeat(md5(i::text), 6), 'hex'), "
            "substring(decode(md5('n' || i::text || %s), 'hex') from 1 for 12), "
            "decode(md5('t' || i::text), 'hex'), now() - interval '8 days', "
            "now() - interval '1 day' FROM generate_series(1, %s) AS i",
            (GROUP_ID, user_id, secrets.token_hex(8), messages),
        )
        with cur.copy(
            "COPY media_vault_blob (id, group_id, uploader_id, mime, size, state, "
            "storage_name, created_at, expires_at) FROM STDIN"
        ) as copy:
            for _ in range(blobs):
                name = secrets.token_hex(16)
                storage_name = f"{name[:2]}/{name[2:4]}/{name}"
                path = media_root / storage_name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(os.urandom(4096))
                copy.write_row(
                    (
                        secrets.token_urlsafe(24),
                        GROUP_ID,
                        user_id,
                        "image/png",
                        4096,
                        "stored",
                        storage_name,
                        "2000-01-01T00:00:00Z",
                        "2000-01-02T00:00:00Z",
                    )
                )
    conn.commit()


def one(row: tuple[int, ...] | None) -> int:
    if row is None:
        raise RuntimeError("query returned no row")
    return int(row[0])


def start_purge(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "manage.py", "purge_expired", "--batch-size", "1000"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, dict[str, int]]:
    """Wait for a purge; return its peak RSS in KiB and its counts."""
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"purge_expired failed with status {process.returncode}")
    counts = {kind: int(n) for n, kind in COUNT_LINE.findall(output)}
    return usage.ru_maxrss, counts


def measure(
    conn: psycopg.Connection,
    env: dict[str, str],
    media_root: Path,
    messages: int,
    blobs: int,
) -> Run:
    fill(conn, media_root, messages, blobs)
    started = time.monotonic()
    peak, counts = finish(start_purge(env))
    return Run(
        messages,
        blobs,
        time.monotonic() - started,
        peak,
        counts.get("expired messages", 0),
        counts.get("expired or orphaned blobs", 0),
    )


def leftover(conn: psycopg.Connection, media_root: Path) -> tuple[int, int, int]:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM chat_message")
        messages = one(cur.fetchone())
        cur.execute("SELECT count(*) FROM media_vault_blob")
        blobs = one(cur.fetchone())
    files = sum(1 for p in media_root.rglob("*") if p.is_file())
    return messages, blobs, files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--blobs", type=int, default=10_000)
    args = parser.parse_args()
    server = admin_uri()
    name = f"hw_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as work:
            media_root = Path(work) / "blobs"
            env = app_env(with_database(server, name), media_root)
            manage(env, "migrate", "--noinput", "-v0")
            with psycopg.connect(with_database(server, name)) as conn:
                report(conn, env, media_root, args.messages, args.blobs)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def report(
    conn: psycopg.Connection,
    env: dict[str, str],
    media_root: Path,
    messages: int,
    blobs: int,
) -> None:
    small = measure(conn, env, media_root, messages // 10, blobs // 10)
    large = measure(conn, env, media_root, messages, blobs)
    for run in (small, large):
        print(
            f"{run.messages:>9} messages {run.blobs:>6} blobs: "
            f"{run.seconds:7.1f} s, peak RSS {run.peak_kib / 1024:6.1f} MiB, "
            f"removed {run.removed_messages} messages and {run.removed_blobs} blobs"
        )
    print(f"peak memory ratio (large / small): {large.peak_kib / small.peak_kib:.3f}")
    print(
        f"left after both runs (messages, blobs, files): {leftover(conn, media_root)}"
    )

    fill(conn, media_root, messages, blobs)
    started = time.monotonic()
    both = [start_purge(env), start_purge(env)]
    results = [finish(process) for process in both]
    seconds = time.monotonic() - started
    removed = [counts for _, counts in results]
    total_messages = sum(c.get("expired messages", 0) for c in removed)
    total_blobs = sum(c.get("expired or orphaned blobs", 0) for c in removed)
    print(
        f"two purges at once: {seconds:.1f} s, removed {total_messages} messages "
        f"({' + '.join(str(c.get('expired messages', 0)) for c in removed)}) and "
        f"{total_blobs} blobs "
        f"({' + '.join(str(c.get('expired or orphaned blobs', 0)) for c in removed)})"
    )
    print(f"left (messages, blobs, files): {leftover(conn, media_root)}")
    print(f"machine: {os.cpu_count()} cores, {resource.getpagesize()} B pages")


if __name__ == "__main__":
    main()
