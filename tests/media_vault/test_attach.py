"""Blobs join the message that describes them, and expire with it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from chat.models import Message
from groups.models import Group
from media_vault import services, storage
from media_vault.models import Blob
from tests.conftest import SecureClient, sealed
from tests.media_vault.conftest import (
    encrypted,
    files_under,
    reserve,
    reserve_and_upload,
)

pytestmark = pytest.mark.django_db


def post_message(client: SecureClient, group_id: str, blobs: Any) -> Any:
    return client.post(
        f"/api/groups/{group_id}/messages",
        {**sealed(60), "epoch": 1, "blobs": blobs},
        content_type="application/json",
    )


def test_message_attaches_its_blob_and_lends_it_its_expiry(
    alice_client: SecureClient, group_id: str
) -> None:
    blob_id = reserve_and_upload(alice_client, group_id, encrypted(2000).data)
    response = post_message(alice_client, group_id, [blob_id])
    assert response.status_code == 201, response.content

    blob = Blob.objects.get(pk=blob_id)
    message = Message.objects.get(pk=response.json()["id"])
    assert blob.message_id == message.pk
    assert blob.expires_at == message.expires_at
    assert "blobs" not in response.json()


@pytest.mark.parametrize(
    "case", ["someone_elses", "pending", "other_group", "twice", "unknown"]
)
def test_unattachable_blob_fails_the_whole_message(
    alice_client: SecureClient,
    bob_client: SecureClient,
    group_id: str,
    new_group_body: Any,
    case: str,
) -> None:
    if case == "someone_elses":
        blob_id = reserve_and_upload(bob_client, group_id, encrypted(500).data)
    elif case == "pending":
        blob_id = reserve(alice_client, group_id, 1000).json()["id"]
    elif case == "other_group":
        other = new_group_body()
        alice_client.post("/api/groups/", other, content_type="application/json")
        blob_id = reserve_and_upload(alice_client, other["id"], encrypted(500).data)
    elif case == "twice":
        blob_id = reserve_and_upload(alice_client, group_id, encrypted(500).data)
        assert post_message(alice_client, group_id, [blob_id]).status_code == 201
    else:
        blob_id = "B" * 32
    before = Message.objects.count()

    response = post_message(alice_client, group_id, [blob_id])
    assert response.status_code == 400
    assert Message.objects.count() == before


@pytest.mark.parametrize(
    "blobs", ["abc", {"id": "x"}, [1], ["../x"], ["a" * 32] * 11, ["a" * 32] * 2]
)
def test_malformed_blob_lists_are_refused_400(
    alice_client: SecureClient, group_id: str, blobs: Any
) -> None:
    assert post_message(alice_client, group_id, blobs).status_code == 400
    assert Message.objects.count() == 0


def test_message_without_blobs_still_posts(
    alice_client: SecureClient, group_id: str
) -> None:
    response = alice_client.post(
        f"/api/groups/{group_id}/messages",
        {**sealed(60), "epoch": 1},
        content_type="application/json",
    )
    assert response.status_code == 201


def test_deleting_a_message_expires_its_blobs_at_once(
    alice_client: SecureClient, group_id: str
) -> None:
    blob_id = reserve_and_upload(alice_client, group_id, encrypted(500).data)
    message_id = post_message(alice_client, group_id, [blob_id]).json()["id"]
    Message.objects.filter(pk=message_id).delete()
    blob = Blob.objects.get(pk=blob_id)
    assert blob.message_id is None
    assert blob.expires_at <= timezone.now()
    url = f"/api/groups/{group_id}/blobs/{blob_id}"
    assert alice_client.get(url).status_code == 404


def test_purge_orphans_shreds_unattached_uploads_only(
    alice_client: SecureClient,
    group_id: str,
    blob_settings: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    orphan = reserve_and_upload(alice_client, group_id, encrypted(500).data)
    kept = reserve_and_upload(alice_client, group_id, encrypted(500).data)
    assert post_message(alice_client, group_id, [kept]).status_code == 201
    kept_file = storage.path_of(Blob.objects.get(pk=kept).storage_name)
    stale = storage.incoming_dir() / "left-by-a-crash.part"
    stale.write_bytes(b"partial")
    old = timezone.now().timestamp() - 2 * 3600
    import os

    os.utime(stale, (old, old))
    fresh = storage.incoming_dir() / "being-written.part"
    fresh.write_bytes(b"partial")

    later = timezone.now() + timedelta(hours=1, seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.purge_orphans(now=later) == 2

    assert list(Blob.objects.values_list("pk", flat=True)) == [kept]
    assert files_under(blob_settings) == sorted([kept_file, fresh])
    assert orphan not in str(files_under(blob_settings))


def test_expired_attached_blobs_are_purged_with_their_files(
    alice_client: SecureClient,
    group_id: str,
    blob_settings: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    blob_id = reserve_and_upload(alice_client, group_id, encrypted(500).data)
    post_message(alice_client, group_id, [blob_id])
    expiry = Blob.objects.get(pk=blob_id).expires_at
    assert services.purge_expired_blobs(now=expiry - timedelta(seconds=1)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert services.purge_expired_blobs(now=expiry) == 1
    assert Blob.objects.count() == 0
    assert [p for p in files_under(blob_settings)] == []


def test_account_deletion_helper_shreds_the_users_blobs(
    alice: Any,
    alice_client: SecureClient,
    bob_client: SecureClient,
    group_id: str,
    blob_settings: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    reserve_and_upload(alice_client, group_id, encrypted(500).data)
    reserve_and_upload(alice_client, group_id, encrypted(500).data)
    bobs = reserve_and_upload(bob_client, group_id, encrypted(500).data)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.delete_user_blobs(alice[0]) == 2
    assert list(Blob.objects.values_list("pk", flat=True)) == [bobs]
    assert len(files_under(blob_settings)) == 1


def test_deleting_a_group_shreds_its_files(
    alice_client: SecureClient,
    group_id: str,
    blob_settings: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    reserve_and_upload(alice_client, group_id, encrypted(500).data)
    with django_capture_on_commit_callbacks(execute=True):
        Group.objects.filter(pk=group_id).delete()
    assert Blob.objects.count() == 0
    assert files_under(blob_settings) == []


@pytest.mark.parametrize("tail", ["\n", "\x00", " "])
def test_a_blob_id_with_anything_after_it_is_not_an_id(tail: str) -> None:
    # The shape check took an id followed by a line break for an id ("$"
    # also matches before a final newline); the lookup then refused it.
    with pytest.raises(services.BlobsNotAttachable):
        services.read_blob_ids({"blobs": ["A" * 32 + tail]})
    assert services.read_blob_ids({"blobs": ["A" * 32]}) == ["A" * 32]
