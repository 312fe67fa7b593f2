"""chain.js in Chromium: the same hashes, every tampering found, heads kept.

The harness page loads static/js/chain.js under the product's CSP; chains
come from the hand-written example of vectors.py or are forged here with
hashlib, the way a hostile server would.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
from typing import Any

import pytest

from tests.integrity.browser import ChainPage
from tests.integrity.reference_chain import canonical, safety_number, verified_head
from tests.integrity.vectors import EXAMPLE, example_api_events
from tests.support import reference

GROUP = "AAAAAAAAAAAAAAAAAAAAAA"


def api_chain(events: list[dict[str, Any]]) -> dict[str, Any]:
    head = {"seq": len(events), "hash": events[-1]["hash"] if events else "0" * 64}
    return {"group": GROUP, "events": events, "head": head, "users": {}}


def rehash(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recompute every link, as a server rewriting history would."""
    prev = bytes(32)
    for event in events:
        event["prev_hash"] = prev.hex()
        prev = hashlib.sha256(prev + canonical(event)).digest()
        event["hash"] = prev.hex()
    return events


def longer_example(extra: int) -> list[dict[str, Any]]:
    events = example_api_events()
    for number in range(extra):
        seq = len(events) + 1
        at = f"2026-01-03T00:00:{number:02d}.000Z"
        events.append(
            {"seq": seq, "kind": "join", "actor": 20 + number, "subject": 20 + number}
            | {"epoch": 2, "at": at}
        )
    return rehash(events)


def test_the_worked_example_verifies_with_the_same_head(
    chain_page: ChainPage,
) -> None:
    chain = api_chain(example_api_events())

    result = chain_page.verify(chain)

    assert result == {"ok": True, "head": {"seq": 3, "hash": EXAMPLE[-1][2]}}
    texts = chain_page.evaluate(
        "(events) => events.map((e) => window.hwChain.canonicalEventJson(e))",
        chain["events"],
    )
    assert texts == [canonical for _, canonical, _ in EXAMPLE]
    assert chain_page.errors == []


TAMPER = {
    "kind": lambda e: e.update(kind="leave" if e["kind"] != "leave" else "join"),
    "actor": lambda e: e.update(actor=(e["actor"] or 0) + 1),
    "subject": lambda e: e.update(subject=None if e["subject"] else 5),
    "epoch": lambda e: e.update(epoch=e["epoch"] + 1),
    "at": lambda e: e.update(at=e["at"].replace(".", ".9", 1)[:-2] + "Z"),
    "seq": lambda e: e.update(seq=e["seq"] + 10),
    "prev_hash": lambda e: e.update(prev_hash="ab" * 32),
    "hash": lambda e: e.update(hash="cd" * 32),
    "unknown kind": lambda e: e.update(kind="admin"),
    "actor as text": lambda e: e.update(actor=str(e["actor"])),
    "time without Z": lambda e: e.update(at=e["at"][:-1]),
}


@pytest.mark.parametrize("field", TAMPER)
@pytest.mark.parametrize("position", [0, 3, 6])
def test_any_tampered_field_is_found_at_its_seq(
    chain_page: ChainPage, field: str, position: int
) -> None:
    events = longer_example(4)
    TAMPER[field](events[position])

    result = chain_page.verify(api_chain(events))

    assert result["ok"] is False
    assert result["seq"] == position + 1


def test_a_deleted_event_is_found(chain_page: ChainPage) -> None:
    events = longer_example(4)
    del events[2]

    assert chain_page.verify(api_chain(events))["seq"] == 3


def test_two_swapped_events_are_found(chain_page: ChainPage) -> None:
    events = longer_example(4)
    events[2], events[4] = events[4], events[2]

    assert chain_page.verify(api_chain(events))["seq"] == 3


def test_a_truncated_tail_under_the_old_head_is_found(chain_page: ChainPage) -> None:
    events = longer_example(4)
    chain = api_chain(events)
    chain["events"] = events[:5]

    assert chain_page.verify(chain)["seq"] == 6


