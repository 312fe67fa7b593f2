"""Owner actions over the API: remove, hand over, rotate; leave; members.

Each refusal must answer 4xx JSON and change nothing: no membership, no
epoch and no chain event.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest

from accounts.models import User
from chat.models import Message
from chat.realtime import bus
from chat.realtime import presence as realtime_presence
from groups.models import Group, Membership
from hashwhisper.crypto import token_hash
from integrity.models import ChainEvent
from integrity.services import verify_group
from tests.conftest import SecureClient, b64, make_user, sealed, verified_client
from tests.hashwhisper.testing import Response
from tests.media_vault import blobformat

pytestmark = pytest.mark.django_db

Person = tuple[User, Any]


def post(client: SecureClient, url: str, body: Any) -> Response:
    return client.post(url, body, content_type="application/json")


@pytest.fixture
def carol() -> Person:
    return make_user("carol")


@pytest.fixture
def carol_client(carol: Person) -> SecureClient:
    return verified_client(*carol)


@pytest.fixture
def trio(
    group_with_alice: dict[str, Any],
    bob_client: SecureClient,
    carol_client: SecureClient,
) -> str:
    """Alice's group with Bob and then Carol joined by invitation."""
    gid = group_with_alice["id"]
    for client in (bob_client, carol_client):
        token = group_with_alice["token"]
        joined = post(client, f"/api/groups/{gid}/join", {"token": token})
        assert joined.status_code == 200, joined.content
    return gid


def state(gid: str) -> tuple[Any, ...]:
    """Everything a refused request must leave as it was."""
    group = Group.objects.get(pk=gid)
    members = sorted(
        Membership.objects.filter(group_id=gid).values_list("user_id", "role")
    )
    return (group.epoch, bytes(group.token_hash), members, chain_length(gid))


def chain_length(gid: str) -> int:
    return ChainEvent.objects.filter(group_id=gid).count()


def assert_refused(
    response: Response, status: int, gid: str, before: tuple[Any, ...]
) -> str:
    """Check a JSON refusal that changed nothing; return its message."""
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert isinstance(error, str) and error
    assert state(gid) == before
    return error


def rotation_body(gid: str, epoch: int = 1) -> dict[str, Any]:
    return {
        "epoch": epoch,
        "salt": b64(secrets.token_bytes(16)),
        "iterations": 600_000,
        "token": b64(secrets.token_bytes(32)),
        "name": sealed(20),
    }


@contextmanager
def sent_events() -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    """Record (channel, kind, payload) of every live event published."""
    sent: list[tuple[str, str, dict[str, Any]]] = []
    with mock.patch(
        "chat.events.send_event",
        side_effect=lambda channel, kind, data: sent.append((channel, kind, data)),
    ):
        yield sent


# Remove ----------------------------------------------------------------------


