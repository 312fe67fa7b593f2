"""One TOTP code sent by several requests at the same moment passes once.

Each attempt runs in a thread with its own database connection, released
together by a barrier; django-otp's ``verify_token`` locks the device row,
so the others see the step as used. Without that lock, sixteen racers let
several through in most rounds here, so a few rounds make the test reliable.
SQLite admits one writer at a time anyway, so only PostgreSQL can show the
lock at work.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.models import User
from tests.hashwhisper.testing import require_postgresql
from tests.security.conftest import totp

pytestmark = pytest.mark.django_db(transaction=True)
RACERS = 16
ROUNDS = 5


@pytest.fixture(autouse=True)
def needs_postgresql() -> None:
    require_postgresql("code races")


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_code_sent_twice_at_once_passes_once(round_: int) -> None:
    user = User.objects.create(username=f"racer-{round_}")
    device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    code = totp(device).now()
    start = threading.Barrier(RACERS)

    def attempt(_: int) -> bool:
        try:
            start.wait(timeout=30)
            return services.verify_second_factor(user, code) is not None
        except services.CodeThrottled:
            # A racer that comes after another's failure is told to wait.
            return False
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        results = list(pool.map(attempt, range(RACERS)))

    assert results.count(True) == 1
