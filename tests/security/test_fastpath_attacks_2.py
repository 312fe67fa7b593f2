"""A second round of attacks on the fast paths.

The session's ids planted as values the first round did not try, the event
stream's resume position in non-ASCII digits, many requests at once (and a
client that leaves) through ``SyncChainASGIHandler``'s reused threads, and
the one-statement post and history page at their edges.

This module is also a URL configuration: the handler tests route to its
views.
"""

import asyncio
import itertools
import json
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone
from django_otp.middleware import OTPMiddleware
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice

from accounts.models import User
from accounts.session_tracking import ROW
from chat import services
from chat.models import Message
from chat.realtime import bus
from chat.realtime.stream import cursor_from
from groups.models import Group, Membership
from hashwhisper import urls as project
from hashwhisper.handler import SyncChainASGIHandler
from tests.conftest import SecureClient, make_user, sealed, verified_client
from tests.hashwhisper.testing import asgi_get_async
from tests.realtime.support import OwnRedis, redis_server_missing_reason
from tests.security.test_fastpath_attacks import JSON, Account, plant, signed_in

pytestmark = pytest.mark.django_db


# The session's ids -----------------------------------------------------------


# Found by this attack run: True reached the login query as the row id, and
# PostgreSQL refused to compare a bigint with a boolean (a 500).
@pytest.mark.parametrize("value", [True, False], ids=repr)
def test_a_boolean_row_id_logs_out_without_error(alice: Account, value: Any) -> None:
    client = signed_in(alice)
    plant(client, ROW, value)
    assert client.get("/api/groups/", headers=JSON).status_code == 401
    assert client.get("/api/groups/", headers=JSON).status_code == 401


def django_otp_accepts(persistent_id: str, user: User) -> bool:
    """Whether django-otp itself would count the session's device."""
    normalized = OTPMiddleware._normalize_persistent_id(persistent_id)
    device = Device.from_persistent_id(normalized)
    return device is not None and device.confirmed and device.user_id == user.pk


# Spellings of Alice's own device id: the fast path must agree with
# django-otp on each (it may leave the odd ones to django-otp's own query).
SPELLINGS = [
    "otp_totp.totpdevice/{pk}",
    "otp_totp.models.TOTPDevice/{pk}",
    "django_otp.plugins.otp_totp.models.TOTPDevice/{pk}",
    "otp_totp.totpdevice/00{pk}",
    "otp_totp.totpdevice/+{pk}",
    "otp_totp.totpdevice/ {pk}",
    "otp_totp.totpdevice/{pk}_",
    "otp_totp.totpdevice/0x{pk}",
    "otp_totp.totpdevice//{pk}",
    "otp_totp.totpdevice/{pk}/",
    "OTP_TOTP.TOTPDEVICE/{pk}",
    "otp_totp.TOTPDevice/{pk}",
    "otp_totp.totpdevice/{pk}\x00",
    "otp_totp.totpdevice/\u0661",
]


@pytest.mark.parametrize("spelling", SPELLINGS, ids=repr)
def test_spellings_of_the_device_id_count_as_django_otp_counts_them(
    alice: Account, spelling: str
) -> None:
    client = signed_in(alice)
    device_id = spelling.format(pk=alice[1].pk)
    plant(client, "otp_device_id", device_id)
    expected = 200 if django_otp_accepts(device_id, alice[0]) else 401
    assert client.get("/api/groups/", headers=JSON).status_code == expected


def test_other_device_models_follow_django_otps_rules(
    alice: Account, bob: Account
) -> None:
    client = signed_in(alice)
    unconfirmed = StaticDevice.objects.create(user=alice[0], name="u", confirmed=False)
    others = StaticDevice.objects.create(user=bob[0], name="b", confirmed=True)
    for device in (unconfirmed, others):
        plant(client, "otp_device_id", device.persistent_id)
        assert client.get("/api/groups/", headers=JSON).status_code == 401
    own = StaticDevice.objects.create(user=alice[0], name="s", confirmed=True)
    assert django_otp_accepts(own.persistent_id, alice[0])
    plant(client, "otp_device_id", own.persistent_id)
    assert client.get("/api/groups/", headers=JSON).status_code == 200
    # Unconfirmed after the fact: the next request no longer counts it.
    StaticDevice.objects.filter(pk=own.pk).update(confirmed=False)
    assert client.get("/api/groups/", headers=JSON).status_code == 401


def test_an_inactive_user_with_a_good_device_is_out(alice: Account) -> None:
    client = signed_in(alice)
    User.objects.filter(pk=alice[0].pk).update(is_active=False)
    assert client.get("/api/groups/", headers=JSON).status_code == 401


