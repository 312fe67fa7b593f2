"""Per-address rate limits (django-ratelimit) on login, code entry,
registration and password confirmation, and where the address comes from."""

from __future__ import annotations

import os
import secrets
from typing import Any

import pytest
from django.test import RequestFactory

from accounts.addresses import address_bucket, client_ip
from accounts.models import User
from tests.conftest import PASSWORD, SecureClient, closed_port, verified_client
from tests.security.conftest import Account, code_step, password_step, totp, wrong_code

pytestmark = pytest.mark.django_db

LIMITED = "Too many attempts from your network."
UNAVAILABLE = "Signing in is unavailable for a moment."


def rates(settings: Any, **changes: str) -> None:
    settings.HASHWHISPER_RATE_LIMITS = {**settings.HASHWHISPER_RATE_LIMITS, **changes}


def wrong_logins(client: SecureClient, count: int) -> None:
    for number in range(count):
        response = password_step(client, f"someone-{number}", "wrong password 123")
        assert response.status_code == 200


# Where the address comes from ----------------------------------------------


def request_from(remote: str, forwarded: str | None = None) -> Any:
    request = RequestFactory().get("/")
    request.META["REMOTE_ADDR"] = remote
    if forwarded is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded
    return request


def test_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    request = request_from("192.0.2.10", "203.0.113.5")

    assert client_ip(request) == "192.0.2.10"


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),
        (2, "6.6.6.6, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "203.0.113.5", "192.0.2.10"),
        (1, "not-an-address", "192.0.2.10"),
    ],
)
def test_trusted_proxies_pick_the_nth_address_from_the_right(
    settings: Any, hops: int, forwarded: str, expected: str
) -> None:
    settings.HASHWHISPER_TRUSTED_PROXIES = hops

    assert client_ip(request_from("192.0.2.10", forwarded)) == expected


def test_an_ipv6_slash_64_is_one_bucket() -> None:
    first = address_bucket(request_from("2001:db8:1:2::1"))
    second = address_bucket(request_from("2001:db8:1:2:ffff::9"))
    other = address_bucket(request_from("2001:db8:1:3::1"))

    assert first == second == "2001:db8:1:2::/64"
    assert other != first


# The limits ----------------------------------------------------------------


def test_wrong_logins_from_one_address_are_limited_across_usernames(
    settings: Any, alice: Account
) -> None:
    rates(settings, login="3/15m")
    client = SecureClient(REMOTE_ADDR="192.0.2.20")
    wrong_logins(client, 3)

    response = password_step(client, "alice", PASSWORD)

    assert response.status_code == 429
    assert LIMITED in response.text
    assert "pending" not in str(dict(client.session))
    # Another address is not affected.
    assert password_step(SecureClient(REMOTE_ADDR="192.0.2.21")).status_code == 302


def test_right_passwords_do_not_use_up_the_limit(settings: Any, alice: Account) -> None:
    rates(settings, login="2/15m")
    client = SecureClient(REMOTE_ADDR="192.0.2.22")
    for _ in range(4):
        assert password_step(client).status_code == 302


def test_a_forged_forwarded_for_changes_nothing_by_default(
    settings: Any, alice: Account
) -> None:
    rates(settings, login="2/15m")
    wrong_logins(SecureClient(REMOTE_ADDR="192.0.2.30"), 2)
    forged = SecureClient(REMOTE_ADDR="192.0.2.30", HTTP_X_FORWARDED_FOR="198.51.100.1")

    assert password_step(forged).status_code == 429


