"""Fixtures and steps shared by the security tests.

Every test gets a rate-limit key prefix of its own, so counts never leak
from one test into the next (nor from an earlier run, when the cache is a
shared Redis). Pages render without collectstatic.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pyotp
import pytest
from django.conf import settings
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.conftest import (
    PASSWORD,
    SecureClient,
    b64,
    group_id,
    sealed,
    verified_client,
)
from tests.media_vault import blobformat

PLAIN_STATIC_STORAGE = "django.contrib.staticfiles.storage.StaticFilesStorage"

Account = tuple[User, TOTPDevice]


@pytest.fixture(autouse=True)
def security_settings(settings: Any) -> None:
    settings.RATELIMIT_CACHE_PREFIX = f"rl-test-{secrets.token_hex(8)}:"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": PLAIN_STATIC_STORAGE},
    }
    # Static files come from the source folders, as in development.
    settings.WHITENOISE_USE_FINDERS = True


def totp(device: TOTPDevice) -> pyotp.TOTP:
    device.refresh_from_db()
    return pyotp.TOTP(base64.b32encode(bytes(device.bin_key)).decode())


def code_at_step(device: TOTPDevice, steps: int) -> str:
    """The code ``steps`` time steps (of 30 s) away from now."""
    return totp(device).at(datetime.now().timestamp() + 30 * steps)


def wrong_code(device: TOTPDevice) -> str:
    """A well-formed code that no nearby time step produces."""
    nearby = {code_at_step(device, step) for step in range(-3, 4)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in nearby)


def password_step(
    client: SecureClient, username: str = "alice", password: str = PASSWORD
) -> Any:
    return client.post("/accounts/login/", {"username": username, "password": password})


def code_step(client: SecureClient, code: str) -> Any:
    return client.post("/accounts/login/code/", {"code": code})


def full_login(
    client: SecureClient, device: TOTPDevice, username: str = "alice"
) -> None:
    """Pass both login steps with the current code."""
    assert password_step(client, username).status_code == 302
    response = code_step(client, totp(device).now())
    assert response.status_code == 302, response.content[:400]


def session_key(client: SecureClient) -> str:
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    assert cookie is not None and cookie.value, "the client holds no session"
    return str(cookie.value)


def is_signed_in(client: SecureClient) -> bool:
    return bool(client.get("/api/groups/").status_code == 200)


@contextmanager
def clock(moment: datetime) -> Iterator[None]:
    """Make ``django.utils.timezone.now`` answer ``moment``."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def later(seconds: float) -> datetime:
    return timezone.now() + timedelta(seconds=seconds)


@pytest.fixture
def carol(db: None) -> Account:
    """A user with a staff flag, for the admin tests."""
    user = User.objects.create_user(
        username="carol", password=PASSWORD, is_staff=True, is_superuser=True
    )
    device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    return user, device


@pytest.fixture
def world(carol: Account, settings: Any, tmp_path: Path) -> dict[str, Any]:
    """Carol (verified staff) with a group, a message and an uploaded blob."""
    settings.HASHWHISPER_MEDIA_ROOT = tmp_path / "blobs"
    client = verified_client(*carol)
    body = {
        "id": group_id(),
        "salt": b64(secrets.token_bytes(16)),
        "iterations": 600_000,
        "token": b64(secrets.token_bytes(32)),
        "name": sealed(20),
    }
    created = client.post("/api/groups/", body, content_type="application/json")
    assert created.status_code == 201, created.content
    group = created.json()
    posted = client.post(
        f"/api/groups/{group['id']}/messages",
        {**sealed(), "epoch": group["epoch"]},
        content_type="application/json",
    )
    assert posted.status_code == 201, posted.content
    data = blobformat.encrypt(secrets.token_bytes(32), b"picture", b"aad", chunk=4096)
    reserved = client.post(
        f"/api/groups/{group['id']}/blobs",
        {"type": "image/png", "size": len(data)},
        content_type="application/json",
    )
    assert reserved.status_code == 201, reserved.content
    blob_id = reserved.json()["id"]
    stored = client.put(
        f"/api/groups/{group['id']}/blobs/{blob_id}",
        data,
        content_type="application/octet-stream",
    )
    assert stored.status_code == 201, stored.content
    return {
        "client": client,
        "samples": {
            "group_id": group["id"],
            "message_id": str(posted.json()["id"]),
            "blob_id": blob_id,
        },
    }
