"""Blobs in a shared object store instead of the local folder.

With ``HASHWHISPER_S3_BUCKET`` set, ``STORAGES["blobs"]`` is an object store
(docs/deploy.md). Django's in-memory storage stands in for it here: it is
not a local folder either, so the same code paths run. tests/deploy tests
the S3 backend itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import Storage, storages

from media_vault.models import Blob
from tests.conftest import SecureClient
from tests.media_vault.conftest import (
    encrypted,
    files_under,
    put,
    reserve,
    reserve_and_upload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(settings: Any) -> Storage:
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    return storages["blobs"]


def test_upload_lands_in_the_store_and_reads_back(
    alice_client: SecureClient,
    bob_client: SecureClient,
    group_id: str,
    store: Storage,
    blob_settings: Path,
) -> None:
    upload = encrypted(150_000)
    blob_id = reserve_and_upload(alice_client, group_id, upload.data)
    name = Blob.objects.get(pk=blob_id).storage_name
    assert store.exists(name)
    # Nothing stays behind locally: the temporary file went to the store.
    assert files_under(blob_settings) == []

    response = bob_client.get(f"/api/groups/{group_id}/blobs/{blob_id}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == upload.data  # type: ignore[attr-defined]
    assert response["Content-Length"] == str(len(upload.data))


def test_deleting_a_blob_deletes_its_object(
    alice_client: SecureClient,
    group_id: str,
    store: Storage,
    django_capture_on_commit_callbacks: Any,
) -> None:
    blob_id = reserve_and_upload(alice_client, group_id, encrypted(1000).data)
    name = Blob.objects.get(pk=blob_id).storage_name
    with django_capture_on_commit_callbacks(execute=True):
        url = f"/api/groups/{group_id}/blobs/{blob_id}"
        assert alice_client.delete(url).status_code == 204
    assert not store.exists(name)


def test_a_failing_store_answers_500_and_leaves_nothing(
    alice_client: SecureClient,
    group_id: str,
    store: Storage,
    blob_settings: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreachable(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("the object store is unreachable")

    monkeypatch.setattr(store, "save", unreachable)
    upload = encrypted(5000)
    blob_id = reserve(alice_client, group_id, len(upload.data)).json()["id"]
    response = put(alice_client, group_id, blob_id, upload.data)
    assert response.status_code == 500
    assert "could not store" in response.json()["error"]
    assert Blob.objects.count() == 0
    assert files_under(blob_settings) == []
