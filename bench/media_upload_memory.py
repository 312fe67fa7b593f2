"""Peak server memory while encrypted files are uploaded and downloaded.

For each file size a fresh uvicorn server starts (the peak resident set,
``VmHWM`` in ``/proc/<pid>/status``, only ever grows, so every size needs a
process of its own). The server is warmed up with a small upload and
download, so that every code path is loaded, and its peak is read. Then one
file is uploaded, as a chunked body without Content-Length and again with
one, and downloaded; the growth of the peak is what the transfer cost.

If the server held an upload in memory, the growth would track the file
size. The check at the end fails when the growth for a file of ten times
the 1 MiB chunk size is over a fixed bound, or more than a small slack above
that of a file of one chunk.

Run from the repository root:

    .venv/bin/python bench/media_upload_memory.py [--sizes-mib 1 10 100]
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.e2e.server import ServerProcess, free_port  # noqa: E402
from tests.media_vault.live import LiveUser, sign_in  # noqa: E402

MIB = 1024 * 1024
CHUNK = MIB
HEADER = 16
TAG = 16
# Growth of the peak allowed for a file of ten chunks: a few pieces of 64 KiB
# in flight plus Django's 2.5 MiB in-memory spool, with room for the
# allocator. It does not depend on the file size.
BOUND_MIB = 16.0
SLACK_MIB = 4.0


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} missing for process {pid}")


def start(workdir: Path, max_upload: int) -> ServerProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHWHISPER_")}
    env.update(
        HASHWHISPER_DEBUG="1",
        HASHWHISPER_SECRET=secrets.token_urlsafe(48),
        HASHWHISPER_SQLITE_PATH=str(workdir / "db.sqlite3"),
        HASHWHISPER_MEDIA_ROOT=str(workdir / "blobs"),
        HASHWHISPER_STATIC_ROOT=str(workdir / "static"),
        HASHWHISPER_MAX_UPLOAD=str(max_upload),
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    server = ServerProcess(workdir, free_port(), env, workdir / "server.log")
    with server.log_path.open("ab") as log:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
        server.process = subprocess.Popen(  # noqa: S603 - fixed local command
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
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            url = f"{server.base_url}/accounts/login/"
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - local
                return server
        except OSError:
            if time.monotonic() > deadline or server.process.poll() is not None:
                raise RuntimeError(server.log_text()) from None
            time.sleep(0.2)


def stop(server: ServerProcess) -> None:
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()
        server.process.wait(timeout=15)


def ciphertext_size(plain: int) -> int:
    return HEADER + plain + TAG * max(1, -(-plain // CHUNK))


def body(size: int, piece: int = 256 * 1024) -> Iterator[bytes]:
    """A well-formed header, then pseudo-random bytes up to ``size``."""
    yield b"HWBL\x01" + CHUNK.to_bytes(4, "big") + secrets.token_bytes(7)
    remaining = size - HEADER
    filler = secrets.token_bytes(piece)
    while remaining > 0:
        step = min(piece, remaining)
        yield filler[:step]
        remaining -= step


def new_group(user: LiveUser) -> str:
    group_id = secrets.token_urlsafe(16)
    answer = user.post_json(
        "/api/groups/",
        {
            "id": group_id,
            "salt": "AAAAAAAAAAAAAAAAAAAAAA==",
            "iterations": 600_000,
            "token": "A" * 43 + "=",
            "name": {
                "ciphertext": "AAAA",
                "nonce": "AAAAAAAAAAAAAAAA",
                "tag": "AAAAAAAAAAAAAAAAAAAAAA==",
            },
        },
    )
    if answer.status != 201:
        raise RuntimeError(f"group creation failed: {answer.status} {answer.body!r}")
    return group_id


def upload(user: LiveUser, group_id: str, size: int, *, chunked: bool) -> str:
    reserved = user.post_json(
        f"/api/groups/{group_id}/blobs", {"type": "video/mp4", "size": size}
    )
    if reserved.status != 201:
        raise RuntimeError(f"reserve failed: {reserved.status} {reserved.body!r}")
    blob_id = str(reserved.json()["id"])
    headers = {"Content-Type": "application/octet-stream"}
    if not chunked:
        headers["Content-Length"] = str(size)
    stored = user.request(
        "PUT",
        f"/api/groups/{group_id}/blobs/{blob_id}",
        body(size),
        headers,
        chunked=chunked,
        timeout=300,
    )
    if stored.status != 201:
        raise RuntimeError(f"upload failed: {stored.status} {stored.body!r}")
    return blob_id


def download(user: LiveUser, group_id: str, blob_id: str) -> int:
    """Read a blob back in pieces; return how many bytes came."""
    conn = http.client.HTTPConnection("127.0.0.1", user.server.port, timeout=300)
    try:
        path = f"/api/groups/{group_id}/blobs/{blob_id}"
        conn.request("GET", path, headers={"Cookie": user.cookie})
        response = conn.getresponse()
        total = 0
        while piece := response.read(256 * 1024):
            total += len(piece)
        return total
    finally:
        conn.close()


def measure(plain_mib: int) -> dict[str, float]:
    size = ciphertext_size(plain_mib * MIB)
    with tempfile.TemporaryDirectory(prefix="hw-bench-") as folder:
        server = start(Path(folder), max_upload=max(size, 25 * MIB))
        if server.process is None:
            raise RuntimeError("the server did not start")
        pid = server.process.pid
        try:
            user = sign_in(server, "bench")
            group_id = new_group(user)
            warm = upload(user, group_id, ciphertext_size(64 * 1024), chunked=True)
            download(user, group_id, warm)
            base = status_kib(pid, "VmHWM")
            started = time.monotonic()
            upload(user, group_id, size, chunked=True)
            after_chunked = status_kib(pid, "VmHWM")
            blob_id = upload(user, group_id, size, chunked=False)
            after_sized = status_kib(pid, "VmHWM")
            received = download(user, group_id, blob_id)
            after_download = status_kib(pid, "VmHWM")
            seconds = time.monotonic() - started
            if received != size:
                raise RuntimeError(f"downloaded {received} of {size} bytes")
        finally:
            stop(server)
    return {
        "file_mib": size / MIB,
        "base_peak_mib": base / 1024,
        "chunked_growth_mib": (after_chunked - base) / 1024,
        "sized_growth_mib": (after_sized - base) / 1024,
        "total_growth_mib": (after_download - base) / 1024,
        "seconds": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mib", type=int, nargs="+", default=[1, 10, 100])
    sizes = parser.parse_args().sizes_mib
    if 1 not in sizes or 10 not in sizes:
        parser.error("--sizes-mib must include 1 and 10 (the compared sizes)")
    rows = {mib: measure(mib) for mib in sizes}

    print(
        f"{'file (MiB)':>10} {'base peak':>10} {'+chunked':>9} {'+sized':>9} "
        f"{'+download':>10} {'seconds':>8}"
    )
    for row in rows.values():
        print(
            f"{row['file_mib']:>10.1f} {row['base_peak_mib']:>10.1f} "
            f"{row['chunked_growth_mib']:>9.1f} {row['sized_growth_mib']:>9.1f} "
            f"{row['total_growth_mib']:>10.1f} {row['seconds']:>8.1f}"
        )
    one, ten = rows[1]["total_growth_mib"], rows[10]["total_growth_mib"]
    print(
        f"peak growth, 10 chunks vs 1 chunk: {ten:.1f} MiB vs {one:.1f} MiB "
        f"(bound {BOUND_MIB:.0f} MiB, slack {SLACK_MIB:.0f} MiB)"
    )
    if ten > BOUND_MIB or ten > one + SLACK_MIB:
        print("FAIL: the server's memory grows with the file size")
        return 1
    print("OK: the server's peak memory does not depend on the file size")
    return 0


if __name__ == "__main__":
    sys.exit(main())
