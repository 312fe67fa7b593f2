"""Two server processes on one PostgreSQL and one Redis.

Streams open on the first process; everything else happens through the
second, so each event must cross Redis to arrive.
"""

from __future__ import annotations

import time

from tests.realtime.support import Deployment, message_ids, new_group_body, streams


def test_posts_through_one_process_reach_the_other_in_order_exactly_once(
    pair: Deployment,
) -> None:
    alice, bob = pair.person(), pair.person()
    group = pair.group(alice, bob)
    with streams(pair.stream(bob, server=0)) as (stream,):
        stream.wait_open()
        writer = pair.api(alice, server=1)
        posted = [writer.post_message(group) for _ in range(30)]
        received = stream.expect({"message"}, len(posted), quiet=1.0)

    assert message_ids(received) == posted
    # Each event names the stream's position, which only moves forward.
    positions = [int(e.id.split(":")[1]) for e in received if e.id]
    assert positions == posted
    assert all(e.json()["group"] == group for e in received)


def test_a_non_member_cannot_listen_to_a_group(pair: Deployment) -> None:
    alice, bob, dave = pair.person(), pair.person(), pair.person()
    group = pair.group(alice, bob)
    # Dave names the group and Bob's channel; the server ignores both and
    # gives him his own channel only.
    sneaky = f"?channel=group-{group}&channel=user-{bob.id}"
    with streams(
        pair.stream(dave, server=0, query=sneaky), pair.stream(bob, server=0)
    ) as (spy, member):
        spy.wait_open()
        member.wait_open()
        posted = pair.api(alice, server=1).post_message(group)
        assert message_ids(member.expect({"message"}, 1)) == [posted]
        assert spy.collect({"message", "typing", "members"}, quiet=0.3) == []
    assert spy.last_id is not None and spy.last_id.startswith(f"user-{dave.id}:")
    # Nor can he read the group or announce himself in it.
    status, _ = pair.api(dave, server=1).call("GET", f"/api/groups/{group}/messages")
    assert status == 404


def test_a_removed_member_stops_receiving_on_the_other_process(
    pair: Deployment,
) -> None:
    alice, bob, carol = pair.person(), pair.person(), pair.person()
    main = pair.group(alice, bob, carol)
    other = pair.group(alice, carol)
    owner = pair.api(alice, server=1)
    with streams(pair.stream(carol, server=0)) as (stream,):
        stream.wait_open()
        before = owner.post_message(main)
        assert message_ids(stream.expect({"message"}, 1)) == [before]

        status, body = owner.call(
            "POST", f"/api/groups/{main}/remove", {"user": carol.id}
        )
        assert status == 200, body
        removed = stream.next({"removed"}, timeout=5)
        assert removed is not None and removed.json() == {"group": main}

        after = [owner.post_message(main) for _ in range(3)]
        still = owner.post_message(other)
        received = stream.expect({"message"}, 1, quiet=1.0)

    # Nothing of the group after the removal; other groups carry on.
    assert message_ids(received) == [still]
    assert not set(after) & set(message_ids(received))


def test_leaving_a_group_ends_its_events_for_every_tab(pair: Deployment) -> None:
    alice, erin = pair.person(), pair.person()
    group = pair.group(alice, erin)
    with streams(
        pair.stream(erin, server=0, session=0), pair.stream(erin, server=1, session=1)
    ) as tabs:
        for tab in tabs:
            tab.wait_open()
        status, body = pair.api(erin, server=1, session=1).call(
            "POST", f"/api/groups/{group}/leave", {}
        )
        assert status == 200, body
        for tab in tabs:
            removed = tab.next({"removed"}, timeout=5)
            assert removed is not None and removed.json() == {"group": group}
        pair.api(alice, server=1).post_message(group)
        assert [tab.collect({"message"}, quiet=0.5) for tab in tabs] == [[], []]


def test_logging_out_through_one_process_ends_the_stream_on_the_other(
    pair: Deployment,
) -> None:
    frank = pair.person()
    with streams(
        pair.stream(frank, server=0, session=0), pair.stream(frank, server=0, session=1)
    ) as (ending, other):
        ending.wait_open()
        other.wait_open()
        status, _ = pair.api(frank, server=1, session=0).call(
            "POST", "/accounts/logout/", {}
        )
        assert status in (200, 302)
        refusal = ending.next({"stream-error"}, timeout=5)
        assert refusal is not None
        assert refusal.json()["condition"] == "forbidden"
        assert ending.ended.wait(5)
        # The user's other session keeps its stream.
        assert other.next({"stream-error"}, timeout=0.5) is None
        assert not other.ended.is_set()
    # And the ended session cannot open a new one.
    retry = pair.stream(frank, server=0, session=0)
    with streams(retry):
        assert retry.ended.wait(5)
        time.sleep(0.1)
        assert retry.status == 401


def test_ending_a_session_from_the_data_page_ends_its_stream(
    pair: Deployment,
) -> None:
    """A session deleted without a logout (here: "end this session" on the
    my-data page) must not keep its live stream (found in review)."""
    grace, owner = pair.person(), pair.person()
    group = pair.group(owner, grace)
    doomed = pair.api(grace, server=0, session=0)
    assert doomed.call("GET", "/api/groups/")[0] == 200
    with streams(pair.stream(grace, server=0, session=0)) as (ending,):
        ending.wait_open()
        manager = pair.api(grace, server=1, session=1)
        status, report = manager.call("GET", "/accounts/my-data/download.json")
        assert status == 200, report
        # Newest first: the managing session was seen last, the doomed one
        # before it.
        rows = [row["id"] for row in report["sessions"]]
        assert len(rows) == 2
        status, _ = manager.call(
            "POST", f"/accounts/my-data/sessions/{rows[1]}/end", {}
        )
        assert status == 200
        refusal = ending.next({"stream-error"}, timeout=5)
        assert refusal is not None
        assert ending.ended.wait(5)
        pair.api(owner, server=1).post_message(group)
        assert ending.collect({"message"}, quiet=0.3) == []
    assert doomed.call("GET", "/api/groups/")[0] == 401
    assert manager.call("GET", "/api/groups/")[0] == 200


def test_a_group_joined_with_a_stream_open_delivers_on_the_other_process(
    pair: Deployment,
) -> None:
    # Group events travel on the group's Redis channel; the process holding
    # Carol's stream learns of her new group from the join and listens to
    # it from then on. The first post follows the join at once, before that
    # process may have subscribed: it arrives all the same (read back).
    alice, carol = pair.person(), pair.person()
    body, token = new_group_body()
    owner = pair.api(alice, server=1)
    status, answer = owner.call("POST", "/api/groups/", body)
    assert status == 201, answer
    group = str(body["id"])
    with streams(pair.stream(carol, server=0)) as (stream,):
        stream.wait_open()
        status, answer = pair.api(carol, server=1).call(
            "POST", f"/api/groups/{group}/join", {"token": token}
        )
        assert status == 200, answer
        posted = [owner.post_message(group)]
        time.sleep(0.3)
        posted += [owner.post_message(group) for _ in range(3)]
        received = stream.expect({"message"}, len(posted), quiet=1.0)

    assert message_ids(received) == posted
