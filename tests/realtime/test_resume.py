"""A dropped stream resumes with Last-Event-ID and misses nothing, also
when the stream was cut by a restart of its server process."""

from __future__ import annotations

from tests.realtime.support import Deployment, SseEvent, message_ids, streams


def cursor(event_id: str | None) -> int:
    assert event_id is not None
    return int(event_id.split(":")[1])


def check_resumed(
    received: list[SseEvent], cursor_before: int, missed: list[int]
) -> None:
    """Every missed message arrives once, in order, after any resend.

    A resumed stream first sends again what was stored in the last few
    seconds at or below its cursor (a late commit may hide there); browsers
    drop those repeats by id.
    """
    ids = message_ids(received)
    assert [i for i in ids if i > cursor_before] == missed
    assert all(i <= cursor_before for i in ids[: len(ids) - len(missed)])


def test_a_dropped_stream_resumes_with_last_event_id(pair: Deployment) -> None:
    alice, bob = pair.person(), pair.person()
    group = pair.group(alice, bob)
    writer = pair.api(alice, server=1)

    with streams(pair.stream(bob)) as (first,):
        first.wait_open()
        seen = [writer.post_message(group) for _ in range(3)]
        assert message_ids(first.expect({"message"}, len(seen))) == seen
        last = first.last_id
    assert cursor(last) == seen[-1]

    missed = [writer.post_message(group) for _ in range(4)]
    with streams(pair.stream(bob, last_event_id=last)) as (again,):
        received = again.expect({"message"}, len(missed))
    check_resumed(received, seen[-1], missed)

    # The position can also come as a parameter: a browser that opens a new
    # EventSource cannot set the header.
    more = [writer.post_message(group) for _ in range(2)]
    query = f"?lastEventId=user-{bob.id}:{missed[-1]}"
    with streams(pair.stream(bob, query=query)) as (third,):
        received = third.expect({"message"}, len(more))
    check_resumed(received, missed[-1], more)


def test_a_stream_cut_by_a_server_restart_resumes_without_loss(
    pair: Deployment,
) -> None:
    alice, bob = pair.person(), pair.person()
    group = pair.group(alice, bob)
    writer = pair.api(alice, server=0)
    server = pair.cluster.servers[1]

    stream = pair.stream(bob, server=1)
    with streams(stream):
        stream.wait_open()
        seen = [writer.post_message(group) for _ in range(2)]
        assert message_ids(stream.expect({"message"}, len(seen))) == seen
        pair.cluster.stop_server(server)
        assert stream.ended.wait(10), "the stream outlived its server"
        last = stream.last_id
        # Posted while the reader's server is down.
        missed = [writer.post_message(group) for _ in range(3)]

    pair.cluster.start_server(server)
    # Another stream opens first on the new process, so its fan-out is up
    # (and its start-up read-back done) before Bob's: what Bob missed must
    # come from his Last-Event-ID alone.
    with streams(pair.stream(alice, server=1)) as (first,):
        first.wait_open()
        first.collect({"message"}, quiet=0.3)
        missed += [writer.post_message(group) for _ in range(2)]
        with streams(pair.stream(bob, server=1, last_event_id=last)) as (again,):
            received = again.expect({"message"}, len(missed))
    check_resumed(received, cursor(last), missed)


def test_a_fresh_stream_starts_at_the_newest_message(pair: Deployment) -> None:
    alice, bob = pair.person(), pair.person()
    group = pair.group(alice, bob)
    newest = pair.api(alice).post_message(group)
    with streams(pair.stream(bob)) as (stream,):
        stream.wait_open()
        # The opening already carries the position, so even a stream that
        # hears nothing else can resume from it.
        assert cursor(stream.last_id) == newest
        assert stream.collect({"message"}, quiet=0.3) == []