def test_behind_a_trusted_proxy_the_vouched_address_is_limited(
    settings: Any, alice: Account
) -> None:
    settings.HASHWHISPER_TRUSTED_PROXIES = 1
    rates(settings, login="2/15m")
    wrong_logins(
        SecureClient(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7"), 2
    )

    same_client = SecureClient(
        REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7"
    )
    other_client = SecureClient(
        REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7, 198.51.100.8"
    )
    assert password_step(same_client).status_code == 429
    assert password_step(other_client).status_code == 302


def test_wrong_codes_from_one_address_are_limited(
    settings: Any, alice: Account
) -> None:
    rates(settings, code="2/15m")
    client = SecureClient(REMOTE_ADDR="192.0.2.40")
    assert password_step(client).status_code == 302
    device = alice[1]
    code_step(client, wrong_code(device))
    device.refresh_from_db()
    device.throttle_reset()
    code_step(client, wrong_code(device))
    device.throttle_reset()

    response = code_step(client, totp(device).now())

    assert response.status_code == 429
    assert LIMITED in response.text
    assert client.get("/api/groups/").status_code == 401


def test_registrations_from_one_address_are_limited(settings: Any) -> None:
    rates(settings, register="2/h")
    for number in range(2):
        client = SecureClient(REMOTE_ADDR="192.0.2.50")
        response = client.post(
            "/accounts/register/",
            {
                "username": f"new-{number}",
                "password1": PASSWORD,
                "password2": PASSWORD,
            },
        )
        assert response.status_code == 302

    response = SecureClient(REMOTE_ADDR="192.0.2.50").post(
        "/accounts/register/",
        {"username": "new-3", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert response.status_code == 429
    assert LIMITED in response.text
    assert not User.objects.filter(username="new-3").exists()


def test_probing_taken_usernames_through_registration_is_limited(
    settings: Any, alice: Account
) -> None:
    """ "That username is taken" reveals an account, so those answers count
    against the address's registration limit (found in review)."""
    rates(settings, register="2/h")
    body = {"username": "alice", "password1": PASSWORD, "password2": PASSWORD}
    for _ in range(2):
        response = SecureClient(REMOTE_ADDR="192.0.2.51").post(
            "/accounts/register/", body
        )
        assert response.status_code == 200
        assert "taken" in response.text

    response = SecureClient(REMOTE_ADDR="192.0.2.51").post("/accounts/register/", body)

    assert response.status_code == 429
    assert "taken" not in response.text


def test_mistyped_usernames_do_not_use_up_the_registration_limit(
    settings: Any,
) -> None:
    rates(settings, register="2/h")
    for name in ["with space", "semi;colon", "x" * 151]:
        body = {"username": name, "password1": PASSWORD, "password2": PASSWORD}
        response = SecureClient(REMOTE_ADDR="192.0.2.52").post(
            "/accounts/register/", body
        )
        assert response.status_code == 200
        assert "invalid-feedback" in response.text

    response = SecureClient(REMOTE_ADDR="192.0.2.52").post(
        "/accounts/register/",
        {"username": "typed-right", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert response.status_code == 302
    assert User.objects.filter(username="typed-right").exists()


def test_wrong_current_passwords_are_limited(settings: Any, alice: Account) -> None:
    rates(settings, password="2/h")
    settings.HASHWHISPER_LOCKOUT_FAILURES = 100
    client = verified_client(*alice, REMOTE_ADDR="192.0.2.60")
    body = {
        "current_password": "not mine at all 42",
        "new_password1": "a brand new passphrase 77",
        "new_password2": "a brand new passphrase 77",
    }
    for _ in range(2):
        assert client.post("/accounts/security/password/", body).status_code == 400

    body["current_password"] = PASSWORD
    response = client.post("/accounts/security/password/", body)

    assert response.status_code == 429
    assert LIMITED in response.text
    alice[0].refresh_from_db()
    assert alice[0].check_password(PASSWORD)


# When the limit store is away ------------------------------------------------


@pytest.fixture
def redis_down(settings: Any) -> None:
    """The default cache is a Redis server that does not answer."""
    settings.CACHES = {
        "default": {
            "BACKEND": "hashwhisper.cache.SharedRedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


def test_login_fails_closed_when_the_limit_store_is_down(
    redis_down: None, alice: Account
) -> None:
    client = SecureClient()

    response = password_step(client)

    assert response.status_code == 503
    assert UNAVAILABLE in response.text
    assert "hw_pending_user" not in client.session


def test_registration_fails_closed_when_the_limit_store_is_down(
    redis_down: None,
) -> None:
    response = SecureClient().post(
        "/accounts/register/",
        {"username": "dave", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert response.status_code == 503
    assert not User.objects.filter(username="dave").exists()


# Against the real Redis (CI sets HASHWHISPER_REDIS_URL) ---------------------

REDIS_URL = os.environ.get("HASHWHISPER_REDIS_URL", "")


@pytest.fixture
def real_redis(settings: Any) -> str:
    if not REDIS_URL:
        pytest.skip("HASHWHISPER_REDIS_URL is not set; the Redis limit test needs it")
    prefix = f"hw-test-{secrets.token_hex(6)}"
    settings.CACHES = {
        "default": {
            "BACKEND": "hashwhisper.cache.SharedRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    return prefix


def test_limits_are_counted_in_redis(
    real_redis: str, settings: Any, alice: Account
) -> None:
    import redis

    rates(settings, login="3/15m")
    client = SecureClient(REMOTE_ADDR="192.0.2.70")
    wrong_logins(client, 3)

    assert password_step(client).status_code == 429
    server = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(server.scan_iter(match=f"{real_redis}:*"))
        assert keys, "no rate-limit counter reached Redis"
        assert max(int(server.get(key) or 0) for key in keys) == 3
        # Deleting the counters in Redis lifts the limit: the count lives
        # there, not in this process.
        server.delete(*keys)
    finally:
        server.close()
    assert password_step(client).status_code == 302
