"""What a post and a history page ask the database, beyond the login checks.

The message API is the busiest path of the server; each extra round trip
shows in the post rate and the history rate (bench/realtime.py). These
tests pin the view's own queries: a post reads the sender's membership and
the group under the group's lock, inserts (on PostgreSQL all in one
statement), and reads the recipients; a page of history is one query that
also checks membership.
"""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import SecureClient, sealed


def view_queries(ctx: CaptureQueriesContext) -> list[str]:
    """The statements that touch groups or messages (not sessions or users)."""
    return [
        q["sql"]
        for q in ctx.captured_queries
        if '"groups_' in q["sql"] or '"chat_' in q["sql"]
    ]


def messages_url(group: dict[str, Any]) -> str:
    return f"/api/groups/{group['id']}/messages"


@pytest.mark.django_db(transaction=True)
def test_a_post_is_one_statement_on_postgresql(
    alice_client: SecureClient, group_with_alice: dict[str, Any]
) -> None:
    url = messages_url(group_with_alice)
    with CaptureQueriesContext(connection) as ctx:
        response = alice_client.post(
            url, {**sealed(), "epoch": 1}, content_type="application/json"
        )
    assert response.status_code == 201, response.content
    statements = view_queries(ctx)
    if connection.vendor == "postgresql":
        # Lock, checks, insert and recipients in one statement (no BEGIN or
        # COMMIT); the members changed while it waited for the lock is the
        # one case that reads them again (tests/chat/test_post_during_removal).
        assert len(statements) == 1, statements
        (stored,) = statements
        assert "FOR NO KEY UPDATE OF g" in stored
        assert 'INSERT INTO "chat_message"' in stored
        assert 'FROM "groups_membership" WHERE group_id' in stored
        assert not any(q["sql"] in ("BEGIN", "COMMIT") for q in ctx.captured_queries)
    else:
        assert len(statements) == 3, statements
        check, insert, recipients = statements
        assert check.startswith("SELECT") and '"groups_group"' in check
        assert insert.startswith('INSERT INTO "chat_message"')
        # Read after the post is stored, in its transaction.
        assert recipients.startswith('SELECT "groups_membership"."user_id"')


@pytest.mark.django_db
def test_a_history_page_is_one_query(
    alice_client: SecureClient, group_with_alice: dict[str, Any]
) -> None:
    url = messages_url(group_with_alice)
    for _ in range(3):
        body = {**sealed(), "epoch": 1}
        assert (
            alice_client.post(url, body, content_type="application/json").status_code
            == 201
        )
    with CaptureQueriesContext(connection) as ctx:
        response = alice_client.get(url)
    assert response.status_code == 200
    assert len(response.json()["messages"]) == 3
    statements = view_queries(ctx)
    assert len(statements) == 1, statements
    assert '"groups_membership"' in statements[0]


@pytest.mark.django_db
def test_an_empty_page_still_tells_members_from_strangers(
    alice_client: SecureClient,
    bob_client: SecureClient,
    group_with_alice: dict[str, Any],
) -> None:
    url = messages_url(group_with_alice)
    assert alice_client.get(url).json() == {"messages": [], "has_more": False}
    refused = bob_client.get(url)
    assert refused.status_code == 404
    assert refused.json() == {"error": "No such group."}
    # A stranger is refused even when the group has messages to show.
    body = {**sealed(), "epoch": 1}
    assert (
        alice_client.post(url, body, content_type="application/json").status_code == 201
    )
    assert bob_client.get(url).status_code == 404
    assert bob_client.get(url + "?after=0").status_code == 404
