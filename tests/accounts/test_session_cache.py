"""Sessions are read from the cache; an ended session's cached copy goes
with it, and a copy left behind cannot bring the session back."""

from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User, UserSession
from accounts.session_store import SessionStore
from tests.conftest import PASSWORD, SecureClient, verified_client
from tests.security.test_account import NEW_PASSWORD, change

pytestmark = pytest.mark.django_db

Account = tuple[User, TOTPDevice]


def key_of(client: SecureClient) -> str:
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


def cached(key: str) -> Any:
    return caches[settings.SESSION_CACHE_ALIAS].get(SessionStore.cache_key_prefix + key)


def warm(client: SecureClient) -> None:
    """Two requests: the first starts the session's row and clock."""
    for _ in range(2):
        assert client.get("/api/groups/").status_code == 200


def test_a_deleted_row_logs_the_session_out_despite_its_cached_data(
    alice: Account, caplog: pytest.LogCaptureFixture
) -> None:
    client = verified_client(*alice)
    warm(client)
    key = key_of(client)
    # As after an "end session" whose cache delete failed: the stored
    # session is gone, its cached copy is not.
    UserSession.objects.filter(user=alice[0]).delete()
    Session.objects.filter(session_key=key).delete()
    assert cached(key) is not None

    with caplog.at_level("INFO", logger="hashwhisper.security"):
        assert client.get("/api/groups/").status_code == 401

    assert f"ended session refused user_id={alice[0].pk}" in caplog.text
    assert cached(key) is None
    assert client.get("/api/groups/").status_code == 401


def test_logout_removes_the_cached_session(alice: Account) -> None:
    client = verified_client(*alice)
    warm(client)
    key = key_of(client)

    assert client.post("/accounts/logout/").status_code == 302

    assert cached(key) is None
    assert not Session.objects.filter(session_key=key).exists()


def test_a_password_change_removes_the_other_sessions_from_the_cache(
    alice: Account,
) -> None:
    here, elsewhere = verified_client(*alice), verified_client(*alice)
    warm(here)
    warm(elsewhere)
    other = key_of(elsewhere)
    assert cached(other) is not None

    assert change(here, PASSWORD, NEW_PASSWORD).status_code == 302

    assert cached(other) is None
    assert elsewhere.get("/api/groups/").status_code == 401
    assert here.get("/api/groups/").status_code == 200


def test_ending_a_session_removes_it_from_the_cache(alice: Account) -> None:
    laptop, phone = verified_client(*alice), verified_client(*alice)
    warm(laptop)
    warm(phone)
    phone_key = key_of(phone)
    phone_row = phone.session["hw_session_row"]

    ended = laptop.post(f"/accounts/my-data/sessions/{phone_row}/end")

    assert ended.status_code == 302
    assert cached(phone_key) is None
    assert not Session.objects.filter(session_key=phone_key).exists()
    assert phone.get("/api/groups/").status_code == 401
