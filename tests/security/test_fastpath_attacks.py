"""Attacks on the one-query session path and the synchronous ASGI chain.

Garbage planted in a session's device and row ids is refused, a cached
copy of a session that a password change, a lock, an authenticator reset
or a key rotation ended does not bring it back, the history API answers
outsiders alike, and Django's chain run by ``SyncChainASGIHandler`` still
gives the error pages and security headers.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import caches
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import operator
from accounts.models import User, UserSession
from accounts.session_store import SessionStore
from accounts.session_tracking import ROW
from groups.models import Membership
from hashwhisper.handler import SyncChainASGIHandler
from tests.conftest import SecureClient, sealed, verified_client
from tests.hashwhisper.testing import asgi_get
from tests.security.headers import header_problems

pytestmark = pytest.mark.django_db

Account = tuple[User, TOTPDevice]
JSON = {"Accept": "application/json"}


def signed_in(account: Account) -> SecureClient:
    """A verified client whose session has its row and sits in the cache."""
    client = verified_client(*account)
    for _ in range(2):
        assert client.get("/api/groups/").status_code == 200
    return client


def plant(client: SecureClient, key: str, value: Any) -> None:
    session = client.session
    session[key] = value
    session.save()


def session_key(client: SecureClient) -> str:
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


def cache_key(key: str) -> str:
    return SessionStore.cache_key_prefix + key


# Garbage in the session ----------------------------------------------------

# Strings the fast path must turn away (or hand to django-otp) without error.
DEVICE_IDS = [
    "x",
    "",
    "/",
    "otp_totp.totpdevice/abc",
    "otp_totp.totpdevice/99999999999999999999999",
    "otp_totp.totpdevice/-1",
    "otp_totp.totpdevice/1.5",
    "nope.nope/1",
    "a.b.c.d/1",
    None,
]


@pytest.mark.parametrize("value", DEVICE_IDS, ids=repr)
def test_a_garbage_device_id_is_not_verified(alice: Account, value: Any) -> None:
    client = signed_in(alice)
    plant(client, "otp_device_id", value)
    assert client.get("/api/groups/", headers=JSON).status_code == 401


ROW_IDS = [10**30, -(10**30), 2**63, 2**31, -1, 0, None]


@pytest.mark.parametrize("value", ROW_IDS, ids=repr)
def test_a_garbage_row_id_logs_the_session_out(alice: Account, value: Any) -> None:
    client = signed_in(alice)
    plant(client, ROW, value)
    assert client.get("/api/groups/", headers=JSON).status_code == 401
    assert client.get("/api/groups/", headers=JSON).status_code == 401


def test_a_device_id_of_another_user_with_a_real_row(
    alice: Account, bob: Account
) -> None:
    client = signed_in(alice)
    plant(client, "otp_device_id", bob[1].persistent_id)
    response = client.get("/api/groups/", headers=JSON)
    assert response.status_code == 401


# Cached copies of ended sessions ---------------------------------------------


@pytest.fixture
def two_sessions(alice: Account) -> Iterator[tuple[SecureClient, SecureClient, Any]]:
    """Alice's two sessions, and the cached data of the second as it was.

    The test ends the second session, then puts its old cached copy back,
    as a cache delete that failed during a Redis outage would leave it.
    """
    first, second = signed_in(alice), signed_in(alice)
    cache = caches[settings.SESSION_CACHE_ALIAS]
    key = cache_key(session_key(second))
    snapshot = cache.get(key)
    assert snapshot is not None
    yield first, second, snapshot


def restore(second: SecureClient, snapshot: Any) -> None:
    caches[settings.SESSION_CACHE_ALIAS].set(
        cache_key(session_key(second)), snapshot, 600
    )


def test_a_stale_copy_after_a_password_change_stays_out(
    alice: Account, two_sessions: tuple[SecureClient, SecureClient, Any]
) -> None:
    _first, second, snapshot = two_sessions
    user = alice[0]
    user.set_password("another long password 0815")
    user.save()
    # Only the hash check stands between the copy and the account here:
    # the session's row is still there.
    restore(second, snapshot)
    assert second.get("/api/groups/", headers=JSON).status_code == 401


def test_a_stale_copy_after_a_lock_and_unlock_stays_out(
    alice: Account, two_sessions: tuple[SecureClient, SecureClient, Any]
) -> None:
    _first, second, snapshot = two_sessions
    users = User.objects.filter(pk=alice[0].pk)
    operator.lock_accounts(users, by=alice[0])
    restore(second, snapshot)
    assert second.get("/api/groups/", headers=JSON).status_code == 401
    operator.unlock_accounts(users, by=alice[0])
    restore(second, snapshot)
    assert second.get("/api/groups/", headers=JSON).status_code == 401


def test_a_stale_copy_after_the_device_is_replaced_stays_out(
    alice: Account, two_sessions: tuple[SecureClient, SecureClient, Any]
) -> None:
    _first, second, snapshot = two_sessions
    TOTPDevice.objects.filter(pk=alice[1].pk).delete()
    TOTPDevice.objects.create(user=alice[0], name="new", confirmed=True)
    restore(second, snapshot)
    assert second.get("/api/groups/", headers=JSON).status_code == 401


def test_a_stale_copy_after_account_deletion_stays_out(
    alice: Account, two_sessions: tuple[SecureClient, SecureClient, Any]
) -> None:
    _first, second, snapshot = two_sessions
    User.objects.filter(pk=alice[0].pk).delete()
    restore(second, snapshot)
    assert second.get("/api/groups/", headers=JSON).status_code == 401


def test_a_rotated_secret_key_ends_cached_sessions_unless_kept_as_fallback(
    alice: Account, bob: Account, settings: Any
) -> None:
    alice_client, bob_client = signed_in(alice), signed_in(bob)
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "rotated-secret-" + "r" * 40

    # The cached copy is not signed; the session's auth hash still is.
    settings.SECRET_KEY_FALLBACKS = []
    assert bob_client.get("/api/groups/", headers=JSON).status_code == 401

    settings.SECRET_KEY_FALLBACKS = [old]
    assert alice_client.get("/api/groups/", headers=JSON).status_code == 200
    settings.SECRET_KEY_FALLBACKS = []
    # Django moved the session's hash to the new key on the previous request.
    assert alice_client.get("/api/groups/", headers=JSON).status_code == 200


# The history API -------------------------------------------------------------


def history(client: SecureClient, group_id: str, query: str = "") -> Any:
    return client.get(f"/api/groups/{group_id}/messages{query}", headers=JSON)


@pytest.fixture
def shared_group(
    alice_client: SecureClient,
    bob: Account,
    group_with_alice: dict[str, Any],
) -> dict[str, Any]:
    """Alice's group with one message, and Bob briefly a member of it."""
    group = group_with_alice
    posted = alice_client.post(
        f"/api/groups/{group['id']}/messages",
        {**sealed(), "epoch": 1},
        content_type="application/json",
    )
    assert posted.status_code == 201
    Membership.objects.create(group_id=group["id"], user=bob[0])
    return group