# The event stream's resume position ------------------------------------------


# Found by this attack run: "²" passed str.isdigit() and int() refused it,
# so the stream answered 500.
@pytest.mark.parametrize("digits", ["²", "①", "\u0663", "1²", "⁹" * 3])
def test_non_ascii_digits_in_last_event_id_are_ignored(
    alice: Account, digits: str
) -> None:
    channel = f"user-{alice[0].pk}"
    assert cursor_from(f"{channel}:{digits}", channel) is None
    client = signed_in(alice)
    for response in (
        client.get("/events/", headers={"Last-Event-ID": f"{channel}:{digits}"}),
        client.get("/events/", {"lastEventId": f"{channel}:{digits}"}),
    ):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/event-stream")
        response.close()


# Many requests at once through the reused threads ----------------------------


def whoami(request: HttpRequest) -> HttpResponse:
    """Who the request is signed in as, and the thread that answered.

    It waits a little, so requests sent together overlap.
    """
    started = time.monotonic()
    user = request.user
    name = user.get_username() if user.is_authenticated else ""
    time.sleep(float(request.GET.get("wait", "0.05")))
    return JsonResponse(
        {
            "user": name,
            "thread": threading.get_ident(),
            "started": started,
            "ended": time.monotonic(),
            "atomic": transaction.get_connection().in_atomic_block,
        }
    )


