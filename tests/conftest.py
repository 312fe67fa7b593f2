"""Shared fixtures: users with a confirmed authenticator, HTTPS clients."""

import base64
import os
import secrets
import socket
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import session_store
from accounts.models import User

PASSWORD = "correct horse battery staple 42"


class SecureClient(Client):
    """A test client that always asks over HTTPS, as production requires."""

    def generic(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["secure"] = True
        return super().generic(*args, **kwargs)


def totp_for(device: TOTPDevice) -> pyotp.TOTP:
    key = base64.b32encode(bytes(device.bin_key)).decode()
    return pyotp.TOTP(key)


def make_user(username: str) -> tuple[User, TOTPDevice]:
    user = User.objects.create_user(username=username, password=PASSWORD)
    device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    return user, device


def verified_client(user: User, device: TOTPDevice, **kwargs: Any) -> SecureClient:
    """A client whose session passed both login steps."""
    client = SecureClient(**kwargs)
    client.force_login(user)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


@pytest.fixture(autouse=True)
def separate_rate_limits(settings: Any) -> None:
    """Give each test its own rate-limit counters.

    The counters live in the cache, which is a shared Redis in CI; without a
    fresh prefix, registrations of earlier tests (or earlier runs) would count
    against later ones.
    """
    settings.RATELIMIT_CACHE_PREFIX = f"rl-test-{secrets.token_hex(6)}:"


@pytest.fixture(autouse=True)
def session_cache_trusted_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start each test with the session cache in use.

    After a cache error the session store leaves the cache alone for a few
    seconds; a test that broke Redis on purpose must not carry that over.
    """
    monkeypatch.setattr(session_store, "_skip_until", float("-inf"))


@pytest.fixture
def client() -> SecureClient:
    return SecureClient()


@pytest.fixture
def alice(db: None) -> tuple[User, TOTPDevice]:
    return make_user("alice")


@pytest.fixture
def bob(db: None) -> tuple[User, TOTPDevice]:
    return make_user("bob")


@pytest.fixture
def alice_client(alice: tuple[User, TOTPDevice]) -> SecureClient:
    return verified_client(*alice)


@pytest.fixture
def bob_client(bob: tuple[User, TOTPDevice]) -> SecureClient:
    return verified_client(*bob)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def group_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


def sealed(size: int = 40) -> dict[str, str]:
    """Random stand-ins for ciphertext, nonce and tag (opaque to servers)."""
    return {
        "ciphertext": b64(secrets.token_bytes(size)),
        "nonce": b64(secrets.token_bytes(12)),
        "tag": b64(secrets.token_bytes(16)),
    }


@pytest.fixture
def new_group_body() -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        token = secrets.token_bytes(32)
        return {
            "id": group_id(),
            "salt": b64(secrets.token_bytes(16)),
            "iterations": 600_000,
            "token": b64(token),
            "name": sealed(20),
        }

    return build


@pytest.fixture
def group_with_alice(
    alice_client: SecureClient, new_group_body: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """A group Alice created; the body (with its token) is returned."""
    body = new_group_body()
    response = alice_client.post("/api/groups/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return body


def join_group(client: SecureClient, group: dict[str, Any]) -> str:
    """``client`` joins ``group`` (a body as ``group_with_alice`` returns)
    with its token; the group's id."""
    gid = str(group["id"])
    joined = client.post(
        f"/api/groups/{gid}/join",
        {"token": group["token"]},
        content_type="application/json",
    )
    assert joined.status_code in (200, 201), joined.content
    return gid


def closed_port() -> int:
    """A loopback port nothing listens on: a connection to it fails at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def count_in(store: str, settings: Any) -> None:
    """Point the per-user allowances (chat.limits) at ``store``: "redis",
    the one CI gives (skipped without it), or "cache", the local cache."""
    if store == "redis":
        url = os.environ.get("HASHWHISPER_REDIS_URL", "")
        if not url:
            pytest.skip("HASHWHISPER_REDIS_URL is not set (Redis needed)")
        settings.REDIS_URL = url
    else:
        settings.REDIS_URL = ""
