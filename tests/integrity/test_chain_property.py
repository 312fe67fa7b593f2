"""Property: any sequence of lifecycle operations leaves a chain that verifies,
in Python and in Chromium, with the same head.

Operations run through the group services on the real database. Those the
rules refuse (a member removing someone, the owner leaving a full group...)
must leave the chain exactly as it was.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from groups import services
from groups.models import Group, Membership
from integrity.services import chain_of, recorded_head, verify_group
from integrity.views import event_json
from tests.conftest import make_user
from tests.integrity.browser import ChainPage
from tests.integrity.conftest import new_spec, rotation_for
from tests.integrity.reference_chain import verified_head

pytestmark = pytest.mark.django_db

PEOPLE = 5
OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["join", "leave", "remove", "owner", "rotate"]),
        st.integers(0, PEOPLE - 1),
        st.integers(0, PEOPLE - 1),
    ),
    max_size=20,
)


@pytest.fixture
def people(db: None) -> list[User]:
    return [make_user(f"person{n}")[0] for n in range(PEOPLE)]


def apply(group: Group, token: bytes, op: str, actor: User, target: User) -> bytes:
    """Run one operation; return the membership token in force afterwards."""
    group.refresh_from_db()
    try:
        if op == "join":
            services.join_group(actor, group, token)
        elif op == "leave":
            services.leave_group(actor, group)
        elif op == "remove":
            services.remove_member(actor, group, target.pk)
        elif op == "owner":
            services.transfer_ownership(actor, group, target.pk)
        else:
            spec = rotation_for(group)
            services.rotate_secret(actor, group, spec)
            return spec.token
    except services.LifecycleRefused:
        pass
    return token


def membership_state(group: Group) -> tuple[int, set[tuple[int, str]]]:
    epoch = Group.objects.values_list("epoch", flat=True).get(pk=group.pk)
    rows = Membership.objects.filter(group=group).values_list("user", "role")
    return epoch, set(rows)


def api_chain(group: Group) -> dict[str, Any]:
    seq, digest = recorded_head(group.pk) or (0, bytes(32))
    return {
        "group": group.pk,
        "events": [event_json(event) for event in chain_of(group.pk)],
        "head": {"seq": seq, "hash": digest.hex()},
        "users": {},
    }


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(operations=OPERATIONS)
def test_every_operation_sequence_verifies_everywhere_with_one_head(
    people: list[User],
    chain_page: ChainPage,
    operations: list[tuple[str, int, int]],
) -> None:
    spec = new_spec(secrets.token_bytes(32))
    group = services.create_group(people[0], spec)
    token = spec.token
    for op, actor, target in operations:
        before = api_chain(group)
        members = membership_state(group)
        sole_member = {user for user, _ in members[1]} == {people[actor].pk}
        token = apply(group, token, op, people[actor], people[target])
        if op == "leave" and sole_member:
            # The last member leaving deletes the group and its chain.
            assert not Group.objects.filter(pk=group.pk).exists()
            assert list(chain_of(group.pk)) == []
            return
        after = api_chain(group)
        # An event is appended exactly when the membership or the key epoch
        # changed, and nothing before it is touched.
        changed = membership_state(group) != members
        assert len(after["events"]) - len(before["events"]) == int(changed)
        assert after["events"][: len(before["events"])] == before["events"]

    chain = api_chain(group)
    assert verify_group(group.pk) == []
    seq, digest = verified_head(chain)
    assert chain_page.verify(chain) == {
        "ok": True,
        "head": {"seq": seq, "hash": digest},
    }
