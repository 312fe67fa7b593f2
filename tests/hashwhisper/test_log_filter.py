"""Refused requests leave one line without traceback or client input."""

import logging
import sys

from hashwhisper.logging import RedactRequestFilter


def record_with_traceback(name: str) -> logging.LogRecord:
    try:
        raise ValueError("Invalid HTTP_HOST header: 'evil.example'")
    except ValueError:
        exc_info = sys.exc_info()
    return logging.LogRecord(
        name,
        logging.ERROR,
        __file__,
        1,
        "Invalid HTTP_HOST header: %r",
        ("evil",),
        exc_info,
    )


def test_a_forged_host_leaves_one_line_without_the_host() -> None:
    record = record_with_traceback("django.security.DisallowedHost")

    RedactRequestFilter().filter(record)
    line = logging.Formatter("%(name)s %(message)s").format(record)

    assert "evil" not in line
    assert "Traceback" not in line
    assert line.count("\n") == 0


def test_other_errors_keep_their_traceback() -> None:
    record = record_with_traceback("hashwhisper.chat")

    RedactRequestFilter().filter(record)
    line = logging.Formatter("%(name)s %(message)s").format(record)

    assert "Traceback" in line
