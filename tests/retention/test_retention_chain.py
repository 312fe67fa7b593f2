"""A group's retention change is recorded in its membership chain."""

from typing import Any

import pytest

from integrity.chain import Kind
from integrity.models import ChainEvent
from integrity.services import verify_group
from tests.conftest import SecureClient

pytestmark = pytest.mark.django_db


def test_owner_choosing_a_retention_appends_a_retain_event(
    settings: Any, alice: Any, alice_client: SecureClient, group_with_alice: dict
) -> None:
    settings.HASHWHISPER_RETENTION_DAYS = 7
    group_id = group_with_alice["id"]
    url = f"/api/groups/{group_id}/retention"

    assert alice_client.post(url, {"days": 2}, "application/json").status_code == 200
    assert alice_client.post(url, {"days": None}, "application/json").status_code == 200

    events = ChainEvent.objects.filter(group_id=group_id).order_by("seq")
    retains = [(e.kind, e.actor, e.subject) for e in events if e.kind == Kind.RETAIN]
    assert retains == [(Kind.RETAIN, alice[0].pk, 2), (Kind.RETAIN, alice[0].pk, 7)]
    assert verify_group(group_id) == []


def test_a_refused_retention_records_nothing(
    settings: Any, alice_client: SecureClient, group_with_alice: dict
) -> None:
    settings.HASHWHISPER_RETENTION_DAYS = 7
    group_id = group_with_alice["id"]
    before = ChainEvent.objects.filter(group_id=group_id).count()

    response = alice_client.post(
        f"/api/groups/{group_id}/retention", {"days": 30}, "application/json"
    )

    assert response.status_code == 400
    assert ChainEvent.objects.filter(group_id=group_id).count() == before
