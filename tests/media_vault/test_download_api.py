"""Downloading blobs: members only, exact ids only, served as inert bytes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from media_vault.models import Blob
from media_vault.views import StreamedFileResponse
from tests.conftest import SecureClient
from tests.media_vault.conftest import encrypted, reserve, reserve_and_upload

pytestmark = pytest.mark.django_db

NOT_FOUND = {"error": "No such file."}


def body_of(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_member_downloads_the_exact_ciphertext_as_an_attachment(
    alice_client: SecureClient, bob_client: SecureClient, group_id: str
) -> None:
    upload = encrypted(70_000)
    blob_id = reserve_and_upload(alice_client, group_id, upload.data)

    response = bob_client.get(f"/api/groups/{group_id}/blobs/{blob_id}")
    assert response.status_code == 200
    assert body_of(response) == upload.data
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Length"] == str(len(upload.data))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == (
        'attachment; filename="hashwhisper-encrypted.bin"'
    )
    assert response["Cache-Control"] == "private, no-store"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_non_member_gets_404_like_a_missing_blob(
    alice_client: SecureClient, carol_client: SecureClient, group_id: str
) -> None:
    blob_id = reserve_and_upload(alice_client, group_id, encrypted(1000).data)
    forbidden = carol_client.get(f"/api/groups/{group_id}/blobs/{blob_id}")
    missing = carol_client.get(f"/api/groups/{group_id}/blobs/{'A' * 32}")
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.json() == missing.json() == NOT_FOUND


def test_a_blob_is_not_reachable_through_another_group(
    alice_client: SecureClient,
    group_id: str,
    new_group_body: Any,
) -> None:
    other = new_group_body()
    assert (
        alice_client.post(
            "/api/groups/", other, content_type="application/json"
        ).status_code
        == 201
    )
    blob_id = reserve_and_upload(alice_client, group_id, encrypted(1000).data)
    response = alice_client.get(f"/api/groups/{other['id']}/blobs/{blob_id}")
    assert response.status_code == 404


def test_pending_and_expired_blobs_are_not_served(
    alice_client: SecureClient, group_id: str
) -> None:
    pending = reserve(alice_client, group_id, 1000).json()["id"]
    assert (
        alice_client.get(f"/api/groups/{group_id}/blobs/{pending}").status_code == 404
    )

    stored = reserve_and_upload(alice_client, group_id, encrypted(1000).data)
    Blob.objects.filter(pk=stored).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert alice_client.get(f"/api/groups/{group_id}/blobs/{stored}").status_code == 404


ODD_IDS = [
    "..",
    ".",
    "%2e%2e",
    "..%2F..%2Fetc%2Fpasswd",
    "../../etc/passwd",
    "..\\..\\settings.py",
    "a" * 31,
    "a" * 33,
    "a" * 31 + ".",
    "a" * 30 + "/a",
    "a" * 31 + "%00",
    "a" * 31 + " ",
    "ä" * 32,
    "a" * 31 + "=",
    "a" * 31 + "+",
    "incoming",
]


@pytest.mark.parametrize("odd", ODD_IDS)
def test_odd_blob_ids_are_404(
    alice_client: SecureClient, group_id: str, odd: str
) -> None:
    reserve_and_upload(alice_client, group_id, encrypted(1000).data)
    for method in ("get", "put", "delete"):
        response = getattr(alice_client, method)(f"/api/groups/{group_id}/blobs/{odd}")
        assert response.status_code == 404, (method, odd)
        assert response.json()["error"]


@pytest.mark.parametrize("odd", ["..", "a" * 21, "a" * 22 + ".", "%2e%2e"])
def test_odd_group_ids_are_404(alice_client: SecureClient, odd: str) -> None:
    assert alice_client.get(f"/api/groups/{odd}/blobs/{'a' * 32}").status_code == 404
    assert reserve(alice_client, odd, 1000).status_code == 404


def test_blob_folder_is_not_served_as_static_files(
    alice_client: SecureClient, group_id: str
) -> None:
    blob_id = reserve_and_upload(alice_client, group_id, encrypted(1000).data)
    name = Blob.objects.get(pk=blob_id).storage_name
    for path in (
        f"/static/{name}",
        f"/static/../var/blobs/{name}",
        f"/media/{name}",
        f"/blobs/{name}",
        f"/var/blobs/{name}",
    ):
        assert alice_client.get(path).status_code == 404, path


def test_download_needs_a_session(
    alice_client: SecureClient, client: SecureClient, group_id: str
) -> None:
    blob_id = reserve_and_upload(alice_client, group_id, encrypted(1000).data)
    assert client.get(f"/api/groups/{group_id}/blobs/{blob_id}").status_code == 401


def test_asgi_servers_get_the_file_piece_by_piece(tmp_path: Path) -> None:
    """Django's ASGI handler would read a plain FileResponse into a list."""
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 300_000)
    with path.open("rb") as handle:
        response = StreamedFileResponse(handle)
        response.block_size = 65_536

        async def first_piece() -> bytes:
            pieces = response.__aiter__()
            piece = await pieces.__anext__()
            await pieces.aclose()  # type: ignore[attr-defined]
            return piece

        assert len(asyncio.run(first_piece())) == 65_536
        assert handle.tell() == 65_536
