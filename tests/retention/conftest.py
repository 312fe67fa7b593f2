"""Fixtures for the retention and purge tests."""

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from chat.models import Message
from groups.models import Group
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