def test_a_remembered_head_exposes_rollback_and_fork(chain_page: ChainPage) -> None:
    chain_page.forget()
    events = longer_example(4)
    first = chain_page.check(GROUP, api_chain(events))
    assert (first["status"], first["head"]["seq"]) == ("ok", 7)

    # A consistent but shorter chain: truncated, with a head to match.
    rollback = chain_page.check(GROUP, api_chain(copy.deepcopy(events[:5])))
    assert (rollback["status"], rollback["seq"]) == ("rollback", 6)

    # A consistent chain that rewrote event 2 and everything after it.
    forked = copy.deepcopy(events)
    forked[1]["subject"] = 99
    fork = chain_page.check(GROUP, api_chain(rehash(forked)))
    assert (fork["status"], fork["seq"]) == ("fork", 7)

    # The honest chain again: it verifies, yet the warning stays, even
    # across a reload, until the user accepts the history.
    chain_page.load()
    again = chain_page.check(GROUP, api_chain(longer_example(5)))
    assert (again["status"], again["grew"]) == ("ok", 1)
    assert again["alarm"]["status"] == "fork"
    chain_page.evaluate(
        "([g, c]) => window.hwChain.acknowledgeAlarm('1', g, c)",
        [GROUP, api_chain(longer_example(5))],
    )
    assert chain_page.check(GROUP, api_chain(longer_example(5)))["alarm"] is None


def test_a_tampered_chain_raises_a_stored_alarm(chain_page: ChainPage) -> None:
    chain_page.forget()
    events = longer_example(1)
    events[1]["actor"] = 1234

    result = chain_page.check(GROUP, api_chain(events))

    assert (result["status"], result["seq"]) == ("tampered", 2)
    assert result["alarm"]["seq"] == 2
    stored = chain_page.evaluate("(g) => window.hwChain.rememberedHead('1', g)", GROUP)
    assert stored is None


def test_python_and_chromium_agree_on_forged_chains(chain_page: ChainPage) -> None:
    for extra in range(0, 12, 3):
        chain = api_chain(longer_example(extra))
        seq, digest = verified_head(chain)
        assert chain_page.verify(chain) == {
            "ok": True,
            "head": {"seq": seq, "hash": digest},
        }


def browser_safety_number(
    page: ChainPage, secret: bytes, salt: bytes, group_id: str, head: bytes
) -> str:
    number: str = page.evaluate(
        """async ([secret, salt, groupId, head]) => {
          const c = window.hwCrypto;
          const key = await c.deriveSafetyKey(
            c.b64decode(secret), c.b64decode(salt), c.MIN_ITERATIONS);
          return c.safetyNumber(key, groupId, c.b64decode(head));
        }""",
        [
            reference.b64encode(secret),
            reference.b64encode(salt),
            group_id,
            reference.b64encode(head),
        ],
    )
    return number


def test_safety_numbers_match_the_python_derivation(chain_page: ChainPage) -> None:
    secret, salt = secrets.token_bytes(32), secrets.token_bytes(16)
    group_id = reference.new_group_id()
    numbers = set()
    for _ in range(3):
        head = secrets.token_bytes(32)
        number = browser_safety_number(chain_page, secret, salt, group_id, head)
        assert number == safety_number(
            secret, salt, reference.MIN_ITERATIONS, group_id, head
        )
        assert len(number) == 14 and number[4] == number[9] == " "
        numbers.add(number)
    # Another head, another number; another secret, another number.
    assert len(numbers) == 3
    head = secrets.token_bytes(32)
    other = browser_safety_number(
        chain_page, secrets.token_bytes(32), salt, group_id, head
    )
    assert other != browser_safety_number(chain_page, secret, salt, group_id, head)


def test_the_safety_key_cannot_be_exported(chain_page: ChainPage) -> None:
    outcome = chain_page.evaluate(
        """async () => {
          const c = window.hwCrypto;
          const key = await c.deriveSafetyKey(
            c.randomBytes(32), c.randomBytes(16), c.MIN_ITERATIONS);
          try {
            await crypto.subtle.exportKey('raw', key);
            return 'exported';
          } catch (error) {
            return `${key.extractable}:${error.name}`;
          }
        }"""
    )
    assert outcome == "false:InvalidAccessError"