def boom(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        Group.objects.exists()
        raise RuntimeError("forced failure")


# Django looks for the error handlers in the root URL module.
handler400 = project.handler400
handler403 = project.handler403
handler404 = project.handler404
handler500 = project.handler500

urlpatterns = [
    path("api/whoami/", whoami),
    path("api/boom/", boom),
    *project.urlpatterns,
]


async def request_through(
    handler: SyncChainASGIHandler,
    path_and_query: str,
    cookie: str | None,
    leave_after: float | None = None,
) -> list[dict[str, Any]]:
    """One GET through ``handler`` on the running loop; the client leaves
    after ``leave_after`` seconds if given, else stays until the answer."""
    headers = [(b"accept", b"application/json")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return await asgi_get_async(handler, path_and_query, headers, leave_after)


def answer(sent: list[dict[str, Any]]) -> tuple[int, bytes]:
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return int(sent[0]["status"]), body


def session_cookie(account: Account) -> str:
    key = signed_in(account).session.session_key
    return f"{settings.SESSION_COOKIE_NAME}={key}"


# Django's handler closes old connections at each request, which the
# rolled-back transaction of an ordinary database test does not allow.
@pytest.mark.django_db(transaction=True)
def test_requests_at_once_each_see_only_their_own_user(settings: Any) -> None:
    settings.ROOT_URLCONF = __name__
    alice, bob = make_user("alice"), make_user("bob")
    cookies = {"alice": session_cookie(alice), "bob": session_cookie(bob), "": None}
    handler = SyncChainASGIHandler()
    names = ["alice", "bob", "", "boom"] * 6

    async def wave() -> list[list[dict[str, Any]]]:
        return list(
            await asyncio.gather(
                *(
                    request_through(
                        handler,
                        "/api/boom/" if name == "boom" else "/api/whoami/",
                        cookies["alice" if name == "boom" else name],
                    )
                    for name in names
                )
            )
        )

    for _ in range(2):
        spans: dict[int, list[tuple[float, float]]] = {}
        for name, sent in zip(names, asyncio.run(wave()), strict=True):
            status, body = answer(sent)
            if name == "boom":
                assert status == 500
                continue
            if name == "":
                assert status == 401
                continue
            assert status == 200, body
            seen = json.loads(body)
            assert seen["user"] == name
            assert seen["atomic"] is False
            spans.setdefault(seen["thread"], []).append(
                (seen["started"], seen["ended"])
            )
        # Requests were answered side by side, but those that overlapped in
        # time never shared a thread.
        assert len(spans) >= 2
        for found in spans.values():
            found.sort()
            for (_, end), (start, _) in itertools.pairwise(found):
                assert start >= end
    # The second wave reused the threads the first wave left idle.
    reused = min(handler.executors.keep, len(names))
    assert handler.executors.started <= 2 * len(names) - reused
    assert len(handler.executors.idle) <= handler.executors.keep


@pytest.mark.django_db(transaction=True)
def test_a_client_that_leaves_mid_request_spoils_no_later_request(
    settings: Any,
) -> None:
    settings.ROOT_URLCONF = __name__
    alice = make_user("alice")
    cookie = session_cookie(alice)
    handler = SyncChainASGIHandler()

    async def leave_then_ask() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        left = await request_through(
            handler, "/api/whoami/?wait=0.5", cookie, leave_after=0.05
        )
        after = await request_through(handler, "/api/whoami/", None)
        return left, after

    started = time.monotonic()
    left, after = asyncio.run(leave_then_ask())
    # Nothing was sent to the client that left.
    assert left == [] or int(left[0]["status"]) == 200
    status, _ = answer(after)
    assert status == 401
    assert time.monotonic() - started < 10
    status, body = answer(asyncio.run(request_through(handler, "/api/whoami/", cookie)))
    assert status == 200
    assert json.loads(body)["user"] == "alice"


# The one-statement post and the history page ---------------------------------


def post(client: SecureClient, group_id: str, body: dict[str, Any]) -> Any:
    return client.post(
        f"/api/groups/{group_id}/messages", body, content_type="application/json"
    )


def history(client: SecureClient, group_id: str, query: str = "") -> Any:
    return client.get(f"/api/groups/{group_id}/messages{query}", headers=JSON)


def test_the_posted_message_reads_back_as_it_was_answered(
    alice_client: SecureClient, group_with_alice: dict[str, Any]
) -> None:
    group_id = group_with_alice["id"]
    posted = post(alice_client, group_id, {**sealed(), "epoch": 1})
    assert posted.status_code == 201
    page = history(alice_client, group_id)
    assert page.status_code == 200
    assert page.json() == {"messages": [posted.json()], "has_more": False}
    stored = Message.objects.select_related("sender").get(pk=posted.json()["id"])
    assert services.message_json(stored, "alice") == posted.json()


def test_refused_posts_answer_409_and_404_and_store_nothing(
    alice_client: SecureClient,
    bob_client: SecureClient,
    group_with_alice: dict[str, Any],
) -> None:
    group_id = group_with_alice["id"]
    body = {**sealed(), "epoch": 1}
    assert post(alice_client, group_id, body).status_code == 201
    again = {**sealed(), "nonce": body["nonce"], "epoch": 1}
    assert post(alice_client, group_id, again).status_code == 409
    old = post(alice_client, group_id, {**sealed(), "epoch": 2})
    assert old.status_code == 409
    assert "epoch 2" in old.json()["error"]
    huge = post(alice_client, group_id, {**sealed(), "epoch": 2**31 - 1})
    assert huge.status_code == 409
    assert post(bob_client, group_id, {**sealed(), "epoch": 1}).status_code == 404
    assert post(alice_client, "B" * 22, {**sealed(), "epoch": 1}).status_code == 404
    assert Message.objects.filter(group_id=group_id).count() == 1


def test_a_removed_member_can_no_longer_post(
    alice_client: SecureClient,
    bob: Account,
    group_with_alice: dict[str, Any],
) -> None:
    group_id = group_with_alice["id"]
    Membership.objects.create(group_id=group_id, user=bob[0])
    bob_client = verified_client(*bob)
    assert post(bob_client, group_id, {**sealed(), "epoch": 1}).status_code == 201
    Membership.objects.filter(group_id=group_id, user=bob[0]).delete()
    assert post(bob_client, group_id, {**sealed(), "epoch": 1}).status_code == 404
    assert Message.objects.filter(group_id=group_id).count() == 1


@pytest.mark.parametrize(
    ("server", "chosen", "days"), [(2, 5, 2), (5, 2, 2), (3, None, 3), (1, 1, 1)]
)
def test_expiry_is_the_shorter_of_the_group_and_the_server(
    settings: Any,
    alice_client: SecureClient,
    group_with_alice: dict[str, Any],
    server: int,
    chosen: int | None,
    days: int,
) -> None:
    group_id = group_with_alice["id"]
    # A group's choice above the server's: the operator lowered the server's.
    Group.objects.filter(pk=group_id).update(retention_days=chosen)
    settings.HASHWHISPER_RETENTION_DAYS = server
    posted = post(alice_client, group_id, {**sealed(), "epoch": 1})
    assert posted.status_code == 201
    stored = Message.objects.get(pk=posted.json()["id"])
    # The ORM's way (SQLite) reads the clock twice, microseconds apart.
    lifetime = stored.expires_at - stored.created_at
    assert abs(lifetime - timedelta(days=days)) < timedelta(seconds=1)
    assert posted.json()["expires_at"] == stored.expires_at.isoformat()


def test_expired_messages_neither_show_nor_count_for_more(
    settings: Any, alice_client: SecureClient, group_with_alice: dict[str, Any]
) -> None:
    settings.HASHWHISPER_PAGE_SIZE = 2
    group_id = group_with_alice["id"]
    ids = []
    for _ in range(4):
        posted = post(alice_client, group_id, {**sealed(), "epoch": 1})
        ids.append(posted.json()["id"])
    Message.objects.filter(pk__in=ids[:2]).update(
        expires_at=timezone.now() - timedelta(microseconds=1)
    )
    for query in ("", "?after=0", f"?before={ids[3]}", f"?before={ids[2]}"):
        page = history(alice_client, group_id, query).json()
        assert all(m["id"] in ids[2:] for m in page["messages"]), query
        assert page["has_more"] is False, query


@pytest.mark.parametrize(
    "query",
    [
        "?before=0",
        "?after=999999999999999999",
        "?before=1",
        "?after=000000000000000000",
    ],
)
def test_cursors_at_the_edges_answer_a_page(
    alice_client: SecureClient, group_with_alice: dict[str, Any], query: str
) -> None:
    group_id = group_with_alice["id"]
    posted = post(alice_client, group_id, {**sealed(), "epoch": 1})
    page = history(alice_client, group_id, query)
    assert page.status_code == 200
    expected = [posted.json()] if query.startswith("?after=0") else []
    assert page.json() == {"messages": expected, "has_more": False}


@pytest.mark.django_db(transaction=True)
def test_a_post_in_a_transaction_that_rolls_back_leaves_nothing(
    alice_client: SecureClient, group_with_alice: dict[str, Any]
) -> None:
    group_id = group_with_alice["id"]
    alice = User.objects.get(username="alice")

    class Undone(Exception):
        pass

    with pytest.raises(Undone), transaction.atomic():
        nonce = secrets.token_bytes(12)
        services.post_message(group_id, alice, b"c" * 30, nonce, b"t" * 16, epoch=1)
        # A refusal inside the caller's transaction leaves it usable.
        with pytest.raises(services.NonceReused):
            services.post_message(group_id, alice, b"d" * 30, nonce, b"t" * 16, epoch=1)
        with pytest.raises(services.OldEpoch):
            services.post_message(group_id, alice, b"e" * 30, b"n" * 12, b"t", epoch=9)
        assert Message.objects.filter(group_id=group_id).count() == 1
        raise Undone
    assert not Message.objects.filter(group_id=group_id).exists()
    assert history(alice_client, group_id).json() == {
        "messages": [],
        "has_more": False,
    }


# The fan-out script, with a Redis of this test's own -------------------------


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    reason = redis_server_missing_reason()
    if reason:
        pytest.skip(reason)
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.process.send_signal(signal.SIGCONT)
        server.stop()


def test_a_huge_group_and_a_frozen_redis(
    own_redis: OwnRedis, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    settings.REDIS_URL = own_redis.url
    settings.HASHWHISPER_REALTIME_PREFIX = f"hwtest:{secrets.token_hex(4)}:"
    monkeypatch.setattr(bus, "publisher", bus.Publisher())
    monkeypatch.setattr(bus, "health", bus.Health())
    listener = redis.Redis.from_url(own_redis.url)
    pubsub = listener.pubsub()
    members = range(1, 20_001)
    watched = [bus.group_topic("g"), bus.user_topic(1), bus.user_topic(20_000)]
    pubsub.subscribe(*watched)
    for _ in watched:
        pubsub.get_message(timeout=1)

    # A group's event crosses Redis once, on the group's channel, listing
    # all 20 000; an event of no group goes to each user's channel.
    assert bus.publish_event(members, "message", '{"n": 1}', event_id=7, group="g")
    assert bus.publish_event(members, "presence", '{"n": 0}')
    got = []
    while (found := pubsub.get_message(timeout=1)) is not None:
        got.append((found["channel"].decode(), found["data"]))
    assert [channel for channel, _ in got] == watched
    assert bus.Envelope.decode(got[0][1]).recipients == tuple(members)

    assert own_redis.process is not None
    own_redis.process.send_signal(signal.SIGSTOP)
    started = time.monotonic()
    assert not bus.publish_event(members, "message", '{"n": 2}', event_id=8)
    assert time.monotonic() - started < 5
    assert bus.health.down
    # Skipped without waiting while Redis stays unreachable.
    started = time.monotonic()
    assert not bus.publish_event([1, 2], "message", '{"n": 3}', event_id=9)
    assert time.monotonic() - started < 0.5
    own_redis.process.send_signal(signal.SIGCONT)
    pubsub.close()
    listener.close()
