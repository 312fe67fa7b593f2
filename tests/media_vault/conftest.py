"""Fixtures for the blob tests: a group of Alice and Bob, Carol outside it.

Every test gets its own blob folder, so what a test leaves on disk is
exactly what it wrote.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from tests.conftest import SecureClient, join_group, make_user, verified_client
from tests.media_vault import blobformat

MD5_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"


@pytest.fixture(autouse=True)
def blob_settings(settings: Any, tmp_path: Path) -> Path:
    # Password hashing is not under test here; Argon2 would cost ~0.1 s per
    # user a fixture makes.
    settings.PASSWORD_HASHERS = [MD5_HASHER]
    settings.HASHWHISPER_MEDIA_ROOT = tmp_path / "blobs"
    return settings.HASHWHISPER_MEDIA_ROOT


@dataclass
class Upload:
    """A valid encrypted file, made with the Python reference."""

    key: bytes
    plaintext: bytes
    data: bytes


def encrypted(plain_size: int, chunk: int = 4096, marker: bytes = b"") -> Upload:
    key = secrets.token_bytes(32)
    plaintext = marker + secrets.token_bytes(max(0, plain_size - len(marker)))
    data = blobformat.encrypt(key, plaintext, b"test aad", chunk=chunk)
    return Upload(key, plaintext, data)


def reserve(client: Client, group_id: str, size: int, mime: str = "image/png") -> Any:
    return client.post(
        f"/api/groups/{group_id}/blobs",
        {"type": mime, "size": size},
        content_type="application/json",
    )


def put(client: Client, group_id: str, blob_id: str, data: bytes) -> Any:
    return client.put(
        f"/api/groups/{group_id}/blobs/{blob_id}",
        data,
        content_type="application/octet-stream",
    )


def reserve_and_upload(client: Client, group_id: str, data: bytes) -> str:
    reserved = reserve(client, group_id, len(data))
    assert reserved.status_code == 201, reserved.content
    blob_id = str(reserved.json()["id"])
    stored = put(client, group_id, blob_id, data)
    assert stored.status_code == 201, stored.content
    return blob_id


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@dataclass
class Party:
    user: User
    client: SecureClient


@pytest.fixture
def group_id(group_with_alice: dict[str, Any], bob_client: SecureClient) -> str:
    """A group of Alice (owner) and Bob (joined with the token)."""
    return join_group(bob_client, group_with_alice)


@pytest.fixture
def carol_client(db: None) -> SecureClient:
    """A signed-in user who belongs to no group."""
    return verified_client(*make_user("carol"))
