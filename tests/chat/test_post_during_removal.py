"""A post that waits for the group's lock while a member is removed.

The removal holds the group row's lock until it commits; a post arriving
meanwhile waits for that lock. Its live event must then leave out the
removed member: the recipients are read after the lock is held, not in the
statement that waited for it (which still sees the older membership). Only
PostgreSQL has the row locks to show this; SQLite lets one writer in at a
time.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction

from accounts.models import User
from chat import services
from chat.realtime.local import user_channel
from groups import services as groups
from groups.models import Membership
from integrity.services import lock_group
from tests.hashwhisper.testing import require_postgresql
from tests.integrity.conftest import new_spec

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def needs_postgresql() -> None:
    require_postgresql("row locks")


def waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        (count,) = cursor.fetchone()
    return bool(count)


def test_a_post_that_waited_for_a_removal_skips_the_removed_member(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner, writer, leaving = (
        User.objects.create_user(username=name, password="x" * 16)
        for name in ("owner", "writer", "leaving")
    )
    spec = new_spec()
    group = groups.create_group(owner, spec)
    assert groups.join_group(writer, group, spec.token) is not None
    assert groups.join_group(leaving, group, spec.token) is not None
    group.refresh_from_db()

    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(
        "chat.events.send_event",
        lambda channel, kind, payload: sent.append((channel, kind)),
    )
    locked, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def remove() -> None:
        try:
            with transaction.atomic():
                lock_group(group.pk)
                Membership.objects.filter(group=group, user=leaving).delete()
                locked.set()
                assert release.wait(timeout=30)
        finally:
            connection.close()

    def post() -> None:
        try:
            outcome["message"] = services.post_message(
                group.pk,
                writer,
                secrets.token_bytes(40),
                secrets.token_bytes(12),
                secrets.token_bytes(16),
                epoch=group.epoch,
            )
        finally:
            connection.close()

    remover = threading.Thread(target=remove)
    remover.start()
    assert locked.wait(timeout=30)
    poster = threading.Thread(target=post)
    poster.start()
    deadline = time.monotonic() + 10
    while not waiting_on_a_lock():
        assert time.monotonic() < deadline, "the post never waited for the lock"
        time.sleep(0.02)
    release.set()
    remover.join(timeout=30)
    poster.join(timeout=30)

    assert "message" in outcome
    receivers = {channel for channel, kind in sent if kind == "message"}
    assert receivers == {user_channel(owner.pk), user_channel(writer.pk)}
