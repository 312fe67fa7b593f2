"""A Redis outage costs signed-in people nothing: sessions then come from
the database, and nothing answers 500."""

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import session_store
from tests.conftest import SecureClient, sealed
from tests.security.conftest import Account

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_cache(port: int) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "hashwhisper.cache.SharedRedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def post_message(client: SecureClient, group: dict[str, Any]) -> Any:
    return client.post(
        f"/api/groups/{group['id']}/messages",
        {**sealed(), "epoch": 1},
        content_type="application/json",
    )


def test_signed_in_requests_work_while_redis_is_unreachable(
    settings: Any,
    alice: Account,
    alice_client: SecureClient,
    group_with_alice: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An earlier test may have logged an outage within the throttle's time.
    monkeypatch.setattr(session_store, "_last_logged", float("-inf"))
    # Nothing listens on the port: every cache call is refused.
    settings.CACHES = redis_cache(free_port())
    key = str(alice_client.cookies[settings.SESSION_COOKIE_NAME].value)

    with caplog.at_level("WARNING", logger="hashwhisper.accounts"):
        assert alice_client.get("/api/groups/").status_code == 200
        assert post_message(alice_client, group_with_alice).status_code == 201
        assert alice_client.get("/api/groups/").status_code == 200
        assert alice_client.post("/accounts/logout/").status_code == 302

    assert not Session.objects.filter(session_key=key).exists()
    assert alice_client.get("/api/groups/").status_code == 401
    warnings = [r for r in caplog.records if r.name == "hashwhisper.accounts"]
    assert warnings, "the outage is logged"
    assert all(key not in r.getMessage() for r in warnings)
    assert all(r.exc_info is None for r in warnings)


@pytest.fixture
def redis_server() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield port, server
    server.terminate()
    server.wait(timeout=5)


def test_requests_go_on_when_redis_stops(
    settings: Any,
    redis_server: tuple[int, subprocess.Popen[bytes]],
    alice_client: SecureClient,
    group_with_alice: dict[str, Any],
) -> None:
    port, server = redis_server
    settings.CACHES = redis_cache(port)
    assert alice_client.get("/api/groups/").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert alice_client.get("/api/groups/").status_code == 200
    assert not any("django_session" in q["sql"] for q in queries.captured_queries)

    server.terminate()
    server.wait(timeout=5)

    assert alice_client.get("/api/groups/").status_code == 200
    assert post_message(alice_client, group_with_alice).status_code == 201


def test_a_hanging_redis_makes_one_request_wait_not_each(
    settings: Any,
    redis_server: tuple[int, subprocess.Popen[bytes]],
    alice_client: SecureClient,
    group_with_alice: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, server = redis_server
    settings.CACHES = redis_cache(port)
    monkeypatch.setattr(session_store, "_skip_until", float("-inf"))
    assert alice_client.get("/api/groups/").status_code == 200
    failed: list[str] = []
    record_failure = session_store._cache_failed

    def counted(operation: str, error: Exception) -> None:
        failed.append(operation)
        record_failure(operation, error)

    monkeypatch.setattr(session_store, "_cache_failed", counted)

    # A stopped process keeps its socket open: calls wait for their timeout.
    server.send_signal(signal.SIGSTOP)
    try:
        assert alice_client.get("/api/groups/").status_code == 200
        assert post_message(alice_client, group_with_alice).status_code == 201
        assert alice_client.get("/api/groups/").status_code == 200
    finally:
        server.send_signal(signal.SIGCONT)
    # The first cache call waited and failed; the later ones left the cache be.
    assert failed == ["get"]

    # Once the pause is over, sessions come from the cache again.
    monkeypatch.setattr(session_store, "_skip_until", float("-inf"))
    assert alice_client.get("/api/groups/").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert alice_client.get("/api/groups/").status_code == 200
    assert not any("django_session" in q["sql"] for q in queries.captured_queries)
