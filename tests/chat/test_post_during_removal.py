"""A post that waits for the group's lock while the group changes.

A removal or a rotation holds the group row's lock until it commits; a
post arriving meanwhile waits for that lock. After a removal its live event
must leave out the removed member, and after a join include the new one:
the statement that waited for the lock still sees the older membership,
so it stores nothing and the post is made again under the lock
(``Group.roster_version`` tells). After a rotation the post must be
refused, as it was sealed for the old key. Only PostgreSQL has the row
locks to show this; SQLite lets one writer in at a time.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import F

from accounts.models import User
from chat import services
from chat.models import Message
from chat.realtime.local import user_channel
from groups import services as groups
from groups.models import Group, Membership
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


def post_from_a_thread(
    group: Group, writer: User, outcome: dict[str, Any]
) -> Callable[[], None]:
    """A post by ``writer`` for a thread of its own, which keeps the message
    (or the exception) in ``outcome`` and lets go of its connection."""

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
        except Exception as error:
            outcome["error"] = error
        finally:
            connection.close()

    return post


def post_behind_a_lock(
    group: Group, writer: User, change: Callable[[], object]
) -> dict[str, Any]:
    """Post while another transaction holds the group's lock and makes
    ``change``; the post must really wait for it. Returns the post's
    message (or the exception it raised)."""
    locked, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def hold() -> None:
        try:
            with transaction.atomic():
                lock_group(group.pk)
                change()
                locked.set()
                assert release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(timeout=30)
    poster = threading.Thread(target=post_from_a_thread(group, writer, outcome))
    poster.start()
    deadline = time.monotonic() + 10
    while not waiting_on_a_lock():
        assert time.monotonic() < deadline, "the post never waited for the lock"
        time.sleep(0.02)
    release.set()
    holder.join(timeout=30)
    poster.join(timeout=30)
    return outcome


def three_in_a_group() -> tuple[Group, User, User, User]:
    owner, writer, leaving = (
        User.objects.create_user(username=name, password="x" * 16)
        for name in ("owner", "writer", "leaving")
    )
    spec = new_spec()
    group = groups.create_group(owner, spec)
    assert groups.join_group(writer, group, spec.token) is not None
    assert groups.join_group(leaving, group, spec.token) is not None
    group.refresh_from_db()
    return group, owner, writer, leaving


def receivers_of_a_post_behind_a_lock(
    monkeypatch: pytest.MonkeyPatch,
    group: Group,
    writer: User,
    change: Callable[[], object],
) -> set[str]:
    """The channels the live event of a post made behind ``change`` went to."""
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(
        "chat.events.send_event",
        lambda channel, kind, payload: sent.append((channel, kind)),
    )
    outcome = post_behind_a_lock(group, writer, change)
    assert "message" in outcome, outcome
    return {channel for channel, kind in sent if kind == "message"}


def test_a_post_that_waited_for_a_removal_skips_the_removed_member(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    group, owner, writer, leaving = three_in_a_group()

    receivers = receivers_of_a_post_behind_a_lock(
        monkeypatch,
        group,
        writer,
        lambda: Membership.objects.filter(group=group, user=leaving).delete(),
    )

    assert receivers == {user_channel(owner.pk), user_channel(writer.pk)}


def test_a_post_that_waited_for_a_join_reaches_the_new_member(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    group, owner, writer, leaving = three_in_a_group()
    newcomer = User.objects.create_user(username="newcomer", password="x" * 16)

    receivers = receivers_of_a_post_behind_a_lock(
        monkeypatch,
        group,
        writer,
        lambda: Membership.objects.create(group=group, user=newcomer),
    )

    assert receivers == {
        user_channel(user.pk) for user in (owner, writer, leaving, newcomer)
    }


def test_a_post_that_waited_for_a_rotation_is_refused_for_the_old_key() -> None:
    group, _, writer, _ = three_in_a_group()

    outcome = post_behind_a_lock(
        group,
        writer,
        lambda: Group.objects.filter(pk=group.pk).update(epoch=F("epoch") + 1),
    )

    error = outcome.get("error")
    assert isinstance(error, services.OldEpoch), outcome
    assert (error.stated, error.current) == (group.epoch, group.epoch + 1)
    assert not Message.objects.filter(group=group).exists()


def test_a_post_made_while_its_group_is_deleted_does_not_break_the_deletion() -> None:
    # The deletion's cascade reads the group's messages before it deletes
    # anything; a post committed between that read and the group row's
    # deletion left a message the cascade never saw, and the deletion
    # failed on the message's foreign key (500, the whole deletion undone).
    # Here the post is made at that very moment (as the group's pre_delete
    # signal is sent, after the cascade's reads).
    from django.db.models.signals import pre_delete

    from chat.retention import delete_group

    group, _, writer, _ = three_in_a_group()
    outcome: dict[str, Any] = {}
    posted = threading.Event()

    post = post_from_a_thread(group, writer, outcome)

    def post_and_say_so() -> None:
        post()
        posted.set()

    poster = threading.Thread(target=post_and_say_so)

    def post_meanwhile(sender: type, instance: Group, **kwargs: Any) -> None:
        if instance.pk == group.pk and not poster.is_alive():
            poster.start()
            # Stored at once, unless the deletion holds the group's lock.
            posted.wait(timeout=2)

    pre_delete.connect(post_meanwhile, sender=Group)
    try:
        delete_group(group.pk)
    finally:
        pre_delete.disconnect(post_meanwhile, sender=Group)
    poster.join(timeout=30)
    assert not Group.objects.filter(pk=group.pk).exists()
    assert not Message.objects.filter(group_id=group.pk).exists()
    # The post waited for the deletion and found no group.
    assert isinstance(outcome.get("error"), services.NotMember), outcome
