"""One query loads the signed-in user, the session's device and its row,
and django-otp's and the session list's rules still hold."""

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User, UserSession
from accounts.session_tracking import key_hash
from tests.accounts.test_session_cache import Account, cached, key_of, warm
from tests.conftest import verified_client

pytestmark = pytest.mark.django_db

AUTH_TABLES = ("accounts_user", "otp_totp_totpdevice", "accounts_usersession")


def test_a_verified_request_reads_the_session_from_the_cache(alice: Account) -> None:
    client = verified_client(*alice)
    warm(client)
    assert cached(key_of(client)) is not None

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/groups/").status_code == 200

    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) == 2, sql
    # No session query. One query stands for Django's user query,
    # django-otp's device query and the session row's query ...
    assert all(table in sql[0] for table in AUTH_TABLES)
    # ... and the other is the view's own: Alice's groups.
    assert sql[1].startswith('SELECT "groups_membership"')
    assert not any(table in sql[1] for table in AUTH_TABLES)


def test_the_row_follows_a_new_session_key(alice: Account) -> None:
    client = verified_client(*alice)
    warm(client)
    session = client.session
    session.cycle_key()
    session.save()
    new_key = str(session.session_key)
    client.cookies[settings.SESSION_COOKIE_NAME] = new_key

    assert client.get("/api/groups/").status_code == 200

    row = UserSession.objects.get(user=alice[0])
    assert bytes(row.key_hash) == key_hash(new_key)


def test_another_users_device_does_not_verify(alice: Account, bob: Account) -> None:
    client = verified_client(*alice)
    warm(client)
    session = client.session
    session["otp_device_id"] = bob[1].persistent_id
    session.save()

    assert client.get("/api/groups/").status_code == 401

    assert "otp_device_id" not in client.session


def test_an_unconfirmed_device_does_not_verify(alice: Account) -> None:
    client = verified_client(*alice)
    warm(client)
    TOTPDevice.objects.filter(pk=alice[1].pk).update(confirmed=False)

    assert client.get("/api/groups/").status_code == 401


def test_a_locked_account_is_signed_out_at_once(alice: Account) -> None:
    client = verified_client(*alice)
    warm(client)
    User.objects.filter(pk=alice[0].pk).update(is_active=False)

    assert client.get("/api/groups/").status_code == 401


def test_sessions_signed_in_under_djangos_backend_still_work(alice: Account) -> None:
    client = verified_client(*alice)
    session = client.session
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session.save()

    warm(client)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/groups/").status_code == 200

    # The three separate queries of before.
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert all(f'FROM "{table}"' in sql for table in AUTH_TABLES)


def test_the_statement_loads_what_the_orm_loads(alice: Account) -> None:
    from django.utils import timezone

    from accounts.session_auth import SessionHints, _device_with_user

    user, device = alice
    row = UserSession.objects.create(
        user=user, key_hash=key_hash("k" * 32), last_seen_at=timezone.now()
    )
    TOTPDevice.objects.filter(pk=device.pk).update(
        last_used_at=timezone.now(), throttling_failure_count=3
    )
    hints = SessionHints(device_id=device.persistent_id, row_id=row.pk)

    loaded = _device_with_user(user.pk, hints)

    assert loaded is not None
    expected = TOTPDevice.objects.select_related("user").get(pk=device.pk)
    for field in TOTPDevice._meta.concrete_fields:
        name = field.attname
        assert getattr(loaded, name) == getattr(expected, name), name
    for field in User._meta.concrete_fields:
        name = field.attname
        assert getattr(loaded.user, name) == getattr(expected.user, name), name
    assert bytes(loaded.hw_row_key_hash) == bytes(row.key_hash)
    assert loaded.hw_row_seen_at == row.last_seen_at
    assert not loaded._state.adding
    assert loaded.user_id == user.pk


def test_the_statement_finds_nothing_for_what_is_not_there(
    alice: Account, bob: Account
) -> None:
    from accounts.session_auth import SessionHints, _device_with_user

    user, device = alice
    other_row = UserSession.objects.create(user=bob[0], key_hash=key_hash("b" * 32))

    def load(user_id: int, device_id: str, row_id: int | None = None) -> Any:
        return _device_with_user(user_id, SessionHints(device_id, row_id))

    assert load(bob[0].pk, device.persistent_id) is None
    assert load(user.pk, f"otp_totp.totpdevice/{device.pk + 1000}") is None
    assert load(user.pk, f"accounts.user/{user.pk}") is None
    assert load(user.pk, "otp_totp.totpdevice/1e3") is None
    assert load(10**30, device.persistent_id) is None
    # Another user's row is not this session's row.
    loaded = load(user.pk, device.persistent_id, other_row.pk)
    assert loaded is not None and loaded.hw_row_key_hash is None
    loaded = load(user.pk, device.persistent_id, 10**30)
    assert loaded is not None and loaded.hw_row_key_hash is None
