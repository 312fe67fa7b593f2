"""How fast one account may post (chat.limits).

Each test runs on both stores: the local cache, and Redis when CI gives one.
Counts are per user over all groups; past the limit a post is refused with
429, a Retry-After header and nothing stored.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from accounts.models import User
from chat import limits
from chat.models import Message
from chat.realtime import bus
from tests.chat.test_message_input import message_body, post_json
from tests.conftest import SecureClient, closed_port, count_in, join_group

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(params=["cache", "redis"])
def store(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    count_in(request.param, settings)
    settings.HASHWHISPER_MESSAGES_PER_MINUTE = LIMIT
    yield request.param


@pytest.fixture
def two_groups(
    alice_client: SecureClient, group_with_alice: dict[str, Any], new_group_body: Any
) -> list[str]:
    other = new_group_body()
    created = alice_client.post("/api/groups/", other, content_type="application/json")
    assert created.status_code == 201, created.content
    return [group_with_alice["id"], other["id"]]


def test_past_the_limit_a_post_is_refused_and_nothing_stored(
    store: str, alice_client: SecureClient, two_groups: list[str]
) -> None:
    # The count is the user's over all groups.
    for number in range(LIMIT):
        gid = two_groups[number % 2]
        assert post_json(alice_client, gid, message_body()).status_code == 201

    response = post_json(alice_client, two_groups[0], message_body())

    assert response.status_code == 429, response.content
    assert response.json()["code"] == "too_fast"
    assert "Wait" in response.json()["error"]
    assert 1 <= int(response["Retry-After"]) <= limits.WINDOW_SECONDS
    assert Message.objects.count() == LIMIT


def test_each_member_has_an_allowance_of_their_own(
    store: str,
    alice_client: SecureClient,
    bob_client: SecureClient,
    group_with_alice: dict[str, Any],
) -> None:
    gid = join_group(bob_client, group_with_alice)
    for _ in range(LIMIT):
        assert post_json(alice_client, gid, message_body()).status_code == 201
    assert post_json(alice_client, gid, message_body()).status_code == 429

    assert post_json(bob_client, gid, message_body()).status_code == 201


def test_the_allowance_comes_back_when_the_minute_is_over(
    store: str, alice: tuple[User, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A minute of two seconds; the user's minute starts with their first post.
    monkeypatch.setattr(limits, "WINDOW_SECONDS", 2)
    user_id = alice[0].pk
    for _ in range(LIMIT):
        limits.count_post(user_id)
    with pytest.raises(limits.TooFast) as refused:
        limits.count_post(user_id)
    assert 1 <= refused.value.retry_after <= 2

    time.sleep(2.1)
    for _ in range(LIMIT):
        limits.count_post(user_id)
    with pytest.raises(limits.TooFast):
        limits.count_post(user_id)


def test_zero_turns_the_limit_off(
    store: str, settings: Any, alice_client: SecureClient, group_with_alice: dict
) -> None:
    settings.HASHWHISPER_MESSAGES_PER_MINUTE = 0
    for _ in range(LIMIT + 2):
        response = post_json(alice_client, group_with_alice["id"], message_body())
        assert response.status_code == 201, response.content


def test_posting_goes_on_while_redis_is_away_counted_in_the_process(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    alice_client: SecureClient,
    group_with_alice: dict[str, Any],
) -> None:
    # Nothing listens on this port: every Redis call fails at once.
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.HASHWHISPER_MESSAGES_PER_MINUTE = LIMIT
    monkeypatch.setattr(bus, "publisher", bus.Publisher())
    monkeypatch.setattr(bus, "health", bus.Health())

    for _ in range(LIMIT):
        response = post_json(alice_client, group_with_alice["id"], message_body())
        assert response.status_code == 201, response.content
    refused = post_json(alice_client, group_with_alice["id"], message_body())

    assert refused.status_code == 429, refused.content
    assert Message.objects.count() == LIMIT
