"""A history page is read with a statement written out once; it must show
what the ORM reads, on SQLite and on PostgreSQL alike."""

import secrets
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from chat import services
from chat.models import Message
from groups import services as groups
from tests.integrity.conftest import new_spec

pytestmark = pytest.mark.django_db


def orm_page(group_id: str, ids: list[int]) -> list[dict[str, Any]]:
    rows = Message.objects.filter(id__in=ids).select_related("sender").order_by("id")
    return [services.message_json(m, m.sender.get_username()) for m in rows]


def test_pages_match_what_the_orm_reads(settings: Any) -> None:
    settings.HASHWHISPER_PAGE_SIZE = 3
    owner = User.objects.create_user(username="owner-é", password="x" * 16)
    other = User.objects.create_user(username="other", password="x" * 16)
    spec = new_spec()
    group = groups.create_group(owner, spec)
    assert groups.join_group(other, group, spec.token) is not None
    stored = []
    for index in range(8):
        sender = owner if index % 2 else other
        stored.append(
            services.post_message(
                group.pk,
                sender,
                secrets.token_bytes(30 + index),
                secrets.token_bytes(12),
                secrets.token_bytes(16),
                epoch=1,
            ).pk
        )
    # One has expired: no page shows it.
    Message.objects.filter(pk=stored[5]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    visible = [i for i in stored if i != stored[5]]

    newest, more = services.history(group.pk, owner)
    assert (newest, more) == (orm_page(group.pk, visible[-3:]), True)
    older, more = services.history(group.pk, owner, before=visible[-3])
    assert (older, more) == (orm_page(group.pk, visible[-6:-3]), True)
    oldest, more = services.history(group.pk, owner, before=visible[-6])
    assert (oldest, more) == (orm_page(group.pk, visible[:1]), False)
    forward, more = services.history(group.pk, other, after=visible[0])
    assert (forward, more) == (orm_page(group.pk, visible[1:4]), True)
    last, more = services.history(group.pk, other, after=visible[-2])
    assert (last, more) == (orm_page(group.pk, visible[-1:]), False)
    assert services.history(group.pk, other, after=visible[-1]) == ([], False)


def test_strangers_and_unknown_groups_are_not_members() -> None:
    owner = User.objects.create_user(username="owner", password="x" * 16)
    stranger = User.objects.create_user(username="stranger", password="x" * 16)
    group = groups.create_group(owner, new_spec())
    services.post_message(
        group.pk,
        owner,
        secrets.token_bytes(30),
        secrets.token_bytes(12),
        secrets.token_bytes(16),
        epoch=1,
    )
    for reader, group_id in ((stranger, group.pk), (owner, "A" * 22)):
        for cursor in ({}, {"before": 10**17}, {"after": 0}):
            with pytest.raises(services.NotMember):
                services.history(group_id, reader, **cursor)
