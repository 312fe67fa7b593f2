"""manage.py verify_chain finds every kind of damage, at the right place."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError

from groups import services
from groups.models import Group
from integrity.models import ChainEvent
from tests.hashwhisper.logs import logged_text, project_logs
from tests.integrity.conftest import GroupMaker, Person, rotation_for

pytestmark = pytest.mark.django_db

LINE = re.compile(r"^group (\S+) seq (\d+): (.+)$", re.MULTILINE)


@pytest.fixture
def five_events(
    alice: Person, bob: Person, carol: Person, make_group: GroupMaker
) -> Group:
    """create, join, join, remove, rotate: seq 1 to 5."""
    (a, _), (b, _), (c, _) = alice, bob, carol
    group, _ = make_group(a, b, c)
    services.remove_member(a, group, c.pk)
    group.refresh_from_db()
    services.rotate_secret(a, group, rotation_for(group))
    return group


def run(*args: str) -> tuple[str, str | None]:
    """The command's output, and its error message if it failed."""
    out = io.StringIO()
    try:
        call_command("verify_chain", *args, stdout=out)
    except CommandError as error:
        return out.getvalue(), str(error)
    return out.getvalue(), None


def broken_seqs(output: str, group: Group) -> list[int]:
    return [int(seq) for gid, seq, _ in LINE.findall(output) if gid == group.pk]


def event(group: Group, seq: int) -> Any:
    return ChainEvent.objects.filter(group=group, seq=seq)


def test_intact_chains_pass(five_events: Group) -> None:
    output, error = run()

    assert error is None
    assert "All chains verify (1 group(s))." in output


TAMPERING = {
    "kind": lambda e: e.update(kind="leave"),
    "actor": lambda e: e.update(actor=e.get().actor + 1),
    "subject": lambda e: e.update(subject=None),
    "epoch": lambda e: e.update(epoch=7),
    "at": lambda e: e.update(at=e.get().at + timedelta(milliseconds=1)),
    "at below a millisecond": lambda e: e.update(
        at=e.get().at + timedelta(microseconds=1)
    ),
    "prev_hash": lambda e: e.update(prev_hash=b"\x01" * 32),
    "hash": lambda e: e.update(hash=b"\x01" * 32),
}


@pytest.mark.parametrize("field", TAMPERING)
def test_a_changed_field_is_reported_at_its_seq(five_events: Group, field: str) -> None:
    TAMPERING[field](event(five_events, 3))

    output, error = run()

    assert error == "1 broken link(s) in 1 group(s)." or (
        field == "hash" and error == "2 broken link(s) in 1 group(s)."
    )
    assert broken_seqs(output, five_events)[0] == 3


def test_a_changed_seq_is_reported(five_events: Group) -> None:
    event(five_events, 3).update(seq=99)

    output, error = run()

    assert error is not None
    assert broken_seqs(output, five_events)[0] == 3


def test_a_deleted_event_is_reported_at_its_seq(five_events: Group) -> None:
    event(five_events, 3).delete()

    output, error = run()

    assert error is not None
    assert broken_seqs(output, five_events)[0] == 3
    assert "expected 3" in output


def test_two_swapped_events_are_reported(five_events: Group) -> None:
    event(five_events, 2).update(seq=1000)
    event(five_events, 4).update(seq=2)
    event(five_events, 1000).update(seq=4)

    output, error = run()

    assert error is not None
    assert broken_seqs(output, five_events)[0] == 2
    assert 4 in broken_seqs(output, five_events)


def test_a_truncated_tail_is_reported_where_it_starts(five_events: Group) -> None:
    ChainEvent.objects.filter(group=five_events, seq__gte=4).delete()

    output, error = run()

    assert error is not None
    assert broken_seqs(output, five_events) == [4]
    assert "recorded head is 5" in output


def test_only_the_named_group_is_checked(
    five_events: Group, alice: Person, make_group: GroupMaker
) -> None:
    other, _ = make_group(alice[0])
    event(five_events, 2).update(kind="leave")

    assert run("--group", other.pk)[1] is None
    output, error = run("--group", five_events.pk)
    assert error is not None
    assert broken_seqs(output, five_events) == [2]


def test_an_unknown_group_is_an_error(five_events: Group) -> None:
    _, error = run("--group", "A" * 22)

    assert error == "No group with id 'AAAAAAAAAAAAAAAAAAAAAA'."


def test_a_broken_chain_exits_with_status_1(five_events: Group) -> None:
    event(five_events, 5).update(epoch=1)
    command = load_command_class(get_commands()["verify_chain"], "verify_chain")
    command.stdout = io.StringIO()  # type: ignore[assignment]
    command.stderr = io.StringIO()  # type: ignore[assignment]

    with pytest.raises(SystemExit) as exit_info:
        command.run_from_argv(["manage.py", "verify_chain"])

    assert exit_info.value.code == 1


def test_a_broken_chain_is_logged_as_a_security_event(
    five_events: Group, caplog: pytest.LogCaptureFixture
) -> None:
    event(five_events, 4).update(subject=None)

    with project_logs(caplog):
        run()

    records = [r for r in caplog.records if r.name == "hashwhisper.security"]
    assert [r.getMessage() for r in records] == [
        f"broken chain group={five_events.pk} seq=4"
    ]
    assert "broken chain" in logged_text(caplog)
