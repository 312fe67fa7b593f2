"""Fixtures of the realtime suite: a private Redis, and running deployments.

``pair`` is the product on two processes sharing PostgreSQL and Redis (from
the environment, as CI sets them), with a database pool of only four
connections and a two-second presence time-to-live. ``unwrapped_pair`` is
the same with django-eventstream as it ships (``tests.realtime.unwrapped``).
Both start once per test run; tests take fresh people from them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realtime.support import (
    Deployment,
    OwnRedis,
    postgres_missing_reason,
    redis_missing_reason,
    redis_server_missing_reason,
    start_cluster,
)

PRESENCE_TTL = 2
POOL_SIZE = 4


def skip_with(reason: str | None) -> None:
    if reason:
        print(f"skipped: {reason}")
        pytest.skip(reason)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A redis-server of this test alone, which the test may stop and start."""
    skip_with(redis_server_missing_reason())
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def deployment(
    factory: pytest.TempPathFactory, name: str, settings: str = ""
) -> Iterator[Deployment]:
    skip_with(postgres_missing_reason() or redis_missing_reason())
    env = {
        "HASHWHISPER_DB_POOL_SIZE": str(POOL_SIZE),
        "HASHWHISPER_PRESENCE_TTL": str(PRESENCE_TTL),
    }
    if settings:
        env["DJANGO_SETTINGS_MODULE"] = settings
    cluster = start_cluster(
        factory.mktemp(name),
        2,
        redis_url=os.environ["HASHWHISPER_REDIS_URL"],
        extra_env=env,
    )
    try:
        yield Deployment(cluster)
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from deployment(tmp_path_factory, "pair")


@pytest.fixture(scope="session")
def unwrapped_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from deployment(
        tmp_path_factory, "unwrapped", "tests.realtime.unwrapped.settings"
    )
