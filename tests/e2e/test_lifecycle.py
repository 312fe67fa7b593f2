"""The membership lifecycle in Chromium, against the real server.

Three people share a group; the owner removes one, replaces the group key
and hands out the new invitation; members move to it and still read what
was written before. Along the way: safety numbers agree and change with the
chain, a removed member's stream stops carrying the group, an old-epoch
message is refused, and a browser notices a chain that was altered, cut
short or forked.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.a11y.test_axe import serious
from tests.e2e import flows
from tests.e2e import lifecycle_flows as life
from tests.e2e.server import ServerProcess
from tests.integrity.reference_chain import canonical, verified_head
from tests.support import reference

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Error, Page

pytestmark = pytest.mark.e2e

BEFORE = "Before the new key: Grüße 🔑"
AFTER = "After the new key: ça marche ✅"
OTHER = "In the other group, still live"
GONE = "Carol must never see this one"


@dataclass
class Person:
    name: str
    context: BrowserContext
    page: Page
    errors: list[str]


def errors_into(sink: list[str]) -> Callable[[Error], None]:
    return lambda error: sink.append(str(error))


@pytest.fixture(scope="module")
def people(server: ServerProcess, browser: Browser) -> Iterator[dict[str, Person]]:
    """Alice, Bob and Carol, registered, each in a browser context."""
    crowd: dict[str, Person] = {}
    try:
        for name in ("alice", "bob", "carol"):
            context = browser.new_context()
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", errors_into(errors))
            password = f"{name}-{secrets.token_urlsafe(12)}"
            flows.register(page, server.base_url, name, password)
            crowd[name] = Person(name, context, page, errors)
        yield crowd
    finally:
        for person in crowd.values():
            person.context.close()


def chain_of(page: Page, group_id: str) -> dict[str, Any]:
    status, chain = life.api_get(page, f"/api/groups/{group_id}/chain")
    assert status == 200
    return chain


def test_three_people_join_remove_rotate_and_rejoin(
    people: dict[str, Person], server: ServerProcess
) -> None:
    alice, bob, carol = (people[n].page for n in ("alice", "bob", "carol"))
    first_link = flows.create_group(alice, "Lifecycle ✨")
    group_id = life.group_id_of(alice)
    life.open_invitation(bob, first_link)

    # Two members, one chain (create, join): the same safety number.
    life.open_members(alice)
    life.open_members(bob)
    two = life.safety_number(alice, 2)
    assert life.safety_number(bob, 2) == two

    # Carol joins: both numbers change, agree again, and the page says so.
    life.open_invitation(carol, first_link)
    three = life.safety_number(alice, 3)
    assert three != two
    assert life.safety_number(bob, 3) == three
    assert alice.locator("[data-testid=safety-changed]").is_visible()
    life.open_members(carol)
    assert life.safety_number(carol, 3) == three
    for page in (alice, bob, carol):
        life.close_members(page)

    flows.send(alice, BEFORE)
    life.wait_for_text(bob, BEFORE)
    life.wait_for_text(carol, BEFORE)

    # The owner removes Carol: her page closes the group, the API says 404.
    life.open_members(alice)
    life.member_action(alice, "carol", "remove")
    carol.locator("[data-testid=removed-notice]").wait_for(timeout=life.TIMEOUT_MS)
    assert life.api_get(carol, f"/api/groups/{group_id}/messages")[0] == 404

    # The owner replaces the key and gets a new invitation.
    second_link = life.rotate(alice)
    assert second_link != first_link
    assert reference.parse_invitation(second_link)[0] == group_id

    # Bob still holds only the old key: the page says so, and a message
    # sealed for the old epoch is refused.
    bob.locator("[data-testid=epoch-notice]").wait_for(timeout=life.TIMEOUT_MS)
    refused = life.post_from_page(
        bob,
        f"/api/groups/{group_id}/messages",
        {**reference.seal(bytes(32), b"x", b"aad"), "epoch": 1},
    )
    assert refused["status"] == 409
    assert refused["body"]["error"].startswith("Old epoch")

    # Bob opens the new invitation: he writes under the new key and still
    # reads the old message.
    life.open_invitation(bob, second_link)
    life.wait_for_text(bob, BEFORE)
    assert bob.locator("[data-testid=epoch-notice]").is_hidden()
    flows.send(bob, AFTER)
    life.wait_for_text(alice, AFTER)

    # Carol rejoins with the new invitation and reads both epochs.
    life.open_invitation(carol, second_link)
    life.wait_for_text(carol, BEFORE)
    life.wait_for_text(carol, AFTER)
    for page in (alice, bob, carol):
        assert page.locator("[data-failed]").count() == 0

    # Everyone sees the whole story, verified, with one head.
    chain = chain_of(alice, group_id)
    kinds = [event["kind"] for event in chain["events"]]
    assert kinds == ["create", "join", "join", "remove", "rotate", "join"]
    seq, _ = verified_head(chain)
    numbers = set()
    for page in (alice, bob, carol):
        if not page.locator("[data-testid=members-dialog]").is_visible():
            life.open_members(page)
        numbers.add(life.safety_number(page, seq))
        assert page.locator("[data-testid=chain-alert]").is_hidden()
        life.close_members(page)
    assert len(numbers) == 1
    assert [e for p in people.values() for e in p.errors] == []


def test_a_removed_member_stream_stops_carrying_the_group(
    people: dict[str, Person],
) -> None:
    alice, bob, carol = (people[n].page for n in ("alice", "bob", "carol"))
    main_link = flows.create_group(alice, "Stream test")
    main_id = life.group_id_of(alice)
    other_link = flows.create_group(bob, "Other group")
    other_id = life.group_id_of(bob)
    life.open_invitation(bob, main_link)
    life.open_invitation(carol, other_link)
    life.open_invitation(carol, main_link)
    life.collect_events(carol)

    flows.send(alice, BEFORE)
    life.wait_for_text(carol, BEFORE)
    carol.wait_for_function(
        "(g) => window.__collected.some((e) => e.kind === 'message' && e.group === g)",
        arg=main_id,
    )

    life.open_members(alice)
    life.member_action(alice, "carol", "remove")
    carol.locator("[data-testid=removed-notice]").wait_for(timeout=life.TIMEOUT_MS)
    seen = len(life.collected(carol))

    # Bob receives Alice's next message live; then Bob writes in the other
    # group. Carol's stream delivers the later event and not the earlier one.
    life.close_members(alice)
    flows.send(alice, GONE)
    life.wait_for_text(bob, GONE)
    bob.goto(f"{bob.url.split('/chat/')[0]}/chat/{other_id}/")
    flows.wait_ready(bob)
    flows.send(bob, OTHER)
    carol.wait_for_function(
        "(g) => window.__collected.some((e) => e.kind === 'message' && e.group === g)",
        arg=other_id,
    )
    later = life.collected(carol)[seen:]
    assert [e["group"] for e in later if e["kind"] == "message"] == [other_id]
    assert carol.evaluate("() => window.__collector.readyState") == 1
    assert life.api_get(carol, f"/api/groups/{main_id}/chain")[0] == 404


def rehash(events: list[dict[str, Any]]) -> None:
    """Recompute every link after a change, as a careful forger would."""
    prev = bytes(32)
    for event in events:
        event["prev_hash"] = prev.hex()
        prev = hashlib.sha256(prev + canonical(event)).digest()
        event["hash"] = prev.hex()


def shorten(chain: dict[str, Any]) -> None:
    chain["events"] = chain["events"][:-1]
    last = chain["events"][-1]
    chain["head"] = {"seq": last["seq"], "hash": last["hash"]}


def fork(chain: dict[str, Any]) -> None:
    chain["events"][1]["subject"] = 999_999
    rehash(chain["events"])
    last = chain["events"][-1]
    chain["head"] = {"seq": last["seq"], "hash": last["hash"]}


def reload_group(page: Page) -> None:
    page.reload()
    flows.wait_ready(page)


def alarm_shown(page: Page) -> bool:
    page.locator("[data-testid=chain-alert]").wait_for(timeout=life.TIMEOUT_MS)
    return page.locator("[data-testid=chain-mark]").is_visible()


def test_the_browser_warns_about_tampering_rollback_and_fork(
    people: dict[str, Person], server: ServerProcess
) -> None:
    alice, bob, carol = (people[n].page for n in ("alice", "bob", "carol"))
    link = flows.create_group(alice, "Watched history")
    group_id = life.group_id_of(alice)
    life.open_invitation(bob, link)
    life.open_invitation(carol, link)
    numbers = []
    for page in (alice, bob, carol):
        life.open_members(page)
        numbers.append(life.safety_number(page, 3))
        if page is alice:
            # The owner's panel, with every control, in both themes.
            assert [serious(page, theme) for theme in ("light", "dark")] == [[], []]
        life.close_members(page)
    assert len(set(numbers)) == 1

    # A browser that never saw this group's chain, served a forged one that
    # verifies in itself, shows another safety number than the others.
    carol.evaluate("() => localStorage.clear()")
    life.serve_chain_as(carol, fork)
    reload_group(carol)
    life.open_members(carol)
    assert life.safety_number(carol, 3) != numbers[0]
    assert carol.locator("[data-testid=chain-alert]").is_hidden()
    life.close_members(carol)
    carol.unroute_all(behavior="wait")

    # Bob saw head 3. A server that later serves a chain stopping short of
    # it, or one rewritten before it, is caught although each verifies.
    for change, status in ((shorten, "rollback"), (fork, "fork")):
        life.serve_chain_as(bob, change)
        reload_group(bob)
        assert alarm_shown(bob)
        life.open_members(bob)
        shown = bob.locator("[data-testid=chain-status]").get_attribute("data-status")
        assert shown == status
        life.close_members(bob)
        bob.unroute_all(behavior="wait")

    # A stored event is changed in the database: the chain no longer verifies.
    changed = life.execute_sql(
        server,
        "UPDATE integrity_chainevent SET actor = actor + 1000 "
        "WHERE group_id = %s AND seq = %s",
        (group_id, 2),
    )
    assert changed == 1
    reload_group(alice)
    assert alarm_shown(alice)
    life.open_members(alice)
    alert = alice.locator("[data-testid=members-chain-alert]")
    assert alert.is_visible()
    assert "#2" in (alert.text_content() or "")
    verdict = alice.locator("[data-testid=chain-status]").get_attribute("data-status")
    assert verdict == "tampered"
    # The panel with its warning is usable with assistive technology too.
    assert [serious(alice, theme) for theme in ("light", "dark")] == [[], []]
    assert (
        alice.locator("[data-testid=safety-number]").get_attribute("data-value") == ""
    )
    life.close_members(alice)
