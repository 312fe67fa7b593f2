"""The server decides authorship and membership itself: fields a client
adds to a request body (sender, group, time, role) change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from chat.models import Message
from groups.models import Group, Membership
from tests.conftest import SecureClient, sealed
from tests.security.conftest import Account

pytestmark = pytest.mark.django_db


def test_a_message_cannot_claim_another_sender_group_or_time(
    alice: Account,
    bob: Account,
    alice_client: SecureClient,
    group_with_alice: dict[str, Any],
    new_group_body: Any,
    bob_client: SecureClient,
) -> None:
    other = new_group_body()
    assert (
        bob_client.post(
            "/api/groups/", other, content_type="application/json"
        ).status_code
        == 201
    )
    gid = group_with_alice["id"]
    body = {
        **sealed(),
        "epoch": Group.objects.get(pk=gid).epoch,
        "sender_id": bob[0].pk,
        "sender": bob[0].pk,
        "group_id": other["id"],
        "group": other["id"],
        "created_at": "2001-01-01T00:00:00Z",
        "expires_at": "2999-01-01T00:00:00Z",
        "id": 999_999,
    }

    response = alice_client.post(
        f"/api/groups/{gid}/messages", body, content_type="application/json"
    )

    # Extra fields are ignored: the message is stored as Alice's, in the
    # group of the URL, with the server's own times and id.
    assert response.status_code == 201, response.content
    row = Message.objects.get(pk=response.json()["id"])
    assert (row.sender_id, row.group_id) == (alice[0].pk, gid)
    assert row.pk != 999_999
    assert row.created_at.year > 2001
    assert row.expires_at.year < 2999
    assert not Message.objects.filter(group_id=other["id"]).exists()


def test_creating_a_group_cannot_make_someone_else_its_owner(
    alice: Account, bob: Account, alice_client: SecureClient, new_group_body: Any
) -> None:
    body = {
        **new_group_body(),
        "created_by": bob[0].pk,
        "owner": bob[0].pk,
        "role": "member",
        "is_admin": True,
        "epoch": 7,
    }

    response = alice_client.post("/api/groups/", body, content_type="application/json")

    assert response.status_code == 201, response.content
    members = Membership.objects.filter(group_id=body["id"])
    assert [(m.user_id, m.role) for m in members] == [(alice[0].pk, "owner")]
    assert response.json()["epoch"] != 7
