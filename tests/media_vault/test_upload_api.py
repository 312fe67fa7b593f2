"""Reserving and uploading encrypted files through the blob API."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from media_vault.models import Blob
from tests.conftest import SecureClient
from tests.media_vault import blobformat
from tests.media_vault.conftest import (
    encrypted,
    files_under,
    put,
    reserve,
    reserve_and_upload,
)

pytestmark = pytest.mark.django_db


def test_reservation_gives_a_random_192_bit_id(
    alice_client: SecureClient, group_id: str
) -> None:
    ids = set()
    for _ in range(5):
        response = reserve(alice_client, group_id, 1000)
        assert response.status_code == 201
        body = response.json()
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", body["id"])
        assert body["size"] == 1000 and body["type"] == "image/png"
        assert body["state"] == "pending"
        ids.add(body["id"])
    assert len(ids) == 5
    assert Blob.objects.filter(state="pending").count() == 5


def test_upload_stores_exact_bytes_under_a_random_sharded_name(
    alice_client: SecureClient, group_id: str, blob_settings: Path
) -> None:
    upload = encrypted(10_000)
    blob_id = reserve_and_upload(alice_client, group_id, upload.data)

    blob = Blob.objects.get(pk=blob_id)
    assert blob.state == "stored"
    stored = files_under(blob_settings)
    assert len(stored) == 1
    relative = stored[0].relative_to(blob_settings).as_posix()
    assert relative == blob.storage_name
    assert re.fullmatch(r"([0-9a-f]{2})/([0-9a-f]{2})/\1\2[0-9a-f]{28}", relative)
    assert blob_id not in relative
    assert stored[0].read_bytes() == upload.data
    assert stored[0].stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "mime", ["text/html", "image/svg+xml", "application/octet-stream", "video/x-ms"]
)
def test_type_off_the_allowlist_is_refused_415(
    alice_client: SecureClient, group_id: str, mime: str, blob_settings: Path
) -> None:
    response = reserve(alice_client, group_id, 1000, mime=mime)
    assert response.status_code == 415
    assert response.json()["error"]
    assert Blob.objects.count() == 0
    assert files_under(blob_settings) == []


def test_allowlist_is_a_setting(
    alice_client: SecureClient, group_id: str, settings: Any
) -> None:
    settings.HASHWHISPER_MEDIA_TYPES = ["application/pdf"]
    assert (
        reserve(alice_client, group_id, 1000, mime="application/pdf").status_code == 201
    )
    assert reserve(alice_client, group_id, 1000, mime="image/png").status_code == 415


@pytest.mark.parametrize("size", [-1, 0, 31, "12", None, True, 1.5])
def test_bad_sizes_are_refused_400(
    alice_client: SecureClient, group_id: str, size: Any
) -> None:
    response = alice_client.post(
        f"/api/groups/{group_id}/blobs",
        {"type": "image/png", "size": size},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert Blob.objects.count() == 0


def test_reserving_more_than_the_cap_is_refused_413(
    alice_client: SecureClient, group_id: str, settings: Any
) -> None:
    settings.HASHWHISPER_MAX_UPLOAD = 50_000
    assert reserve(alice_client, group_id, 50_000).status_code == 201
    refused = reserve(alice_client, group_id, 50_001)
    assert refused.status_code == 413
    # Says the cap, so a person knows what would fit.
    assert refused.json()["error"] == (
        "The file is larger than this server accepts (48 KiB at most)."
    )
    settings.HASHWHISPER_MAX_UPLOAD = 25 * 1024 * 1024
    refused = reserve(alice_client, group_id, 25 * 1024 * 1024 + 1)
    assert "(25 MiB at most)" in refused.json()["error"]
    assert Blob.objects.count() == 1


def test_body_over_the_reserved_size_is_refused_413_and_leaves_nothing(
    alice_client: SecureClient, group_id: str, blob_settings: Path, settings: Any
) -> None:
    settings.HASHWHISPER_MAX_UPLOAD = 50_000
    upload = encrypted(49_000)
    blob_id = reserve(alice_client, group_id, 50_000).json()["id"]
    response = put(alice_client, group_id, blob_id, upload.data + b"x" * 2000)
    assert response.status_code == 413
    assert Blob.objects.count() == 0
    assert files_under(blob_settings) == []


def test_short_body_is_refused_400_and_leaves_nothing(
    alice_client: SecureClient, group_id: str, blob_settings: Path
) -> None:
    upload = encrypted(5000)
    blob_id = reserve(alice_client, group_id, len(upload.data)).json()["id"]
    response = put(alice_client, group_id, blob_id, upload.data[:-1])
    assert response.status_code == 400
    assert Blob.objects.count() == 0
    assert files_under(blob_settings) == []


def test_body_that_is_not_an_encrypted_file_is_refused(
    alice_client: SecureClient, group_id: str, blob_settings: Path
) -> None:
    plain = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    blob_id = reserve(alice_client, group_id, len(plain)).json()["id"]
    assert put(alice_client, group_id, blob_id, plain).status_code == 400
    assert Blob.objects.count() == 0
    assert files_under(blob_settings) == []


def test_a_blob_is_uploaded_once(alice_client: SecureClient, group_id: str) -> None:
    upload = encrypted(3000)
    blob_id = reserve_and_upload(alice_client, group_id, upload.data)
    again = put(alice_client, group_id, blob_id, upload.data)
    assert again.status_code == 409
    assert Blob.objects.get(pk=blob_id).state == "stored"


def test_upload_needs_octet_stream(alice_client: SecureClient, group_id: str) -> None:
    upload = encrypted(3000)
    blob_id = reserve(alice_client, group_id, len(upload.data)).json()["id"]
    response = alice_client.put(
        f"/api/groups/{group_id}/blobs/{blob_id}",
        upload.data,
        content_type="image/png",
    )
    assert response.status_code == 415
    assert Blob.objects.get(pk=blob_id).state == "pending"


def test_another_member_cannot_upload_into_my_reservation(
    alice_client: SecureClient, bob_client: SecureClient, group_id: str
) -> None:
    upload = encrypted(3000)
    blob_id = reserve(alice_client, group_id, len(upload.data)).json()["id"]
    assert put(bob_client, group_id, blob_id, upload.data).status_code == 404
    assert Blob.objects.get(pk=blob_id).state == "pending"


def test_non_member_cannot_reserve_or_upload_404(
    alice_client: SecureClient, carol_client: SecureClient, group_id: str
) -> None:
    upload = encrypted(3000)
    assert reserve(carol_client, group_id, len(upload.data)).status_code == 404
    blob_id = reserve(alice_client, group_id, len(upload.data)).json()["id"]
    response = put(carol_client, group_id, blob_id, upload.data)
    assert response.status_code == 404
    assert response.json() == {"error": "No such file."}
    assert Blob.objects.get(pk=blob_id).state == "pending"


def test_upload_needs_the_csrf_token(
    alice: Any, group_id: str, blob_settings: Path
) -> None:
    from tests.conftest import verified_client

    strict = verified_client(*alice, enforce_csrf_checks=True)
    upload = encrypted(3000)
    blob_id = reserve(strict, group_id, len(upload.data))
    assert blob_id.status_code == 403
    assert Blob.objects.count() == 0


def test_open_reservations_are_limited(
    alice_client: SecureClient, group_id: str
) -> None:
    for _ in range(16):
        assert reserve(alice_client, group_id, 1000).status_code == 201
    assert reserve(alice_client, group_id, 1000).status_code == 429


def test_cancel_drops_an_unattached_upload(
    alice_client: SecureClient,
    bob_client: SecureClient,
    group_id: str,
    blob_settings: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    blob_id = reserve_and_upload(alice_client, group_id, encrypted(3000).data)
    url = f"/api/groups/{group_id}/blobs/{blob_id}"
    assert bob_client.delete(url).status_code == 404
    # The file is shredded once the deletion commits.
    with django_capture_on_commit_callbacks(execute=True):
        assert alice_client.delete(url).status_code == 204
    assert Blob.objects.count() == 0
    assert files_under(blob_settings) == []


def test_refused_upload_is_logged_without_names(
    alice_client: SecureClient, group_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hashwhisper.security"):
        reserve(alice_client, group_id, 1000, mime="text/html")
    assert [
        r.getMessage() for r in caplog.records if r.name == "hashwhisper.security"
    ] == ["upload refused: type not allowed"]


def test_the_reference_format_sizes_match(alice_client: SecureClient) -> None:
    """Ciphertext size is header + plaintext + one tag per chunk."""
    for size, chunk in [(0, 1024), (1024, 1024), (1025, 1024), (10 * 4096, 4096)]:
        data = blobformat.encrypt(bytes(32), bytes(size), b"", chunk=chunk)
        assert len(data) == blobformat.ciphertext_size(size, chunk)
