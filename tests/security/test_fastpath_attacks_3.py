"""A third round of attacks on the fast paths: a post racing membership
changes, and the one-visit ASGI handler at Django's edges.

A post that waits for the group's lock while its own sender is removed (or
deleted) must be refused once it gets the lock, on both ways of storing a
message: the one statement's snapshot and the ORM's locked join both still
saw the removed membership. Posts and membership changes at once must
neither deadlock nor fail with anything but the refusals the API answers.

The handler must answer what Django's own handler answers where a request
never reaches the chain (a query string that is not UTF-8), and a request
whose ``request_started`` receiver fails must not keep its thread busy.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core import signals
from django.core.handlers.asgi import ASGIHandler
from django.db import connection

from accounts.models import User
from chat import services
from chat.models import Message
from chat.realtime.local import user_channel
from groups import services as groups
from groups.models import Membership
from hashwhisper.handler import SyncChainASGIHandler
from tests.chat.test_post_during_removal import post_behind_a_lock, three_in_a_group
from tests.hashwhisper.testing import asgi_get_async, require_postgresql
from tests.integrity.conftest import new_spec

pytestmark = pytest.mark.django_db(transaction=True)


# A post racing its sender's removal --------------------------------------


def through_the_transaction(
    group_id: str,
    sender: User,
    ciphertext: bytes,
    nonce: bytes,
    tag: bytes,
    *,
    epoch: int,
) -> Message:
    """``post_message`` as a post with attachments takes it (the ORM's way
    through a transaction), without needing a stored file."""
    return services._insert_in_transaction(
        group_id, sender, ciphertext, nonce, tag, epoch, ()
    )


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The (channel, kind) of every live event handed to the fan-out."""
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(
        "chat.events.send_event",
        lambda channel, kind, payload: sent.append((channel, kind)),
    )
    return sent


@pytest.mark.parametrize("way", ["one statement", "transaction"])
@pytest.mark.parametrize("how", ["removed by the owner", "leaves", "user deleted"])
def test_a_post_that_waited_for_its_senders_removal_is_refused(
    monkeypatch: pytest.MonkeyPatch,
    events: list[tuple[str, str]],
    way: str,
    how: str,
) -> None:
    require_postgresql("row locks")
    if way == "transaction":
        monkeypatch.setattr(services, "post_message", through_the_transaction)
    group, owner, writer, _ = three_in_a_group()
    changes: dict[str, Callable[[], object]] = {
        "removed by the owner": lambda: groups.remove_member(owner, group, writer.pk),
        "leaves": lambda: groups.leave_group(writer, group),
        "user deleted": lambda: User.objects.filter(pk=writer.pk).delete(),
    }

    # The writer's post started while the writer was a member, but waited
    # for the lock of the change that ended the membership.
    outcome = post_behind_a_lock(group, writer, changes[how])

    assert isinstance(outcome.get("error"), services.NotMember), outcome
    assert not Membership.objects.filter(group=group, user=writer).exists()
    assert not Message.objects.filter(group=group).exists()
    assert [kind for _, kind in events if kind == "message"] == []


@pytest.mark.parametrize("way", ["one statement", "transaction"])
def test_a_post_that_waited_for_anothers_removal_still_goes_to_the_rest(
    monkeypatch: pytest.MonkeyPatch, events: list[tuple[str, str]], way: str
) -> None:
    require_postgresql("row locks")
    if way == "transaction":
        monkeypatch.setattr(services, "post_message", through_the_transaction)
    group, owner, writer, leaving = three_in_a_group()

    outcome = post_behind_a_lock(
        group, writer, lambda: groups.remove_member(owner, group, leaving.pk)
    )

    assert "message" in outcome, outcome
    assert Message.objects.filter(group=group).count() == 1
    assert {channel for channel, kind in events if kind == "message"} == {
        user_channel(owner.pk),
        user_channel(writer.pk),
    }


def test_posts_and_membership_changes_at_once_only_refuse(
    events: list[tuple[str, str]],
) -> None:
    """Two members post without pause while a third leaves and joins again;
    nothing deadlocks and nothing fails but the refusal of a non-member.
    Every message is then from a member at the time it was stored: no
    message event reaches the third member while it is out."""
    require_postgresql("row locks")
    owner, writer, churn = (
        User.objects.create_user(username=name, password="x" * 16)
        for name in ("owner", "writer", "churn")
    )
    spec = new_spec()
    group = groups.create_group(owner, spec)
    for user in (writer, churn):
        assert groups.join_group(user, group, spec.token) is not None
    stop = time.monotonic() + 2.0
    failures: list[BaseException] = []
    refused = 0
    stored = 0

    def poster(user: User) -> None:
        nonlocal refused, stored
        try:
            while time.monotonic() < stop:
                try:
                    services.post_message(
                        group.pk,
                        user,
                        secrets.token_bytes(40),
                        secrets.token_bytes(12),
                        secrets.token_bytes(16),
                        epoch=1,
                    )
                    stored += 1
                except services.NotMember:
                    refused += 1
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()

    def churner() -> None:
        try:
            while time.monotonic() < stop:
                assert groups.leave_group(churn, group)
                assert groups.join_group(churn, group, spec.token) is not None
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=poster, args=(owner,)),
        threading.Thread(target=poster, args=(writer,)),
        threading.Thread(target=poster, args=(churn,)),
        threading.Thread(target=churner),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert stored > 0
    assert Message.objects.filter(group=group).count() == stored


# The handler where a request never reaches the chain -----------------------


@pytest.fixture
def signal_log() -> Iterator[list[str]]:
    sent: list[str] = []

    def started(**kwargs: Any) -> None:
        sent.append("started")

    def finished(**kwargs: Any) -> None:
        sent.append("finished")

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    yield sent
    signals.request_started.disconnect(started)
    signals.request_finished.disconnect(finished)


async def one_get(app: Any, path: str, query: bytes) -> list[dict[str, Any]]:
    return await asgi_get_async(app, path, raw_query=query)


@pytest.mark.parametrize("handler_class", [SyncChainASGIHandler, ASGIHandler])
def test_a_query_string_that_is_not_utf8_is_answered_400_as_django_does(
    signal_log: list[str], handler_class: type[ASGIHandler]
) -> None:
    sent = asyncio.run(one_get(handler_class(), "/accounts/login/", b"next=\xff"))
    assert sent[0]["status"] == 400
    assert signal_log == ["started", "finished"]


def test_a_failing_request_started_receiver_leaves_no_thread_busy() -> None:
    handler = SyncChainASGIHandler()

    def failing(**kwargs: Any) -> None:
        raise RuntimeError("receiver failed")

    signals.request_started.connect(failing)
    try:
        # As with Django's handler, the failure reaches the server (which
        # answers 500); nothing was sent.
        with pytest.raises(RuntimeError, match="receiver failed"):
            asyncio.run(one_get(handler, "/accounts/login/", b""))
    finally:
        signals.request_started.disconnect(failing)
    assert len(handler.executors.idle) == 1
    assert handler.executors.idle[0].idle()
    # The thread serves the next request as usual.
    sent = asyncio.run(one_get(handler, "/accounts/login/", b""))
    assert sent[0]["status"] == 200
    assert handler.executors.started == 1
