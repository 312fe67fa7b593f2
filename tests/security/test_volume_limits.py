"""How much one account may make the server store (chat.limits.spend).

Uploads: reservations per minute and ciphertext bytes reserved per hour
(media_vault.services); new groups per hour (groups.views). Each test runs
on both stores, the local cache and Redis when CI gives one. Past an
allowance the request gets 429 JSON with ``Retry-After``, and nothing is
stored, reserved or counted; while Redis is away both refuse with 503.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chat import limits
from chat.realtime import bus
from groups import views as group_views
from groups.models import Group, Membership
from integrity.models import ChainEvent
from media_vault import services as blob_services
from media_vault.models import Blob
from tests.chat.test_message_input import message_body, post_json
from tests.conftest import SecureClient, b64, closed_port, count_in, join_group
from tests.groups.test_lifecycle_api import rotation_body
from tests.hashwhisper.test_settings import IMPORT_SETTINGS, clean_env, run
from tests.media_vault.conftest import encrypted, files_under, put, reserve

pytestmark = pytest.mark.django_db

MD5_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"
UPLOADS = 3
GROUPS = 2
CHANGES = 2
# Ciphertext bytes of the small file each upload test sends.
FILE = encrypted(1000).data
SIZE = len(FILE)

NewGroup = Callable[[], dict[str, Any]]


@pytest.fixture(params=["cache", "redis"])
def store(
    request: pytest.FixtureRequest, settings: Any, tmp_path: Path
) -> Iterator[str]:
    count_in(request.param, settings)
    # Password hashing is not under test; each test has its own blob folder.
    settings.PASSWORD_HASHERS = [MD5_HASHER]
    settings.HASHWHISPER_MEDIA_ROOT = tmp_path / "blobs"
    settings.HASHWHISPER_UPLOADS_PER_MINUTE = UPLOADS
    settings.HASHWHISPER_UPLOAD_BYTES_PER_HOUR = 10**9
    settings.HASHWHISPER_GROUPS_PER_HOUR = GROUPS
    settings.HASHWHISPER_GROUP_CHANGES_PER_HOUR = CHANGES
    yield request.param


def upload(client: SecureClient, gid: str, data: bytes = FILE) -> Any:
    """Reserve and upload ``data``; the refusal of the reservation, if any."""
    reserved = reserve(client, gid, len(data))
    if reserved.status_code != 201:
        return reserved
    stored = put(client, gid, reserved.json()["id"], data)
    assert stored.status_code == 201, stored.content
    return stored


def assert_too_much(response: Any, longest_wait: int) -> None:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "too_much"
    assert "Wait" in body["error"] and "by hand" in body["error"]
    assert 1 <= int(response["Retry-After"]) <= longest_wait


def stored_blobs(settings: Any) -> tuple[int, int]:
    """(rows, files) of blobs."""
    return Blob.objects.count(), len(files_under(settings.HASHWHISPER_MEDIA_ROOT))


# Uploads ---------------------------------------------------------------------


def test_past_the_uploads_per_minute_a_reservation_is_refused(
    store: str, settings: Any, alice_client: SecureClient, group_with_alice: dict
) -> None:
    gid = group_with_alice["id"]
    # Finished uploads count: the limit on open reservations never saw them.
    for _ in range(UPLOADS):
        assert upload(alice_client, gid).status_code == 201

    refused = reserve(alice_client, gid, SIZE)

    assert_too_much(refused, blob_services.RESERVATIONS_WINDOW_SECONDS)
    assert stored_blobs(settings) == (UPLOADS, UPLOADS)


def test_past_the_bytes_per_hour_a_reservation_is_refused_and_not_counted(
    store: str, settings: Any, alice_client: SecureClient, group_with_alice: dict
) -> None:
    gid = group_with_alice["id"]
    settings.HASHWHISPER_UPLOADS_PER_MINUTE = 100
    settings.HASHWHISPER_UPLOAD_BYTES_PER_HOUR = 3 * SIZE
    small = encrypted(100).data
    for _ in range(2):
        assert upload(alice_client, gid).status_code == 201

    refused = reserve(alice_client, gid, 2 * SIZE)

    assert_too_much(refused, blob_services.RESERVED_BYTES_WINDOW_SECONDS)
    assert int(refused["Retry-After"]) > 60
    assert "minutes" in refused.json()["error"]
    assert stored_blobs(settings) == (2, 2)
    # The refused bytes were not counted: what is left still fits, once.
    assert upload(alice_client, gid).status_code == 201
    assert_too_much(reserve(alice_client, gid, len(small)), 3600)


def test_a_refusal_for_bytes_does_not_use_up_the_minute(
    store: str, settings: Any, alice_client: SecureClient, group_with_alice: dict
) -> None:
    gid = group_with_alice["id"]
    settings.HASHWHISPER_UPLOAD_BYTES_PER_HOUR = SIZE
    assert upload(alice_client, gid).status_code == 201
    for _ in range(UPLOADS + 1):
        assert reserve(alice_client, gid, SIZE).status_code == 429

    settings.HASHWHISPER_UPLOAD_BYTES_PER_HOUR = 10**9
    for _ in range(UPLOADS - 1):
        assert upload(alice_client, gid).status_code == 201
    assert reserve(alice_client, gid, SIZE).status_code == 429


def test_each_member_has_an_upload_allowance_of_their_own(
    store: str,
    settings: Any,
    alice_client: SecureClient,
    bob_client: SecureClient,
    group_with_alice: dict,
) -> None:
    gid = join_group(bob_client, group_with_alice)
    for _ in range(UPLOADS):
        assert upload(alice_client, gid).status_code == 201
    assert reserve(alice_client, gid, SIZE).status_code == 429

    assert upload(bob_client, gid).status_code == 201


def test_the_upload_allowances_come_back_after_their_period(
    store: str,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    alice_client: SecureClient,
    group_with_alice: dict,
) -> None:
    # Periods of two seconds; a user's period starts with their first upload.
    monkeypatch.setattr(blob_services, "RESERVATIONS_WINDOW_SECONDS", 2)
    monkeypatch.setattr(blob_services, "RESERVED_BYTES_WINDOW_SECONDS", 2)
    settings.HASHWHISPER_UPLOAD_BYTES_PER_HOUR = 2 * SIZE
    gid = group_with_alice["id"]
    for _ in range(2):
        assert upload(alice_client, gid).status_code == 201
    bytes_refused = reserve(alice_client, gid, SIZE)
    assert_too_much(bytes_refused, 2)

    time.sleep(2.1)
    settings.HASHWHISPER_UPLOAD_BYTES_PER_HOUR = 10**9
    for _ in range(UPLOADS):
        assert upload(alice_client, gid).status_code == 201
    assert_too_much(reserve(alice_client, gid, SIZE), 2)

    time.sleep(2.1)
    assert upload(alice_client, gid).status_code == 201


def test_zero_turns_the_upload_allowances_off(
    store: str, settings: Any, alice_client: SecureClient, group_with_alice: dict
) -> None:
    settings.HASHWHISPER_UPLOADS_PER_MINUTE = 0
    settings.HASHWHISPER_UPLOAD_BYTES_PER_HOUR = 0
    for _ in range(UPLOADS + 2):
        assert upload(alice_client, group_with_alice["id"]).status_code == 201


# Groups ----------------------------------------------------------------------


def group_rows() -> tuple[int, int, int]:
    return (
        Group.objects.count(),
        Membership.objects.count(),
        ChainEvent.objects.count(),
    )


def create(client: SecureClient, body: dict[str, Any]) -> Any:
    return client.post("/api/groups/", body, content_type="application/json")


def test_past_the_groups_per_hour_creation_is_refused_and_nothing_stored(
    store: str, alice_client: SecureClient, new_group_body: NewGroup
) -> None:
    for _ in range(GROUPS):
        assert create(alice_client, new_group_body()).status_code == 201
    before = group_rows()

    refused = create(alice_client, new_group_body())

    assert_too_much(refused, group_views.NEW_GROUPS_WINDOW_SECONDS)
    assert "groups" in refused.json()["error"]
    assert group_rows() == before


def test_a_taken_group_id_does_not_use_up_the_allowance(
    store: str, alice_client: SecureClient, new_group_body: NewGroup
) -> None:
    first = new_group_body()
    assert create(alice_client, first).status_code == 201
    for _ in range(3):
        assert (
            create(alice_client, {**new_group_body(), "id": first["id"]}).status_code
            == 409
        )

    assert create(alice_client, new_group_body()).status_code == 201
    assert create(alice_client, new_group_body()).status_code == 429


def test_each_user_has_a_group_allowance_of_their_own(
    store: str,
    alice_client: SecureClient,
    bob_client: SecureClient,
    new_group_body: NewGroup,
) -> None:
    for _ in range(GROUPS):
        assert create(alice_client, new_group_body()).status_code == 201
    assert create(alice_client, new_group_body()).status_code == 429

    assert create(bob_client, new_group_body()).status_code == 201


def test_the_group_allowance_comes_back_after_the_hour(
    store: str,
    monkeypatch: pytest.MonkeyPatch,
    alice_client: SecureClient,
    new_group_body: NewGroup,
) -> None:
    monkeypatch.setattr(group_views, "NEW_GROUPS_WINDOW_SECONDS", 2)
    for _ in range(GROUPS):
        assert create(alice_client, new_group_body()).status_code == 201
    assert_too_much(create(alice_client, new_group_body()), 2)

    time.sleep(2.1)
    for _ in range(GROUPS):
        assert create(alice_client, new_group_body()).status_code == 201
    assert create(alice_client, new_group_body()).status_code == 429


# Group changes: joins, hand-overs, rotations ---------------------------------


def rotate(client: SecureClient, gid: str, epoch: int) -> Any:
    return client.post(
        f"/api/groups/{gid}/rotate",
        rotation_body(gid, epoch),
        content_type="application/json",
    )


def join(client: SecureClient, group: dict[str, Any]) -> Any:
    return client.post(
        f"/api/groups/{group['id']}/join",
        {"token": group["token"]},
        content_type="application/json",
    )


def leave(client: SecureClient, gid: str) -> Any:
    return client.post(f"/api/groups/{gid}/leave", content_type="application/json")


def test_past_the_group_changes_per_hour_a_rotation_is_refused(
    store: str, alice_client: SecureClient, group_with_alice: dict[str, Any]
) -> None:
    gid = group_with_alice["id"]
    for epoch in range(1, CHANGES + 1):
        assert rotate(alice_client, gid, epoch).status_code == 200
    before = group_rows()

    refused = rotate(alice_client, gid, CHANGES + 1)

    assert_too_much(refused, group_views.GROUP_CHANGES_WINDOW_SECONDS)
    assert group_rows() == before
    assert Group.objects.get(pk=gid).epoch == CHANGES + 1


def test_a_member_joining_and_leaving_in_a_loop_is_stopped(
    store: str, bob_client: SecureClient, group_with_alice: dict[str, Any]
) -> None:
    gid = group_with_alice["id"]
    for _ in range(CHANGES):
        assert join(bob_client, group_with_alice).status_code == 200
        # Leaving is never refused: it undoes a counted join.
        assert leave(bob_client, gid).status_code == 200
    before = group_rows()

    refused = join(bob_client, group_with_alice)

    assert_too_much(refused, group_views.GROUP_CHANGES_WINDOW_SECONDS)
    assert group_rows() == before


def test_joining_again_and_refused_changes_are_not_counted(
    store: str,
    alice_client: SecureClient,
    bob_client: SecureClient,
    group_with_alice: dict[str, Any],
) -> None:
    gid = group_with_alice["id"]
    wrong = {**group_with_alice, "token": b64(secrets.token_bytes(32))}
    for _ in range(3):
        assert join(bob_client, wrong).status_code == 404
    assert join(bob_client, group_with_alice).status_code == 200
    # A member joining again with the current secret adds no chain row.
    for _ in range(3):
        assert join(bob_client, group_with_alice).status_code == 200
    assert leave(bob_client, gid).status_code == 200
    assert join(bob_client, group_with_alice).status_code == 200
    assert leave(bob_client, gid).status_code == 200
    assert join(bob_client, group_with_alice).status_code == 429

    # A rotation from a stale epoch is refused without counting.
    for _ in range(3):
        assert rotate(alice_client, gid, 7).status_code == 409
    for epoch in range(1, CHANGES + 1):
        assert rotate(alice_client, gid, epoch).status_code == 200
    assert rotate(alice_client, gid, CHANGES + 1).status_code == 429


def test_each_user_has_a_group_change_allowance_of_their_own(
    store: str,
    alice_client: SecureClient,
    bob_client: SecureClient,
    group_with_alice: dict[str, Any],
    new_group_body: NewGroup,
) -> None:
    second = new_group_body()
    assert create(alice_client, second).status_code == 201
    gid = group_with_alice["id"]
    for epoch in range(1, CHANGES + 1):
        assert rotate(alice_client, gid, epoch).status_code == 200
    assert rotate(alice_client, gid, CHANGES + 1).status_code == 429

    assert join(bob_client, second).status_code == 200


def test_the_group_change_allowance_comes_back_after_the_hour(
    store: str,
    monkeypatch: pytest.MonkeyPatch,
    alice_client: SecureClient,
    group_with_alice: dict[str, Any],
) -> None:
    monkeypatch.setattr(group_views, "GROUP_CHANGES_WINDOW_SECONDS", 2)
    gid = group_with_alice["id"]
    for epoch in range(1, CHANGES + 1):
        assert rotate(alice_client, gid, epoch).status_code == 200
    assert_too_much(rotate(alice_client, gid, CHANGES + 1), 2)

    time.sleep(2.1)
    assert rotate(alice_client, gid, CHANGES + 1).status_code == 200


# Redis away ------------------------------------------------------------------


@pytest.fixture
def redis_away(settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Nothing listens on this port: every Redis call fails at once.
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.PASSWORD_HASHERS = [MD5_HASHER]
    settings.HASHWHISPER_MEDIA_ROOT = tmp_path / "blobs"
    monkeypatch.setattr(bus, "publisher", bus.Publisher())
    monkeypatch.setattr(bus, "health", bus.Health())


def test_while_redis_is_away_uploads_go_on_counted_in_the_process(
    group_with_alice: dict[str, Any],
    redis_away: None,
    settings: Any,
    alice_client: SecureClient,
) -> None:
    settings.HASHWHISPER_UPLOADS_PER_MINUTE = 1
    gid = group_with_alice["id"]

    assert reserve(alice_client, gid, SIZE).status_code == 201
    refused = reserve(alice_client, gid, SIZE)

    assert refused.status_code == 429, refused.content
    assert refused.json()["code"] == "too_much"
    assert int(refused["Retry-After"]) >= 1
    assert post_json(alice_client, gid, message_body()).status_code == 201


def test_while_redis_is_away_groups_are_created_counted_in_the_process(
    redis_away: None,
    settings: Any,
    alice_client: SecureClient,
    new_group_body: NewGroup,
) -> None:
    settings.HASHWHISPER_GROUPS_PER_HOUR = 1
    assert create(alice_client, new_group_body()).status_code == 201
    before = group_rows()

    refused = create(alice_client, new_group_body())

    assert refused.status_code == 429, refused.content
    assert group_rows() == before


def test_while_redis_is_away_rotations_go_on_counted_in_the_process(
    group_with_alice: dict[str, Any],
    redis_away: None,
    settings: Any,
    alice_client: SecureClient,
) -> None:
    settings.HASHWHISPER_GROUP_CHANGES_PER_HOUR = 2
    for epoch in range(1, 3):
        assert rotate(alice_client, group_with_alice["id"], epoch).status_code == 200
    assert rotate(alice_client, group_with_alice["id"], 3).status_code == 429


# The counter and its setting -------------------------------------------------


def test_a_give_back_after_the_period_leaves_no_count_behind(
    store: str, alice: tuple[Any, Any]
) -> None:
    # A refusal gives back what it counted; if the period ended in between,
    # no negative count may stay behind as extra allowance.
    user_id = alice[0].pk
    limits.spend("probe", user_id, limit=1, window=1)
    time.sleep(1.1)
    limits.give_back("probe", user_id)

    limits.spend("probe", user_id, limit=1, window=60)
    with pytest.raises(limits.TooFast):
        limits.spend("probe", user_id, limit=1, window=60)


def test_an_hourly_bytes_allowance_below_the_largest_upload_stops_start_up(
    tmp_path: Path,
) -> None:
    env = clean_env(
        tmp_path,
        HASHWHISPER_DEBUG="1",
        HASHWHISPER_MAX_UPLOAD=str(10 * 1024 * 1024),
        HASHWHISPER_UPLOAD_BYTES_PER_HOUR=str(1024 * 1024),
    )

    result = run(IMPORT_SETTINGS, env)

    assert result.returncode != 0
    assert "HASHWHISPER_UPLOAD_BYTES_PER_HOUR" in result.stderr
