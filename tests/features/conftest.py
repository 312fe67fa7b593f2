"""Fixtures for the feature API tests: a group shared by Alice and Bob."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher

from tests.conftest import SecureClient, sealed

# Password hashing is not under test here; Argon2 would cost about 0.1 s for
# each user a fixture makes.
FAST_HASHER = f"{MD5PasswordHasher.__module__}.{MD5PasswordHasher.__name__}"


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = [FAST_HASHER]


@pytest.fixture
def shared_group(
    group_with_alice: dict[str, Any], bob_client: SecureClient
) -> dict[str, Any]:
    """Alice's group, which Bob has joined with its token."""
    response = bob_client.post(
        f"/api/groups/{group_with_alice['id']}/join",
        {"token": group_with_alice["token"]},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return group_with_alice


def post_message(client: SecureClient, group_id: str) -> int:
    response = client.post(
        f"/api/groups/{group_id}/messages",
        {**sealed(), "epoch": 1},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


@pytest.fixture
def sent_events(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[list[tuple[str, str, Any]]]:
    """Record what is handed to the event library, instead of a live stream."""
    calls: list[tuple[str, str, Any]] = []

    def record(channel: str, kind: str, payload: Any) -> None:
        calls.append((channel, kind, payload))

    monkeypatch.setattr("chat.events.send_event", record)
    yield calls
