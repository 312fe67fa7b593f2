"""Per-account lockout: five failed passwords or codes in fifteen minutes lock
the account for fifteen minutes, for known and unknown usernames alike.

Time is moved by patching ``django.utils.timezone.now``; nothing sleeps.
"""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import LoginLock
from tests.conftest import PASSWORD, SecureClient
from tests.security.conftest import (
    Account,
    clock,
    code_step,
    full_login,
    is_signed_in,
    later,
    password_step,
    totp,
    wrong_code,
)

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed attempts for this account."


def fail_passwords(client: SecureClient, username: str, times: int) -> None:
    for _ in range(times):
        response = password_step(client, username, "not the password 123")
        assert response.status_code == 200
        assert "Wrong username or password." in response.text


def test_five_wrong_passwords_lock_the_account(
    client: SecureClient, alice: Account
) -> None:
    fail_passwords(client, "alice", 5)

    response = password_step(client, "alice", PASSWORD)

    assert response.status_code == 403
    assert LOCKED in response.text
    assert "try again in 15 minutes" in response.text
    assert not is_signed_in(client)


def test_four_wrong_passwords_do_not_lock(client: SecureClient, alice: Account) -> None:
    fail_passwords(client, "alice", 4)

    assert password_step(client, "alice", PASSWORD).status_code == 302


def test_the_lock_lapses_after_its_duration(
    client: SecureClient, alice: Account
) -> None:
    fail_passwords(client, "alice", 5)

    with clock(later(15 * 60 - 5)):
        assert password_step(client, "alice", PASSWORD).status_code == 403
    with clock(later(15 * 60 + 5)):
        assert password_step(client, "alice", PASSWORD).status_code == 302


def test_failures_older_than_the_window_do_not_count(
    client: SecureClient, alice: Account
) -> None:
    fail_passwords(client, "alice", 4)

    with clock(later(15 * 60 + 1)):
        fail_passwords(client, "alice", 1)
        assert password_step(client, "alice", PASSWORD).status_code == 302


def test_the_numbers_are_settings(
    client: SecureClient, alice: Account, settings: Any
) -> None:
    settings.HASHWHISPER_LOCKOUT_FAILURES = 2
    settings.HASHWHISPER_LOCKOUT_SECONDS = 60
    fail_passwords(client, "alice", 2)

    assert password_step(client, "alice", PASSWORD).status_code == 403
    with clock(later(61)):
        assert password_step(client, "alice", PASSWORD).status_code == 302


def test_attempts_from_many_addresses_still_lock(alice: Account) -> None:
    for number in range(5):
        rotating = SecureClient(REMOTE_ADDR=f"198.51.100.{number + 1}")
        fail_passwords(rotating, "alice", 1)

    fresh = SecureClient(REMOTE_ADDR="203.0.113.9")
    assert password_step(fresh, "alice", PASSWORD).status_code == 403


def test_username_case_and_spaces_share_one_lock(
    client: SecureClient, alice: Account
) -> None:
    for spelling in ("alice", "ALICE", " Alice", "aLiCe", "alice "):
        fail_passwords(client, spelling, 1)

    assert password_step(client, "alice", PASSWORD).status_code == 403


def test_an_unknown_username_locks_exactly_like_a_known_one(
    client: SecureClient, alice: Account
) -> None:
    fail_passwords(client, "alice", 5)
    fail_passwords(client, "nobody-here", 5)

    known = password_step(client, "alice", "whatever 1234567")
    unknown = password_step(client, "nobody-here", "whatever 1234567")

    assert known.status_code == unknown.status_code == 403
    assert LOCKED in known.text and LOCKED in unknown.text


def test_wrong_codes_count_towards_the_same_lock(
    client: SecureClient, alice: Account
) -> None:
    device = alice[1]
    assert password_step(client).status_code == 302
    for attempt in range(5):
        # django-otp's own back-off (1 s, 2 s, 4 s...) is stepped over, so
        # that every attempt reaches the code check.
        with clock(later(attempt * 20)):
            response = code_step(client, wrong_code(device))
        assert response.status_code == 200

    with clock(later(120)):
        response = code_step(client, totp(device).now())

    assert response.status_code == 403
    assert LOCKED in response.text
    assert not is_signed_in(client)
    # The password has to be given again, and is refused while locked.
    assert client.get("/accounts/login/code/").status_code == 302
    assert password_step(client).status_code == 403


def test_a_complete_login_clears_the_failures(
    client: SecureClient, alice: Account
) -> None:
    fail_passwords(client, "alice", 4)
    full_login(client, alice[1])
    other = SecureClient()

    fail_passwords(other, "alice", 4)

    assert password_step(other).status_code == 302


def test_a_right_password_alone_does_not_clear_the_failures(
    client: SecureClient, alice: Account
) -> None:
    fail_passwords(client, "alice", 4)
    assert password_step(client).status_code == 302

    fail_passwords(SecureClient(), "alice", 1)

    assert password_step(SecureClient()).status_code == 403


def test_the_lock_table_holds_no_username(client: SecureClient, alice: Account) -> None:
    fail_passwords(client, "alice", 1)
    fail_passwords(client, "My Secret Passphrase", 1)

    keys = list(LoginLock.objects.values_list("key", flat=True))
    assert len(keys) == 2
    for key in keys:
        assert "alice" not in key.lower() and "secret" not in key.lower()
        assert len(key) == 64
