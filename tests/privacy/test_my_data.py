"""The "what the server knows about me" page: every row that names the user,
no content and no secret, sessions that can be ended, a JSON download."""

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.db import models
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User, UserSession
from accounts.session_tracking import coarse_client
from chat import retention
from tests.admin.conftest import World, make_world
from tests.conftest import SecureClient, verified_client

pytestmark = pytest.mark.django_db

PAGE = "/accounts/my-data/"
DOWNLOAD = "/accounts/my-data/download.json"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
)

# Where the report covers each model that points at a user. A model added
# later with a link to users fails test_every_user_linked_model_is_reported
# until it is added to the report and here.
REPORTED = {
    "accounts.UserSession": "sessions",
    "accounts.LoginLock": "sign_in_failures",
    "otp_totp.TOTPDevice": "devices",
    "otp_static.StaticDevice": "devices",
    "groups.Group": "groups",
    "groups.Membership": "groups",
    "chat.Message": "messages",
    "chat.ReadMarker": "read_markers",
    "media_vault.Blob": "blobs",
    "integrity.ChainEvent": "chain_events",
}
# Links to users that hold nothing about the user themself.
NOT_PERSONAL = {
    "admin.LogEntry",  # the operator's own audit trail of admin actions
}


def alice_client(world: World, **headers: str) -> SecureClient:
    device = TOTPDevice.objects.get(user=world.alice)
    return verified_client(world.alice, device, **headers)


@pytest.fixture
def world() -> World:
    return make_world()


def test_page_lists_every_row_that_names_the_user(world: World) -> None:
    client = alice_client(world, HTTP_USER_AGENT=FIREFOX)
    response = client.get(PAGE)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    expected = {
        "account": "alice",
        "authenticator": "phone",
        "recovery codes": "backup",
        "failed sign-in counter": "<td>2</td>",
        "this browser's session": "Firefox on Linux",
        "the stored session row": "this session",
        "group": world.group.pk,
        "role": "owner",
        "read marker": f"message {world.message.pk}",
        "messages (64 ciphertext bytes)": "1 message (64 bytes)",
        "files (128 bytes)": "1 file (128 bytes)",
        "chain event": "create",
        "retention": "7 days (server default)",
    }
    missing = [what for what, text in expected.items() if text not in page]
    assert missing == []


def test_page_and_download_hold_no_content_or_secret(world: World) -> None:
    client = alice_client(world)
    page = client.get(PAGE).content.decode()
    download = client.get(DOWNLOAD).content.decode()

    for body in (page, download):
        leaked = [
            label
            for label, forms in world.secrets.items()
            if any(form in body for form in forms)
        ]
        assert leaked == []


def test_download_is_the_same_report_as_json(world: World) -> None:
    client = alice_client(world, HTTP_USER_AGENT=CHROME)
    client.get(PAGE)
    response = client.get(DOWNLOAD)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response["Cache-Control"] == "no-store"
    report = json.loads(response.content)
    assert report["account"]["username"] == "alice"
    assert {d["name"] for d in report["devices"]} == {"phone", "backup"}
    assert [g["group"] for g in report["groups"]] == [world.group.pk]
    assert report["messages"][0]["count"] == 1
    assert report["messages"][0]["bytes"] == 64
    assert report["blobs"][0]["bytes"] == 128
    assert report["chain_events"][0]["kind"] == "create"
    assert report["sign_in_failures"][0]["failures"] == 2
    clients = {s["client"] for s in report["sessions"]}
    assert "Chrome on Android" in clients
    assert set(REPORTED.values()) <= set(report)


def test_every_user_linked_model_is_reported() -> None:
    linked = set()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if (
                isinstance(field, models.ForeignKey | models.OneToOneField)
                and field.related_model is User
            ):
                linked.add(model._meta.label)
    # Rows that name users by id or by a hash of the name, not by a key.
    linked |= {"integrity.ChainEvent", "accounts.LoginLock"}
    assert linked - NOT_PERSONAL - set(REPORTED) == set()


def test_user_can_end_another_session_and_not_this_one(world: World) -> None:
    phone = alice_client(world, HTTP_USER_AGENT=CHROME)
    laptop = alice_client(world, HTTP_USER_AGENT=FIREFOX)
    assert phone.get("/api/groups/").status_code == 200
    assert laptop.get("/api/groups/").status_code == 200
    rows = {row.client: row for row in UserSession.objects.filter(user=world.alice)}
    phone_key = phone.session.session_key
    assert set(rows) >= {"Chrome on Android", "Firefox on Linux"}

    page = laptop.get(PAGE).content.decode()
    end_urls = re.findall(r'action="(/accounts/my-data/sessions/\d+/end)"', page)
    assert f"/accounts/my-data/sessions/{rows['Chrome on Android'].pk}/end" in end_urls
    own = f"/accounts/my-data/sessions/{rows['Firefox on Linux'].pk}/end"
    assert own not in end_urls

    laptop.post(own)
    assert laptop.get("/api/groups/").status_code == 200, "own session stays"

    ended = laptop.post(
        f"/accounts/my-data/sessions/{rows['Chrome on Android'].pk}/end"
    )

    assert ended.status_code == 302
    assert not Session.objects.filter(session_key=phone_key).exists()
    assert phone.get("/api/groups/").status_code == 401
    assert laptop.get("/api/groups/").status_code == 200


def test_session_rows_follow_logout(world: World) -> None:
    client = alice_client(world)
    client.get(PAGE)
    before = UserSession.objects.filter(user=world.alice).count()

    client.post("/accounts/logout/")

    assert UserSession.objects.filter(user=world.alice).count() == before - 1


def test_someone_else_cannot_end_my_session(world: World) -> None:
    mine = alice_client(world)
    mine.get(PAGE)
    row = UserSession.objects.filter(user=world.alice).latest("created_at")

    world.operator_client.post(f"/accounts/my-data/sessions/{row.pk}/end")

    assert UserSession.objects.filter(pk=row.pk).exists()
    assert mine.get("/api/groups/").status_code == 200


def test_page_needs_a_verified_login(client: Any, world: World) -> None:
    assert client.get(PAGE).status_code == 302
    assert client.get(DOWNLOAD).status_code == 302


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (FIREFOX, "Firefox on Linux"),
        (CHROME, "Chrome on Android"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
            "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 "
            "Safari/604.1",
            "Safari on iOS",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like"
            " Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge on Windows",
        ),
        ("curl/8.5.0", "a browser"),
        ("", "a browser"),
    ],
)
def test_client_description_is_coarse(agent: str, expected: str) -> None:
    assert coarse_client(agent) == expected


def test_sessions_ended_by_their_lifetime_are_not_listed_and_get_purged(
    world: World,
) -> None:
    stale = UserSession.objects.create(
        user=world.alice,
        key_hash=bytes(range(32)),
        client="Opera on Windows",
        created_at=timezone.now() - timedelta(days=2),
        last_seen_at=timezone.now() - timedelta(days=1),
    )
    client = alice_client(world)

    assert "Opera on Windows" not in client.get(PAGE).content.decode()
    counts = retention.purge_expired()

    assert counts.sessions == 1
    assert not UserSession.objects.filter(pk=stale.pk).exists()
    assert UserSession.objects.filter(user=world.alice).exists(), "live one stays"
