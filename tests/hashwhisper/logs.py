"""Capture the project's own log records in tests.

The ``hashwhisper`` and ``django`` loggers do not propagate to the root
logger (see ``LOGGING`` in the settings), so pytest's ``caplog`` handler,
which sits on the root logger, never sees their records. This helper hangs
the ``caplog`` handler on those loggers for the duration of a block.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PROJECT_LOGGERS = ("hashwhisper", "django")


@contextmanager
def project_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Send every record of the project's loggers to ``caplog``."""
    loggers = [logging.getLogger(name) for name in PROJECT_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(caplog.handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(caplog.handler)
            logger.setLevel(level)


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record, message and raw arguments, as one string."""
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(repr(getattr(record, "request", None)))
    return "\n".join(parts)
