"""A wrong password and an unknown username get the same answer and cost the
same work, so the login form cannot tell which usernames exist."""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from unittest import mock

import argon2
import pytest
from django.http import HttpResponse

from tests.conftest import SecureClient
from tests.security.conftest import Account, password_step

pytestmark = pytest.mark.django_db

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
CSRF_META = re.compile(r'name="csrf-token" content="[^"]+"')


def comparable(response: HttpResponse) -> str:
    """The page with its per-request CSRF tokens blanked out."""
    text = CSRF_INPUT.sub('name="csrfmiddlewaretoken" value=""', response.text)
    return CSRF_META.sub('name="csrf-token" content=""', text)


@pytest.fixture
def argon2_calls() -> Iterator[Counter[str]]:
    """Count the Argon2 hashes and verifications that really run."""
    calls: Counter[str] = Counter()
    real_hash = argon2.low_level.hash_secret
    real_verify = argon2.PasswordHasher.verify

    # Django hashes through the low-level function and verifies through
    # PasswordHasher; both are wrapped.
    def counting_hash(*args: Any, **kwargs: Any) -> Any:
        calls["argon2"] += 1
        return real_hash(*args, **kwargs)

    def counting_verify(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["argon2"] += 1
        return real_verify(self, *args, **kwargs)

    with (
        mock.patch.object(argon2.low_level, "hash_secret", counting_hash),
        mock.patch.object(argon2.PasswordHasher, "verify", counting_verify),
    ):
        yield calls


def test_unknown_user_and_wrong_password_get_the_same_answer(alice: Account) -> None:
    known = password_step(SecureClient(), "alice", "a wrong password 12")
    unknown = password_step(SecureClient(), "nobody-at-all", "a wrong password 12")

    assert known.status_code == unknown.status_code == 200
    assert comparable(known) == comparable(unknown).replace(
        'value="nobody-at-all"', 'value="alice"'
    )
    assert sorted(known.headers) == sorted(unknown.headers)


def test_unknown_user_runs_the_password_hasher_too(
    alice: Account, argon2_calls: Counter[str]
) -> None:
    password_step(SecureClient(), "alice", "a wrong password 12")
    known = argon2_calls["argon2"]
    argon2_calls.clear()
    password_step(SecureClient(), "nobody-at-all", "a wrong password 12")
    unknown = argon2_calls["argon2"]

    assert known == unknown == 1


def test_unknown_user_takes_about_as_long(alice: Account, settings: Any) -> None:
    # A locked account answers without hashing; the lock is not under test.
    settings.HASHWHISPER_LOCKOUT_FAILURES = 1000

    def timed(username: str) -> float:
        start = time.perf_counter()
        password_step(SecureClient(), username, "a wrong password 12")
        return time.perf_counter() - start

    for username in ("alice", "nobody-at-all"):
        timed(username)
    known: list[float] = []
    unknown: list[float] = []
    # Interleaved, so that load from elsewhere on the machine hits both.
    for number in range(7):
        known.append(timed("alice"))
        unknown.append(timed(f"nobody-{number}"))
    ratio = statistics.median(unknown) / statistics.median(known)

    # Argon2id dominates both. Without the dummy hash an unknown name
    # answered about fifteen times faster here, far outside this generous
    # band, which leaves room for a busy test machine.
    assert 0.2 < ratio < 5.0, (known, unknown)
