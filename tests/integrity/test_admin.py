"""The admin shows each group's chain status and no secret material."""

from __future__ import annotations

import base64

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from integrity.models import ChainEvent
from tests.conftest import SecureClient, verified_client
from tests.integrity.conftest import GroupMaker, Person

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> SecureClient:
    user = User.objects.create_superuser(username="operator", password="o" * 20)
    device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    return verified_client(user, device)


def test_group_list_shows_chain_status_per_group(
    operator: SecureClient, alice: Person, bob: Person, make_group: GroupMaker
) -> None:
    intact, _ = make_group(alice[0], bob[0])
    damaged, _ = make_group(alice[0], bob[0])
    ChainEvent.objects.filter(group=damaged, seq=2).update(actor=None)

    response = operator.get(reverse("admin:groups_group_changelist"))

    assert response.status_code == 200
    page = response.content.decode()
    intact_row = page[page.index(intact.pk) :].split("</tr>", 1)[0]
    damaged_row = page[page.index(damaged.pk) :].split("</tr>", 1)[0]
    assert "verified (2 events)" in intact_row
    assert "broken at #2" in damaged_row


def test_group_page_shows_no_secret_material(
    operator: SecureClient, alice: Person, make_group: GroupMaker
) -> None:
    group, token = make_group(alice[0])
    url = reverse("admin:groups_group_change", args=[group.pk])

    page = operator.get(url).content

    assert group.pk.encode() in page
    for secret in (bytes(group.token_hash), bytes(group.salt), token):
        for form in (secret.hex(), base64.b64encode(secret).decode()):
            assert form.encode() not in page
    assert bytes(group.name_ciphertext).hex().encode() not in page
    assert b'name="epoch"' not in page  # read-only: no form field


def test_chain_events_are_read_only(
    operator: SecureClient, alice: Person, make_group: GroupMaker
) -> None:
    group, _ = make_group(alice[0])
    event = ChainEvent.objects.get(group=group, seq=1)
    url = reverse("admin:integrity_chainevent_change", args=[event.pk])

    page = operator.get(url)
    posted = operator.post(url, {"kind": "leave"})

    assert page.status_code == 200
    assert bytes(event.hash).hex().encode() in page.content
    assert posted.status_code == 403
    event.refresh_from_db()
    assert event.kind == "create"
    delete = reverse("admin:integrity_chainevent_delete", args=[event.pk])
    assert operator.post(delete, {"post": "yes"}).status_code == 403
    assert ChainEvent.objects.filter(pk=event.pk).exists()