def test_owner_removes_a_member(
    alice_client: SecureClient,
    carol: Person,
    trio: str,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with sent_events() as sent, django_capture_on_commit_callbacks(execute=True):
        response = post(
            alice_client, f"/api/groups/{trio}/remove", {"user": carol[0].pk}
        )

    assert response.status_code == 200, response.content
    assert not Membership.objects.filter(group_id=trio, user=carol[0]).exists()
    last = ChainEvent.objects.filter(group_id=trio).order_by("seq").last()
    assert last is not None and (last.kind, last.subject) == ("remove", carol[0].pk)
    # The remaining members and the removed one hear about it, once each.
    channels = sorted(channel for channel, kind, _ in sent if kind == "members")
    assert channels == sorted(f"user-{user.pk}" for user in User.objects.all())
    assert verify_group(trio) == []


def test_a_removed_member_loses_the_group_at_once(
    alice_client: SecureClient,
    carol: Person,
    carol_client: SecureClient,
    trio: str,
) -> None:
    post(alice_client, f"/api/groups/{trio}/messages", {**sealed(), "epoch": 1})
    assert carol_client.get(f"/api/groups/{trio}/messages").status_code == 200

    post(alice_client, f"/api/groups/{trio}/remove", {"user": carol[0].pk})

    messages_before = Message.objects.count()
    for url in ("messages", "members", "chain"):
        response = carol_client.get(f"/api/groups/{trio}/{url}")
        assert response.status_code == 404, url
        assert response.json() == {"error": "No such group."}
    posted = post(
        carol_client, f"/api/groups/{trio}/messages", {**sealed(), "epoch": 1}
    )
    assert posted.status_code == 404
    assert Message.objects.count() == messages_before
    listed = carol_client.get("/api/groups/").json()["groups"]
    assert [g["id"] for g in listed] == []


def test_a_member_may_not_remove_anyone_403(
    bob_client: SecureClient, carol: Person, trio: str
) -> None:
    before = state(trio)

    response = post(bob_client, f"/api/groups/{trio}/remove", {"user": carol[0].pk})

    assert "owner" in assert_refused(response, 403, trio, before)


def test_a_non_member_gets_404_like_an_unknown_group(
    alice: Person, group_with_alice: dict[str, Any], bob_client: SecureClient
) -> None:
    gid = group_with_alice["id"]
    before = state(gid)

    for action in ("remove", "owner"):
        response = post(
            bob_client, f"/api/groups/{gid}/{action}", {"user": alice[0].pk}
        )
        assert assert_refused(response, 404, gid, before) == "No such group."
    response = post(bob_client, f"/api/groups/{gid}/rotate", rotation_body(gid))
    assert assert_refused(response, 404, gid, before) == "No such group."


def test_the_owner_cannot_remove_themself_409(
    alice: Person, alice_client: SecureClient, trio: str
) -> None:
    before = state(trio)

    response = post(alice_client, f"/api/groups/{trio}/remove", {"user": alice[0].pk})

    assert_refused(response, 409, trio, before)


def test_removing_someone_who_is_not_a_member_is_404(
    alice_client: SecureClient, group_with_alice: dict[str, Any], bob: Person
) -> None:
    gid = group_with_alice["id"]
    before = state(gid)

    response = post(alice_client, f"/api/groups/{gid}/remove", {"user": bob[0].pk})

    assert "not a member" in assert_refused(response, 404, gid, before)


@pytest.mark.parametrize("user", [None, "2", 0, -1, True, 2**63, 1.5])
def test_a_bad_user_field_is_refused_400(
    alice_client: SecureClient, trio: str, user: Any
) -> None:
    before = state(trio)

    response = post(alice_client, f"/api/groups/{trio}/remove", {"user": user})

    assert_refused(response, 400, trio, before)


# Hand over -------------------------------------------------------------------


def test_owner_hands_ownership_to_a_member(
    alice: Person,
    alice_client: SecureClient,
    bob: Person,
    bob_client: SecureClient,
    trio: str,
) -> None:
    response = post(alice_client, f"/api/groups/{trio}/owner", {"user": bob[0].pk})

    assert response.status_code == 200, response.content
    roles = dict(Membership.objects.filter(group_id=trio).values_list("user", "role"))
    assert roles[alice[0].pk] == "member"
    assert roles[bob[0].pk] == "owner"
    # The new owner may now act, the old one may not.
    before = state(trio)
    refused = post(alice_client, f"/api/groups/{trio}/owner", {"user": bob[0].pk})
    assert_refused(refused, 403, trio, before)
    assert (
        post(
            bob_client, f"/api/groups/{trio}/remove", {"user": alice[0].pk}
        ).status_code
        == 200
    )


def test_a_member_may_not_hand_over_403(
    bob_client: SecureClient, carol: Person, trio: str
) -> None:
    before = state(trio)

    response = post(bob_client, f"/api/groups/{trio}/owner", {"user": carol[0].pk})

    assert_refused(response, 403, trio, before)


# Leave -----------------------------------------------------------------------


def test_the_owner_must_hand_over_before_leaving_409(
    alice_client: SecureClient, trio: str
) -> None:
    before = state(trio)

    response = post(alice_client, f"/api/groups/{trio}/leave", {})

    assert "Hand ownership" in assert_refused(response, 409, trio, before)


def test_leaving_records_the_event(
    bob: Person, bob_client: SecureClient, trio: str
) -> None:
    assert post(bob_client, f"/api/groups/{trio}/leave", {}).status_code == 200

    last = ChainEvent.objects.filter(group_id=trio).order_by("seq").last()
    assert last is not None
    assert (last.kind, last.actor, last.subject) == ("leave", bob[0].pk, bob[0].pk)


# Rotate ----------------------------------------------------------------------


def test_rotation_replaces_the_token_and_raises_the_epoch(
    alice_client: SecureClient,
    bob_client: SecureClient,
    carol_client: SecureClient,
    trio: str,
    new_group_body: Callable[[], dict[str, Any]],
) -> None:
    body = rotation_body(trio)

    response = post(alice_client, f"/api/groups/{trio}/rotate", body)

    assert response.status_code == 200, response.content
    assert response.json()["epoch"] == 2
    assert response.json()["name"] == body["name"]
    group = Group.objects.get(pk=trio)
    assert bytes(group.token_hash) == token_hash(base64.b64decode(body["token"]))
    assert b64(bytes(group.salt)) == body["salt"]
    params = bob_client.get(f"/api/groups/{trio}/params").json()
    assert (params["salt"], params["epoch"]) == (body["salt"], 2)
    last = ChainEvent.objects.filter(group_id=trio).order_by("seq").last()
    assert last is not None and (last.kind, last.epoch) == ("rotate", 2)
    # A member moving to the new secret joins again: nothing is recorded.
    length = chain_length(trio)
    assert (
        post(
            bob_client, f"/api/groups/{trio}/join", {"token": body["token"]}
        ).status_code
        == 200
    )
    assert chain_length(trio) == length


def test_the_old_token_stops_opening_the_group(
    alice_client: SecureClient,
    group_with_alice: dict[str, Any],
    bob: Person,
    bob_client: SecureClient,
) -> None:
    gid = group_with_alice["id"]
    assert (
        post(alice_client, f"/api/groups/{gid}/rotate", rotation_body(gid)).status_code
        == 200
    )

    old = post(
        bob_client, f"/api/groups/{gid}/join", {"token": group_with_alice["token"]}
    )

    assert old.status_code == 404
    assert not Membership.objects.filter(group_id=gid, user=bob[0]).exists()


def test_a_member_may_not_rotate_403(bob_client: SecureClient, trio: str) -> None:
    before = state(trio)

    response = post(bob_client, f"/api/groups/{trio}/rotate", rotation_body(trio))

    assert_refused(response, 403, trio, before)


def test_a_rotation_from_a_stale_epoch_is_refused_409(
    alice_client: SecureClient, trio: str
) -> None:
    assert (
        post(
            alice_client, f"/api/groups/{trio}/rotate", rotation_body(trio)
        ).status_code
        == 200
    )
    before = state(trio)

    response = post(alice_client, f"/api/groups/{trio}/rotate", rotation_body(trio, 1))

    assert "epoch 2" in assert_refused(response, 409, trio, before)


def test_rotation_reseals_the_description_when_sent(
    alice_client: SecureClient, trio: str
) -> None:
    old = sealed(30)
    Group.objects.filter(pk=trio).update(
        description_ciphertext=base64.b64decode(old["ciphertext"]),
        description_nonce=base64.b64decode(old["nonce"]),
        description_tag=base64.b64decode(old["tag"]),
    )
    url = f"/api/groups/{trio}/rotate"
    assert post(alice_client, url, rotation_body(trio)).status_code == 200
    assert alice_client.get("/api/groups/").json()["groups"][0]["description"] == old

    new = sealed(30)
    rotated = post(alice_client, url, {**rotation_body(trio, 2), "description": new})

    assert rotated.status_code == 200, rotated.content
    assert rotated.json()["description"] == new


@pytest.mark.parametrize(
    "change",
    [
        {"iterations": 1000},
        {"salt": b64(b"short")},
        {"token": b64(b"x" * 31)},
        {"name": "not sealed"},
        {"epoch": "1"},
        {"description": "not sealed"},
        {"description": {**sealed(20), "nonce": b64(b"short")}},
    ],
)
def test_weak_or_malformed_rotations_are_refused_400(
    alice_client: SecureClient, trio: str, change: dict[str, Any]
) -> None:
    before = state(trio)

    response = post(
        alice_client, f"/api/groups/{trio}/rotate", {**rotation_body(trio), **change}
    )

    assert_refused(response, 400, trio, before)


# Epochs of messages ----------------------------------------------------------


def test_a_message_for_the_old_epoch_is_refused_after_rotation_409(
    alice_client: SecureClient, bob_client: SecureClient, trio: str
) -> None:
    url = f"/api/groups/{trio}/messages"
    assert post(bob_client, url, {**sealed(), "epoch": 1}).status_code == 201
    assert (
        post(
            alice_client, f"/api/groups/{trio}/rotate", rotation_body(trio)
        ).status_code
        == 200
    )
    count = Message.objects.count()

    response = post(bob_client, url, {**sealed(), "epoch": 1})

    assert response.status_code == 409
    assert response.json()["error"].startswith("Old epoch")
    # For the page to tell it from the other 409 (a reused nonce).
    assert response.json()["code"] == "old_epoch"
    assert Message.objects.count() == count
    accepted = post(bob_client, url, {**sealed(), "epoch": 2})
    assert accepted.status_code == 201
    assert accepted.json()["epoch"] == 2


def test_a_message_for_a_future_epoch_is_refused_409(
    bob_client: SecureClient, trio: str
) -> None:
    count = Message.objects.count()

    response = post(
        bob_client, f"/api/groups/{trio}/messages", {**sealed(), "epoch": 2}
    )

    assert response.status_code == 409
    assert Message.objects.count() == count


@pytest.mark.parametrize("epoch", [None, "1", 0, True, 1.0])
def test_a_message_must_state_its_epoch_400(
    bob_client: SecureClient, trio: str, epoch: Any
) -> None:
    body: dict[str, Any] = sealed()
    if epoch is not None:
        body["epoch"] = epoch
    count = Message.objects.count()

    response = post(bob_client, f"/api/groups/{trio}/messages", body)

    assert response.status_code == 400
    assert "epoch" in response.json()["error"]
    assert Message.objects.count() == count


# Members list ----------------------------------------------------------------


def test_members_list_shows_role_joined_and_presence(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    alice: Person,
    alice_client: SecureClient,
    bob_client: SecureClient,
    carol: Person,
    trio: str,
) -> None:
    # Presence of this process alone, fresh, so heartbeats of other test
    # runs sharing the same Redis cannot show up here.
    settings.REDIS_URL = ""
    monkeypatch.setattr(realtime_presence, "_stores", {})
    for client, state in ((alice_client, "online"), (bob_client, "away")):
        beat = post(client, "/api/presence", {"state": state})
        assert beat.status_code == 200, beat.content

    body = alice_client.get(f"/api/groups/{trio}/members").json()

    rows = {m["username"]: m for m in body["members"]}
    assert list(rows) == ["alice", "bob", "carol"]
    assert rows["alice"]["role"] == "owner" and rows["bob"]["role"] == "member"
    # The same states as the live indicators (GET /api/groups/<id>/presence).
    live = alice_client.get(f"/api/groups/{trio}/presence").json()["presence"]
    assert {name: m["presence"] for name, m in rows.items()} == {
        "alice": "online",
        "bob": "away",
        "carol": "offline",
    }
    assert {name: live[str(m["id"])] for name, m in rows.items()} == {
        name: m["presence"] for name, m in rows.items()
    }
    assert {name: m["online"] for name, m in rows.items()} == {
        "alice": True,
        "bob": False,
        "carol": False,
    }
    assert all(m["joined_at"].startswith("20") for m in rows.values())
    assert body["epoch"] == 1


def test_asking_for_the_members_does_not_make_anyone_present(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    alice_client: SecureClient,
    bob_client: SecureClient,
    trio: str,
) -> None:
    # Only heartbeats do; the list is read by background refreshes too.
    settings.REDIS_URL = ""
    monkeypatch.setattr(realtime_presence, "_stores", {})
    bob_client.get(f"/api/groups/{trio}/members")

    body = alice_client.get(f"/api/groups/{trio}/members").json()

    assert [m["presence"] for m in body["members"]] == ["offline"] * 3


# Blobs -----------------------------------------------------------------------


def test_a_removed_member_loses_the_group_blobs_at_once(
    settings: Any,
    tmp_path: Any,
    alice_client: SecureClient,
    bob: Person,
    bob_client: SecureClient,
    trio: str,
) -> None:
    settings.HASHWHISPER_MEDIA_ROOT = tmp_path / "blobs"
    data = blobformat.encrypt(secrets.token_bytes(32), b"picture", b"aad", chunk=4096)
    base = f"/api/groups/{trio}/blobs"
    reserved = post(alice_client, base, {"type": "image/png", "size": len(data)})
    assert reserved.status_code == 201, reserved.content
    blob_url = f"{base}/{reserved.json()['id']}"
    stored = alice_client.put(blob_url, data, content_type="application/octet-stream")
    assert stored.status_code == 201, stored.content
    pending = post(bob_client, base, {"type": "image/png", "size": len(data)})
    assert pending.status_code == 201, pending.content
    assert bob_client.get(blob_url).status_code == 200

    post(alice_client, f"/api/groups/{trio}/remove", {"user": bob[0].pk})

    assert bob_client.get(blob_url).status_code == 404
    again = post(bob_client, base, {"type": "image/png", "size": len(data)})
    assert again.status_code == 404
    own = bob_client.put(
        f"{base}/{pending.json()['id']}", data, content_type="application/octet-stream"
    )
    assert own.status_code == 404


def test_members_list_survives_a_presence_outage(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    alice_client: SecureClient,
    trio: str,
) -> None:
    # Nothing listens on port 1: every presence read fails to connect. A
    # publisher and stores of its own, so their pause after the failure
    # stays with this test.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(bus, "publisher", bus.Publisher())
    monkeypatch.setattr(realtime_presence, "_stores", {})

    response = alice_client.get(f"/api/groups/{trio}/members")

    assert response.status_code == 200
    members = response.json()["members"]
    assert [m["presence"] for m in members] == ["offline"] * 3
    assert [m["online"] for m in members] == [False] * 3