@pytest.mark.parametrize("query", ["", "?before=999999", "?after=0", "?before=1"])
def test_a_former_member_reads_no_history(
    bob: Account, shared_group: dict[str, Any], query: str
) -> None:
    bob_client = verified_client(*bob)
    assert history(bob_client, shared_group["id"], "?after=0").status_code == 200
    Membership.objects.filter(user=bob[0]).delete()

    response = history(bob_client, shared_group["id"], query)
    assert response.status_code == 404
    assert response.json() == {"error": "No such group."}


@pytest.mark.parametrize(
    "group_id",
    ["AAAAAAAAAAAAAAAAAAAAAA", "short", "%00" * 22, "A" * 23, "A" * 21 + "%2E"],
)
def test_unknown_and_malformed_groups_look_alike(
    bob_client: SecureClient, group_id: str
) -> None:
    response = history(bob_client, group_id, "?after=0")
    assert response.status_code == 404
    assert response.json() == {"error": "No such group."}


def test_a_non_member_is_told_what_an_unknown_group_tells(
    bob_client: SecureClient, shared_group: dict[str, Any], bob: Account
) -> None:
    Membership.objects.filter(user=bob[0]).delete()
    for query in ("", "?after=0", "?before=99"):
        real = history(bob_client, shared_group["id"], query)
        made_up = history(bob_client, "B" * 22, query)
        assert (real.status_code, real.content) == (
            made_up.status_code,
            made_up.content,
        )


# Django's chain run by SyncChainASGIHandler ----------------------------------


def get_through_handler(
    path: str, headers: list[tuple[bytes, bytes]]
) -> tuple[int, Any, bytes]:
    """One GET through a fresh ``SyncChainASGIHandler``, as uvicorn would."""
    sent = asgi_get(SyncChainASGIHandler(), path, headers)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    head = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], head, body


class Head(dict[str, str]):
    """The headers of an ASGI answer, read as a Django response reads."""

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


# Django's handler closes old connections at each request, which the
# rolled-back transaction of an ordinary database test does not allow.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "accept", "status", "kind"),
    [
        ("/nope/", b"text/html", 404, "text/html"),
        ("/api/nope/", b"application/json", 404, "application/json"),
        ("/boom/", b"text/html", 500, "text/html"),
        ("/api/boom/", b"application/json", 500, "application/json"),
        ("/api/groups/", b"application/json", 401, "application/json"),
    ],
)
def test_error_answers_through_the_sync_chain(
    settings: Any, alice: Account, path: str, accept: bytes, status: int, kind: str
) -> None:
    settings.ROOT_URLCONF = "tests.security.boom_urls"
    headers = [(b"accept", accept)]
    if status != 401:
        cookie = f"{settings.SESSION_COOKIE_NAME}={session_key(signed_in(alice))}"
        headers.append((b"cookie", cookie.encode()))
    got, head, body = get_through_handler(path, headers)
    assert got == status
    assert head["content-type"].startswith(kind)
    assert b"boom-marker" not in body
    assert header_problems(Head(head)) == []


# Found by the same attack run; 500s (or another user's row deleted) before
# the fix --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [17, 10**30, True, [1, 2], {"a": 1}, "accounts.user/1"], ids=repr
)
def test_a_non_device_id_is_refused_without_error(alice: Account, value: Any) -> None:
    client = signed_in(alice)
    plant(client, "otp_device_id", value)
    assert client.get("/api/groups/", headers=JSON).status_code == 401


@pytest.mark.parametrize("value", ["abc", "", [1], {"a": 1}, 1.5], ids=repr)
def test_a_non_numeric_row_id_logs_out_without_error(
    alice: Account, value: Any
) -> None:
    client = signed_in(alice)
    plant(client, ROW, value)
    assert client.get("/api/groups/", headers=JSON).status_code == 401


def test_a_planted_row_id_does_not_end_its_owners_session(
    alice: Account, bob: Account
) -> None:
    alice_client, bob_client = signed_in(alice), signed_in(bob)
    bob_row = UserSession.objects.get(user=bob[0])
    plant(alice_client, ROW, bob_row.pk)
    assert alice_client.get("/api/groups/", headers=JSON).status_code == 401
    assert bob_client.get("/api/groups/", headers=JSON).status_code == 200
    assert UserSession.objects.filter(pk=bob_row.pk).exists()
