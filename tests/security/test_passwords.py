"""Password hashing: Argon2id, re-hashing of older hashes, and a bound on
how many hashes run at the same time."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest import mock

import argon2
from django.contrib.auth.hashers import make_password

from accounts.hashers import BoundedArgon2PasswordHasher, hashing_slot
from accounts.models import User
from tests.conftest import PASSWORD, SecureClient
from tests.security.conftest import Account, password_step


def test_new_hashes_are_argon2id(alice: Account) -> None:
    alice[0].refresh_from_db()

    assert alice[0].password.startswith("argon2$argon2id$")


def test_an_older_hash_is_replaced_at_the_next_login(db: None) -> None:
    user = User.objects.create(
        username="olga",
        password=make_password(PASSWORD, hasher="pbkdf2_sha256"),
    )
    assert user.password.startswith("pbkdf2_sha256$")

    assert password_step(SecureClient(), "olga").status_code == 302

    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")


def test_at_most_the_configured_number_of_hashes_run_at_once(settings: Any) -> None:
    settings.HASHWHISPER_MAX_PASSWORD_CHECKS = 2
    running, peak, guard = 0, 0, threading.Lock()
    real = argon2.low_level.hash_secret

    def slow_hash(*args: Any, **kwargs: Any) -> Any:
        nonlocal running, peak
        with guard:
            running += 1
            peak = max(peak, running)
        try:
            time.sleep(0.05)
            return real(*args, **kwargs)
        finally:
            with guard:
                running -= 1

    hasher = BoundedArgon2PasswordHasher()
    with (
        mock.patch.object(argon2.low_level, "hash_secret", slow_hash),
        ThreadPoolExecutor(max_workers=8) as pool,
    ):
        hashes = list(
            pool.map(lambda n: hasher.encode(f"pw {n}", hasher.salt()), range(8))
        )

    assert len(set(hashes)) == 8
    assert peak == 2


def test_a_login_that_cannot_get_a_slot_gets_a_503(
    settings: Any, alice: Account
) -> None:
    settings.HASHWHISPER_MAX_PASSWORD_CHECKS = 1
    settings.HASHWHISPER_PASSWORD_CHECK_WAIT_SECONDS = 0.2
    taken, release = threading.Event(), threading.Event()

    def hold_the_slot() -> None:
        with hashing_slot():
            taken.set()
            release.wait(5)

    holder = threading.Thread(target=hold_the_slot)
    holder.start()
    try:
        assert taken.wait(5)
        client = SecureClient()
        response = password_step(client)
    finally:
        release.set()
        holder.join()

    assert response.status_code == 503
    assert "The server is busy" in response.text
    assert "hw_pending_user" not in client.session
    assert password_step(SecureClient()).status_code == 302
