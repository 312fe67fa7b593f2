"""Redis goes away in the middle of a conversation, then comes back.

The Redis is the test's own, on a spare loopback port, stopped and started
by its process id. Posting must keep working (201, quickly, nothing lost),
open streams must say that live delivery is down so browsers poll, and when
Redis returns the same server process delivers again, including what was
posted meanwhile. The log says once that the fan-out is down and once that
it recovered.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.realtime.support import Api, OwnRedis, SseStream, start_cluster, streams


def test_posting_survives_a_redis_outage_and_delivery_resumes(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    running = start_cluster(tmp_path, 1, redis_url=own_redis.url)
    try:
        seeded = running.seed(
            {"users": ["alice", "bob"], "groups": {"g": ["alice", "bob"]}}
        )
        server = running.servers[0]
        alice = Api(server.base_url, seeded["users"]["alice"]["sessions"][0])
        group = seeded["groups"]["g"]
        with streams(
            SseStream(server.base_url, seeded["users"]["bob"]["sessions"][0])
        ) as (bob,):
            bob.wait_open()
            before = alice.post_message(group)
            assert bob.next({"message"}, timeout=5) is not None

            own_redis.stop()
            status = bob.next({"realtime"}, timeout=20)
            assert status is not None and status.json() == {"live": False}
            during = []
            for _ in range(5):
                started = time.monotonic()
                during.append(alice.post_message(group))
                # Publishing gives up at once; the request does not wait.
                assert time.monotonic() - started < 2
            status_code, page = alice.call(
                "GET", f"/api/groups/{group}/messages?after={before}"
            )
            assert status_code == 200
            assert [m["id"] for m in page["messages"]] == during
            # Nothing arrives live while Redis is away.
            assert bob.collect({"message"}, quiet=0.5) == []

            own_redis.start()
            status = bob.next({"realtime"}, timeout=20)
            assert status is not None and status.json() == {"live": True}
            caught_up = bob.expect({"message"}, len(during), quiet=1.0)
            assert sorted({e.json()["id"] for e in caught_up}) == during
            after = alice.post_message(group)
            live = bob.next({"message"}, timeout=5)
            assert live is not None and live.json()["id"] == after

        log = server.log_text()
        assert log.count("live fan-out down") == 1, log
        assert log.count("live fan-out recovered") == 1, log
        assert "Traceback" not in log
        assert " 500" not in log
    finally:
        running.stop()
