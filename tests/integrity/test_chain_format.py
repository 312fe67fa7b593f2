"""The canonical form and hash of chain events, and what verify() reports."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from integrity.chain import (
    GENESIS_HASH,
    EventFields,
    StoredEvent,
    canonical_json,
    format_time,
    link_hash,
    to_millis,
    verify,
)
from tests.integrity.vectors import EXAMPLE


def example_chain() -> list[StoredEvent]:
    stored, prev = [], GENESIS_HASH
    for fields, _, digest in EXAMPLE:
        stored.append(StoredEvent(fields, prev, bytes.fromhex(digest)))
        prev = bytes.fromhex(digest)
    return stored


def example_head() -> tuple[int, bytes]:
    return 3, bytes.fromhex(EXAMPLE[-1][2])


@pytest.mark.parametrize(("fields", "canonical", "digest"), EXAMPLE)
def test_canonical_json_is_the_documented_text(
    fields: EventFields, canonical: str, digest: str
) -> None:
    assert canonical_json(fields) == canonical.encode("ascii")


def test_hashes_chain_from_32_zero_bytes() -> None:
    prev = bytes(32)
    for fields, _, digest in EXAMPLE:
        prev = link_hash(prev, fields)
        assert prev.hex() == digest


def test_the_example_chain_verifies() -> None:
    assert verify(example_chain(), example_head()) == []


def test_time_is_utc_with_milliseconds_and_z() -> None:
    plus_two = timezone(timedelta(hours=2))
    moment = datetime(2026, 3, 4, 7, 8, 9, 123999, plus_two)

    assert format_time(moment) == "2026-03-04T05:08:09.123Z"


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        to_millis(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"kind": "leave"}, "hash differs"),
        ({"actor": 8}, "hash differs"),
        ({"subject": None}, "hash differs"),
        ({"epoch": 2}, "hash differs"),
        ({"kind": "admin"}, "unknown kind"),
        ({"at": datetime(2026, 1, 2, 3, 5, 0, 1, UTC)}, "whole millisecond"),
    ],
)
def test_a_changed_field_breaks_its_own_link(
    change: dict[str, Any], problem: str
) -> None:
    chain = example_chain()
    second = chain[1]
    chain[1] = dataclasses.replace(
        second, fields=dataclasses.replace(second.fields, **change)
    )

    breaks = verify(chain, example_head())

    assert [b.seq for b in breaks] == [2]
    assert problem in breaks[0].problem


def test_a_changed_hash_breaks_its_link_and_the_next() -> None:
    chain = example_chain()
    chain[0] = dataclasses.replace(chain[0], hash=bytes(32))

    assert [b.seq for b in verify(chain, example_head())] == [1, 2]


def test_a_missing_event_is_reported_at_its_number() -> None:
    chain = example_chain()
    del chain[1]

    breaks = verify(chain, example_head())

    assert breaks[0].seq == 2
    assert "expected 2" in breaks[0].problem


def test_a_missing_tail_is_reported_against_the_head() -> None:
    breaks = verify(example_chain()[:1], example_head())

    assert [b.seq for b in breaks] == [2]
    assert "recorded head is 3" in breaks[0].problem


def test_a_chain_without_a_recorded_head_is_reported() -> None:
    assert [b.seq for b in verify(example_chain(), None)] == [3]


def test_a_head_with_another_hash_is_reported() -> None:
    assert [b.seq for b in verify(example_chain(), (3, bytes(32)))] == [3]
