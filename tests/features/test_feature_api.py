"""Deleting messages, read markers and the encrypted group description."""

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from chat.models import Message, ReadMarker
from groups.models import Group
from media_vault.models import Blob
from tests.conftest import SecureClient, make_user, sealed, verified_client
from tests.features.conftest import post_message
from tests.media_vault.conftest import encrypted, files_under, reserve_and_upload

pytestmark = pytest.mark.django_db(transaction=False)

JSON = "application/json"


def delete(client: Client, group_id: str, message_id: int) -> Any:
    return client.delete(f"/api/groups/{group_id}/messages/{message_id}")


# Deleting --------------------------------------------------------------------


def test_sender_deletes_own_message_and_members_are_told(
    shared_group: dict[str, Any],
    alice_client: SecureClient,
    bob: tuple[User, Any],
    sent_events: list[tuple[str, str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    group_id = shared_group["id"]
    message_id = post_message(alice_client, group_id)
    sent_events.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = delete(alice_client, group_id, message_id)

    assert response.status_code == 200
    assert response.json() == {"deleted": message_id}
    assert not Message.objects.filter(pk=message_id).exists()
    deleted = [(c, p) for c, kind, p in sent_events if kind == "deleted"]
    assert f"user-{bob[0].pk}" in {channel for channel, _ in deleted}
    assert all(p == {"group": group_id, "id": message_id} for _, p in deleted)


def test_nobody_deletes_another_members_message(
    shared_group: dict[str, Any],
    alice_client: SecureClient,
    bob_client: SecureClient,
) -> None:
    message_id = post_message(alice_client, shared_group["id"])
    response = delete(bob_client, shared_group["id"], message_id)
    assert response.status_code == 403
    assert Message.objects.filter(pk=message_id).exists()


def test_a_non_member_cannot_tell_whether_a_message_exists(
    shared_group: dict[str, Any], alice_client: SecureClient
) -> None:
    message_id = post_message(alice_client, shared_group["id"])
    mallory = verified_client(*make_user("mallory"))
    found = delete(mallory, shared_group["id"], message_id)
    missing = delete(mallory, shared_group["id"], message_id + 1000)
    assert (found.status_code, missing.status_code) == (404, 404)
    assert found.json() == missing.json()
    assert Message.objects.filter(pk=message_id).exists()


def test_a_message_of_another_group_is_not_found_through_this_one(
    shared_group: dict[str, Any],
    alice_client: SecureClient,
    new_group_body: Any,
) -> None:
    other = new_group_body()
    alice_client.post("/api/groups/", other, content_type=JSON)
    message_id = post_message(alice_client, other["id"])
    response = delete(alice_client, shared_group["id"], message_id)
    assert response.status_code == 404
    assert Message.objects.filter(pk=message_id).exists()


def test_delete_needs_the_csrf_token(
    shared_group: dict[str, Any], alice: tuple[User, Any], alice_client: SecureClient
) -> None:
    message_id = post_message(alice_client, shared_group["id"])
    strict = verified_client(*alice, enforce_csrf_checks=True)
    response = delete(strict, shared_group["id"], message_id)
    assert response.status_code == 403
    assert Message.objects.filter(pk=message_id).exists()


def test_the_message_url_answers_only_delete(
    shared_group: dict[str, Any], alice_client: SecureClient
) -> None:
    message_id = post_message(alice_client, shared_group["id"])
    url = f"/api/groups/{shared_group['id']}/messages/{message_id}"
    response = alice_client.get(url)
    assert response.status_code == 405
    assert response["Allow"] == "DELETE"


def test_the_delete_log_line_names_ids_only(
    shared_group: dict[str, Any],
    alice_client: SecureClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = sealed()
    response = alice_client.post(
        f"/api/groups/{shared_group['id']}/messages",
        {**body, "epoch": 1},
        content_type=JSON,
    )
    message_id = response.json()["id"]
    caplog.set_level("INFO", logger="hashwhisper")
    delete(alice_client, shared_group["id"], message_id)
    lines = [r.getMessage() for r in caplog.records if "deleted" in r.getMessage()]
    group_id = shared_group["id"]
    assert lines == [f"message deleted id={message_id} group={group_id} blobs=0"]
    assert body["ciphertext"] not in caplog.text


# Read markers ----------------------------------------------------------------


def mark(client: Client, group_id: str, message_id: Any) -> Any:
    return client.post(
        f"/api/groups/{group_id}/read", {"message_id": message_id}, content_type=JSON
    )


def unread_of(client: Client, group_id: str) -> dict[str, Any]:
    response = client.get("/api/read-state/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    states = {item["id"]: item for item in response.json()["groups"]}
    state: dict[str, Any] = states[group_id]
    return state


def test_unread_counts_others_messages_after_the_marker(
    shared_group: dict[str, Any],
    alice_client: SecureClient,
    bob_client: SecureClient,
) -> None:
    group_id = shared_group["id"]
    first = post_message(alice_client, group_id)
    post_message(alice_client, group_id)
    post_message(bob_client, group_id)  # Bob's own message is never unread.
    assert unread_of(bob_client, group_id) == {
        "id": group_id,
        "last_read_id": 0,
        "unread": 2,
    }

    assert mark(bob_client, group_id, first).json()["last_read_id"] == first
    assert unread_of(bob_client, group_id)["unread"] == 1
    # Alice's own counter is untouched by Bob's marker.
    assert unread_of(alice_client, group_id)["unread"] == 1


def test_expired_messages_are_not_unread(
    shared_group: dict[str, Any], alice_client: SecureClient, bob_client: SecureClient
) -> None:
    group_id = shared_group["id"]
    old = post_message(alice_client, group_id)
    post_message(alice_client, group_id)
    Message.objects.filter(pk=old).update(expires_at=timezone.now())
    assert unread_of(bob_client, group_id)["unread"] == 1


def test_the_marker_never_moves_back_nor_past_the_newest_message(
    shared_group: dict[str, Any], alice_client: SecureClient, bob_client: SecureClient
) -> None:
    group_id = shared_group["id"]
    first = post_message(alice_client, group_id)
    second = post_message(alice_client, group_id)
    mark(bob_client, group_id, second)
    assert mark(bob_client, group_id, first).json()["last_read_id"] == second
    assert mark(bob_client, group_id, second + 10_000).json()["last_read_id"] == second
    bob = User.objects.get(username="bob")
    marker = ReadMarker.objects.get(user=bob, group_id=group_id)
    assert marker.last_read_id == second


@pytest.mark.parametrize("value", ["12", -1, 1.5, None, True, 2**63])
def test_a_marker_must_be_a_whole_message_id(
    shared_group: dict[str, Any], bob_client: SecureClient, value: Any
) -> None:
    response = mark(bob_client, shared_group["id"], value)
    assert response.status_code == 400
    assert not ReadMarker.objects.exists()


def test_a_non_member_has_no_marker_in_the_group(
    shared_group: dict[str, Any], alice_client: SecureClient
) -> None:
    post_message(alice_client, shared_group["id"])
    mallory = verified_client(*make_user("mallory"))
    assert mark(mallory, shared_group["id"], 1).status_code == 404
    assert mallory.get("/api/read-state/").json()["groups"] == []


def test_the_unread_count_stops_at_the_cap(
    shared_group: dict[str, Any], bob: tuple[User, Any], bob_client: SecureClient
) -> None:
    group = Group.objects.get(pk=shared_group["id"])
    alice = User.objects.get(username="alice")
    Message.objects.bulk_create(
        Message(
            group=group,
            sender=alice,
            epoch=1,
            ciphertext=b"x",
            nonce=i.to_bytes(12, "big"),
            tag=bytes(16),
        )
        for i in range(105)
    )
    body = bob_client.get("/api/read-state/").json()
    assert body["unread_cap"] == 99
    assert body["groups"][0]["unread"] == 100  # "more than the cap"


# Group name and description --------------------------------------------------


def info(client: Client, group_id: str, body: dict[str, Any]) -> Any:
    return client.patch(f"/api/groups/{group_id}/info", body, content_type=JSON)


def listed(client: Client, group_id: str) -> dict[str, Any]:
    groups = client.get("/api/groups/").json()["groups"]
    found: dict[str, Any] = next(g for g in groups if g["id"] == group_id)
    return found


def test_the_owner_sets_the_sealed_description_and_members_see_it(
    shared_group: dict[str, Any],
    alice_client: SecureClient,
    bob_client: SecureClient,
    sent_events: list[tuple[str, str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    group_id = shared_group["id"]
    assert listed(bob_client, group_id)["description"] is None
    description = sealed(60)

    with django_capture_on_commit_callbacks(execute=True):
        response = info(alice_client, group_id, {"description": description})

    assert response.status_code == 200
    assert listed(bob_client, group_id)["description"] == description
    assert listed(bob_client, group_id)["name"] == shared_group["name"]
    assert {kind for _, kind, _ in sent_events} == {"group"}
    assert len(sent_events) == 2  # one event for each member's channel


def test_the_owner_renames_and_clears_the_description(
    shared_group: dict[str, Any], alice_client: SecureClient
) -> None:
    group_id = shared_group["id"]
    info(alice_client, group_id, {"description": sealed()})
    name = sealed(30)
    response = info(alice_client, group_id, {"name": name, "description": None})
    assert response.status_code == 200
    shown = listed(alice_client, group_id)
    assert (shown["name"], shown["description"]) == (name, None)
    group = Group.objects.get(pk=group_id)
    assert bytes(group.description_ciphertext) == b""


def test_a_member_who_is_not_the_owner_cannot_change_the_group(
    shared_group: dict[str, Any], bob_client: SecureClient
) -> None:
    response = info(bob_client, shared_group["id"], {"description": sealed()})
    assert response.status_code == 403
    assert Group.objects.get(pk=shared_group["id"]).description_nonce == b""


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"description": "plain text"},
        {"description": {**sealed(), "nonce": "AAAA"}},
        {"description": {**sealed(), "tag": "not base64!"}},
        {"name": None},
        {"description": sealed(5000)},
    ],
)
def test_bad_info_changes_nothing(
    shared_group: dict[str, Any], alice_client: SecureClient, body: dict[str, Any]
) -> None:
    before = listed(alice_client, shared_group["id"])
    response = info(alice_client, shared_group["id"], body)
    assert 400 <= response.status_code < 500
    assert "error" in response.json()
    assert listed(alice_client, shared_group["id"]) == before


def test_a_non_member_cannot_change_the_group(
    shared_group: dict[str, Any],
) -> None:
    mallory = verified_client(*make_user("mallory"))
    response = info(mallory, shared_group["id"], {"description": sealed()})
    assert response.status_code == 404


def test_deleting_a_message_shreds_the_file_it_carried(
    shared_group: dict[str, Any],
    alice_client: SecureClient,
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.HASHWHISPER_MEDIA_ROOT = tmp_path / "blobs"
    group_id = shared_group["id"]
    blob_id = reserve_and_upload(alice_client, group_id, encrypted(3000).data)
    response = alice_client.post(
        f"/api/groups/{group_id}/messages",
        {**sealed(60), "epoch": 1, "blobs": [blob_id]},
        content_type=JSON,
    )
    message_id = response.json()["id"]
    assert len(files_under(settings.HASHWHISPER_MEDIA_ROOT)) == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert delete(alice_client, group_id, message_id).status_code == 200

    assert not Blob.objects.filter(pk=blob_id).exists()
    assert files_under(settings.HASHWHISPER_MEDIA_ROOT) == []
