"""Fifty people join one group at the same moment, on PostgreSQL.

Each join runs in a thread with its own database connection, all released
together by a barrier. The row lock on the group must queue them: fifty
consecutive sequence numbers after the creation, one chain that verifies.
SQLite lets one writer in at a time anyway, so only PostgreSQL can show
this property.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from accounts.models import User
from groups import services
from groups.models import Group, Membership
from integrity.models import ChainEvent
from integrity.services import verify_group
from tests.hashwhisper.testing import require_postgresql
from tests.integrity.conftest import new_spec

JOINERS = 50

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def needs_postgresql() -> None:
    require_postgresql("concurrent joins")


def test_fifty_concurrent_joins_make_fifty_consecutive_links() -> None:
    owner = User.objects.create_user(username="owner", password="x" * 16)
    joiners = [
        User.objects.create_user(username=f"joiner{n}", password="x" * 16)
        for n in range(JOINERS)
    ]
    spec = new_spec()
    group = services.create_group(owner, spec)
    start = threading.Barrier(JOINERS)

    def join(user: User) -> bool:
        try:
            start.wait(timeout=30)
            same_group = Group.objects.get(pk=group.pk)
            return services.join_group(user, same_group, spec.token) is not None
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=JOINERS) as pool:
        results = list(pool.map(join, joiners))

    assert results == [True] * JOINERS
    seqs = list(
        ChainEvent.objects.filter(group=group)
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    assert seqs == list(range(1, JOINERS + 2))
    subjects = set(
        ChainEvent.objects.filter(group=group, kind="join").values_list(
            "subject", flat=True
        )
    )
    assert subjects == {user.pk for user in joiners}
    assert Membership.objects.filter(group=group).count() == JOINERS + 1
    assert verify_group(group.pk) == []
