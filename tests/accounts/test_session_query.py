"""One query loads the signed-in user, the session's device and its row,
and django-otp's and the session list's rules still hold."""

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
