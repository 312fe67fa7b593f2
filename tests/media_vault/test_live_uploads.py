"""Uploads against the real uvicorn server: the cap holds while streaming.

Django's ASGI handler would spool a whole body to disk before any view
runs; these show that the ASGI wrapper stops an over-cap body as it streams
(with or without Content-Length), that the refusal leaves no file and no
row, and that concurrent uploads each keep their own bytes.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import ServerProcess, start_server, stop_server
from tests.media_vault import blobformat
from tests.media_vault.live import LiveUser, body_pieces, database_rows, sign_in

CAP = 25 * 1024 * 1024
OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = start_server(tmp_path_factory.mktemp("media-live"))
    try:
        yield process
    finally:
        stop_server(process)


@pytest.fixture(scope="module")
def people(server: ServerProcess) -> tuple[LiveUser, LiveUser, str]:
    """Alice with a group of her own, Carol outside it; and the group id."""
    alice = sign_in(server, "alice")
    carol = sign_in(server, "carol")
    group_id = secrets.token_urlsafe(16)
    created = alice.post_json(
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
    assert created.status, created.body
    assert created.status == 201, created.body
    return alice, carol, group_id


def blob_files(server: ServerProcess) -> list[Path]:
    root = server.workdir / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def blob_rows(server: ServerProcess) -> list[tuple[str, str]]:
    return [
        (str(r[0]), str(r[1]))
        for r in database_rows(server, "SELECT id, state FROM media_vault_blob")
    ]


def reserve(user: LiveUser, group_id: str, size: int) -> str:
    answer = user.post_json(
        f"/api/groups/{group_id}/blobs", {"type": "video/mp4", "size": size}
    )
    assert answer.status == 201, answer.body
    return str(answer.json()["id"])


def valid_body(size: int, chunk: int = 1 << 24) -> bytes:
    """A well-formed encrypted file of exactly ``size`` bytes."""
    count = 1
    while blobformat.chunk_count(size - 16 - 16 * count, chunk) != count:
        count += 1
    plain = size - blobformat.HEADER_BYTES - blobformat.TAG_BYTES * count
    body = blobformat.encrypt(secrets.token_bytes(32), b"\0" * plain, b"", chunk)
    assert len(body) == size
    return body


def test_chunked_body_one_byte_over_the_cap_is_413_and_leaves_nothing(
    server: ServerProcess, people: tuple[LiveUser, LiveUser, str]
) -> None:
    alice, _, group_id = people
    before = (blob_files(server), blob_rows(server))
    blob_id = reserve(alice, group_id, CAP)
    body = valid_body(CAP) + b"!"
    assert len(body) == CAP + 1

    answer = alice.request(
        "PUT",
        f"/api/groups/{group_id}/blobs/{blob_id}",
        body_pieces(body),
        OCTETS,
        chunked=True,
    )
    assert answer.status == 413
    assert "larger than this server accepts (" in answer.json()["error"]
    assert (blob_files(server), blob_rows(server)) == before
    # The ASGI wrapper cut the body off, not the view's own size check.
    assert f"upload refused: over cap id={blob_id}" in server.log_text()


def test_declared_length_over_the_cap_is_413_before_reading(
    server: ServerProcess, people: tuple[LiveUser, LiveUser, str]
) -> None:
    alice, _, group_id = people
    before = (blob_files(server), blob_rows(server))
    blob_id = reserve(alice, group_id, CAP)
    answer = alice.request(
        "PUT",
        f"/api/groups/{group_id}/blobs/{blob_id}",
        b"\0" * (CAP + 1),
        OCTETS,
    )
    assert answer.status == 413
    assert answer.headers["content-type"] == "application/json"
    assert (blob_files(server), blob_rows(server)) == before
    assert f"upload refused: over cap id={blob_id}" in server.log_text()


def test_oversized_body_on_another_route_is_413_with_security_headers(
    server: ServerProcess, people: tuple[LiveUser, LiveUser, str]
) -> None:
    alice, _, _ = people
    answer = alice.request(
        "POST",
        "/api/groups/",
        body_pieces(b"{" + b" " * (600 * 1024) + b"}", 64 * 1024),
        {"Content-Type": "application/json"},
        chunked=True,
    )
    assert answer.status == 413
    assert "request body refused: over limit" in server.log_text()
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_upload_at_the_cap_is_accepted_and_reads_back(
    server: ServerProcess, people: tuple[LiveUser, LiveUser, str]
) -> None:
    alice, carol, group_id = people
    body = valid_body(CAP)
    blob_id = reserve(alice, group_id, CAP)
    url = f"/api/groups/{group_id}/blobs/{blob_id}"
    stored = alice.request("PUT", url, body_pieces(body), OCTETS, chunked=True)
    assert stored.status == 201, stored.body
    fetched = alice.request("GET", url)
    assert fetched.status == 200
    assert fetched.body == body
    assert carol.request("GET", url).status == 404
    assert carol.request("PUT", url, b"x", OCTETS).status == 404


def test_concurrent_uploads_do_not_mix(
    server: ServerProcess, people: tuple[LiveUser, LiveUser, str]
) -> None:
    alice, _, group_id = people
    bodies = [
        blobformat.encrypt(secrets.token_bytes(32), secrets.token_bytes(n), b"", 4096)
        for n in (700_000, 1_300_000, 2_100_000, 900_000, 1_700_000, 300_000)
    ]
    ids = [reserve(alice, group_id, len(b)) for b in bodies]
    start = threading.Barrier(len(bodies))
    statuses: dict[int, int] = {}

    def send(index: int) -> None:
        start.wait()
        answer = alice.request(
            "PUT",
            f"/api/groups/{group_id}/blobs/{ids[index]}",
            body_pieces(bodies[index], 32 * 1024),
            OCTETS,
            chunked=True,
        )
        statuses[index] = answer.status

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == dict.fromkeys(range(len(bodies)), 201)

    for blob_id, body in zip(ids, bodies, strict=True):
        fetched = alice.request("GET", f"/api/groups/{group_id}/blobs/{blob_id}")
        assert fetched.body == body
    on_disk = {p.read_bytes() for p in blob_files(server)}
    assert set(bodies) <= on_disk


def test_two_uploads_racing_for_one_id_store_one_file(
    server: ServerProcess, people: tuple[LiveUser, LiveUser, str]
) -> None:
    alice, _, group_id = people
    files_before = len(blob_files(server))
    first = valid_body(3_000_000)
    second = valid_body(3_000_000)
    blob_id = reserve(alice, group_id, len(first))
    start = threading.Barrier(2)
    statuses: list[int] = []

    def send(body: bytes) -> None:
        start.wait()
        url = f"/api/groups/{group_id}/blobs/{blob_id}"
        statuses.append(
            alice.request("PUT", url, body_pieces(body), OCTETS, chunked=True).status
        )

    threads = [threading.Thread(target=send, args=(b,)) for b in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [201, 409]
    assert len(blob_files(server)) == files_before + 1
    fetched = alice.request("GET", f"/api/groups/{group_id}/blobs/{blob_id}").body
    assert fetched in (first, second)
