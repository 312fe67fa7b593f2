"""Sign-in events are logged with ids only, and what a visitor types cannot
forge a log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from hashwhisper.logging import RedactRequestFilter
from tests.conftest import PASSWORD, SecureClient
from tests.security.conftest import Account, code_step, password_step, totp

pytestmark = pytest.mark.django_db


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the configured console handlers write, formatted and filtered."""
    buffer = io.StringIO()
    handlers = {
        handler
        for name in ("django", "hashwhisper", "")
        for handler in logging.getLogger(name).handlers
        if isinstance(handler, logging.StreamHandler)
        and any(isinstance(f, RedactRequestFilter) for f in handler.filters)
    }
    assert handlers
    previous = {handler: handler.setStream(buffer) for handler in handlers}
    try:
        yield buffer
    finally:
        for handler, stream in previous.items():
            handler.setStream(stream)


def test_a_login_is_logged_with_the_user_id_only(
    alice: Account, console: io.StringIO
) -> None:
    client = SecureClient()
    password_step(client, "alice", "a wrong password 12")
    password_step(client)
    code = totp(alice[1]).now()
    code_step(client, code)

    text = console.getvalue()
    assert "password refused" in text
    assert f"login completed user_id={alice[0].pk}" in text
    for secret in ("alice", PASSWORD, "a wrong password 12", code):
        assert secret not in text


def test_a_lock_is_logged_without_the_username(
    alice: Account, console: io.StringIO
) -> None:
    for _ in range(5):
        password_step(SecureClient(), "alice", "a wrong password 12")

    text = console.getvalue()
    assert "account locked key=" in text
    assert "alice" not in text


def test_line_breaks_in_what_is_typed_forge_no_log_line(
    alice: Account, console: io.StringIO
) -> None:
    forged = (
        "mallory\r\n2026-01-01 00:00:00,000 INFO hashwhisper.accounts login completed"
    )
    password_step(SecureClient(), forged, "x\nINFO fake")
    password_step(SecureClient(), "alice", PASSWORD + "\r\nINFO fake")

    lines = console.getvalue().splitlines()
    assert lines
    assert not any("login completed" in line for line in lines)
    assert not any("fake" in line or "mallory" in line for line in lines)
