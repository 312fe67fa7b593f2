"""Fixtures for the retention and purge tests."""

import os
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from chat.models import Message
from groups.models import Group
from media_vault import storage as blob_files
from media_vault.models import Blob
from tests.conftest import SecureClient, sealed


@pytest.fixture(autouse=True)
def fast_settings(settings: Any) -> None:
    # Password hashing is not under test here; Argon2 would cost about 0.1 s
    # for each user a fixture makes.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def post(client: SecureClient, group_id: str) -> dict[str, Any]:
    response = client.post(
        f"/api/groups/{group_id}/messages",
        {**sealed(), "epoch": 1},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return dict(response.json())


@pytest.fixture
def post_message(
    alice_client: SecureClient,
) -> Callable[[str], dict[str, Any]]:
    return lambda group_id: post(alice_client, group_id)


def expire(message_id: int, *, ago: timedelta = timedelta(seconds=1)) -> None:
    """Move a message's expiry into the past, as time passing would."""
    Message.objects.filter(pk=message_id).update(expires_at=timezone.now() - ago)


def make_messages(group: Group, sender: User, count: int, *, expired: bool) -> None:
    """Store ``count`` messages directly, expired or not."""
    now = timezone.now()
    expires = now - timedelta(minutes=1) if expired else now + timedelta(days=1)
    Message.objects.bulk_create(
        Message(
            group=group,
            sender=sender,
            epoch=1,
            ciphertext=b"c" * 16,
            nonce=secrets.token_bytes(12),
            tag=bytes(16),
            expires_at=expires,
        )
        for _ in range(count)
    )


@pytest.fixture
def blob_root(settings: Any, tmp_path: Path) -> Path:
    """A blob folder of the test's own, so what is on disk is ours alone."""
    settings.HASHWHISPER_MEDIA_ROOT = tmp_path / "blobs"
    return Path(settings.HASHWHISPER_MEDIA_ROOT)


def make_blob(
    group: Group,
    uploader: User,
    *,
    message: Message | None = None,
    expires_at: datetime | None = None,
    size: int = 256,
) -> tuple[Blob, Path]:
    """A stored blob with a real file of random bytes under the blob root."""
    name = blob_files.new_storage_name()
    path = blob_files.path_of(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(secrets.token_bytes(size))
    expiry = expires_at or (message.expires_at if message else timezone.now())
    blob = Blob.objects.create(
        group=group,
        uploader=uploader,
        message=message,
        mime="image/png",
        size=size,
        state=Blob.State.STORED,
        storage_name=name,
        expires_at=expiry,
    )
    return blob, path


def age_file(path: Path, seconds: float) -> None:
    """Pretend a file was last written ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))
