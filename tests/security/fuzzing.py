"""What the API fuzz and the form fuzz share: each request runs in a
transaction that is always rolled back, the same Hypothesis settings, and
one digest query per table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from hypothesis import HealthCheck

# A table's rows, read as text in a fixed order, in one md5 (PostgreSQL).
ROWS_DIGEST = "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"

FUZZ_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
}


class _Rollback(Exception):
    pass


@contextmanager
def rolled_back() -> Iterator[None]:
    """Run the block in a transaction that is rolled back when it ends, so
    one example's writes never reach the next."""
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass
