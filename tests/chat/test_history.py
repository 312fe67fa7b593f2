"""GET /api/groups/<id>/messages: paging with cursors, expiry, isolation."""

import secrets
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from chat.models import Message
from groups.models import Group
from tests.conftest import SecureClient, verified_client

pytestmark = pytest.mark.django_db

TOTAL = 120


def add_message(group: Group, sender: User, **fields: Any) -> Message:
    return Message.objects.create(
        group=group,
        sender=sender,
        epoch=group.epoch,
        ciphertext=secrets.token_bytes(24),
        nonce=secrets.token_bytes(12),
        tag=secrets.token_bytes(16),
        **fields,
    )


@pytest.fixture
def other_group(bob_client: SecureClient, new_group_body: Any) -> Group:
    body = new_group_body()
    created = bob_client.post("/api/groups/", body, content_type="application/json")
    assert created.status_code == 201
    return Group.objects.get(pk=body["id"])


@pytest.fixture
def history(
    alice: tuple[User, Any],
    bob: tuple[User, Any],
    group_with_alice: dict,
    other_group: Group,
) -> list[int]:
    """Ids of 120 messages in Alice's group, interleaved with Bob's."""
    group = Group.objects.get(pk=group_with_alice["id"])
    ids = []
    for number in range(TOTAL):
        ids.append(add_message(group, alice[0]).id)
        if number % 3 == 0:
            add_message(other_group, bob[0])
    return ids


def read(client: SecureClient, gid: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/groups/{gid}/messages", params)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def ids_of(page: dict[str, Any]) -> list[int]:
    return [message["id"] for message in page["messages"]]


def test_first_page_is_the_newest_fifty_oldest_first(
    alice_client: SecureClient, group_with_alice: dict, history: list[int]
) -> None:
    page = read(alice_client, group_with_alice["id"])

    assert settings.HASHWHISPER_PAGE_SIZE == 50
    assert ids_of(page) == history[-50:]
    assert page["has_more"] is True


def test_before_cursor_walks_back_to_the_start(
    alice_client: SecureClient, group_with_alice: dict, history: list[int]
) -> None:
    gid = group_with_alice["id"]
    page = read(alice_client, gid)
    seen = ids_of(page)
    requests = 1
    while page["has_more"]:
        page = read(alice_client, gid, before=seen[0])
        assert ids_of(page) == sorted(ids_of(page))
        seen = ids_of(page) + seen
        requests += 1

    assert seen == history
    assert requests == 3


def test_after_cursor_reads_forward_to_the_end(
    alice_client: SecureClient, group_with_alice: dict, history: list[int]
) -> None:
    gid = group_with_alice["id"]
    seen: list[int] = []
    page = read(alice_client, gid, after=0)
    seen += ids_of(page)
    while page["has_more"]:
        page = read(alice_client, gid, after=seen[-1])
        seen += ids_of(page)

    assert seen == history


def test_after_cursor_from_the_middle_returns_only_newer_messages(
    alice_client: SecureClient, group_with_alice: dict, history: list[int]
) -> None:
    page = read(alice_client, group_with_alice["id"], after=history[99])

    assert ids_of(page) == history[100:]
    assert page["has_more"] is False


def test_exactly_one_page_has_no_more(
    alice: tuple[User, Any], alice_client: SecureClient, group_with_alice: dict
) -> None:
    group = Group.objects.get(pk=group_with_alice["id"])
    ids = [add_message(group, alice[0]).id for _ in range(50)]

    page = read(alice_client, group.id)

    assert ids_of(page) == ids
    assert page["has_more"] is False


@pytest.mark.parametrize(
    "params",
    [
        {"before": "abc"},
        {"before": "-1"},
        {"after": "abc"},
        {"after": "-1"},
        {"before": ""},
        {"after": "1.5"},
        {"before": "0x10"},
        {"after": "1" * 19},
        {"before": "5", "after": "1"},
    ],
    ids=lambda params: "&".join(f"{k}={v}" for k, v in params.items()),
)
def test_bad_cursor_is_refused_400(
    alice_client: SecureClient,
    group_with_alice: dict,
    history: list[int],
    params: dict[str, str],
) -> None:
    response = alice_client.get(
        f"/api/groups/{group_with_alice['id']}/messages", params
    )

    assert response.status_code == 400, response.content
    assert response.json()["error"]


def test_superscript_digit_cursor_is_refused_400(
    alice: tuple[User, Any], group_with_alice: dict
) -> None:
    client = verified_client(*alice, raise_request_exception=False)

    response = client.get(
        f"/api/groups/{group_with_alice['id']}/messages", {"before": "\u00b2"}
    )

    assert response.status_code == 400, response.content
    assert response.json()["error"]


def test_expired_messages_are_invisible(
    alice: tuple[User, Any], alice_client: SecureClient, group_with_alice: dict
) -> None:
    group = Group.objects.get(pk=group_with_alice["id"])
    past = timezone.now() - timedelta(seconds=1)
    live_early = add_message(group, alice[0]).id
    expired = [add_message(group, alice[0], expires_at=past).id for _ in range(3)]
    live_late = add_message(group, alice[0]).id

    newest = read(alice_client, group.id)
    forward = read(alice_client, group.id, after=0)
    backward = read(alice_client, group.id, before=live_late)

    assert ids_of(newest) == [live_early, live_late]
    assert ids_of(forward) == [live_early, live_late]
    assert ids_of(backward) == [live_early]
    assert Message.objects.filter(pk__in=expired).count() == 3


def test_other_groups_messages_never_appear(
    alice_client: SecureClient,
    group_with_alice: dict,
    other_group: Group,
    history: list[int],
) -> None:
    gid = group_with_alice["id"]
    foreign = set(
        Message.objects.filter(group=other_group).values_list("id", flat=True)
    )
    assert foreign
    pages = [read(alice_client, gid), read(alice_client, gid, after=0)]
    pages += [read(alice_client, gid, before=max(foreign) + 1)]
    pages += [read(alice_client, gid, after=min(foreign) - 1)]

    shown = {message["id"] for page in pages for message in page["messages"]}
    groups = {message["group"] for page in pages for message in page["messages"]}

    assert shown
    assert not shown & foreign
    assert groups == {gid}
