"""Sessions: a new key at each login step, idle and absolute lifetimes,
cookie flags, and logout that ends the session on the server."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session

from tests.conftest import SecureClient
from tests.security.conftest import (
    Account,
    clock,
    code_at_step,
    code_step,
    full_login,
    is_signed_in,
    later,
    password_step,
    session_key,
    totp,
)

pytestmark = pytest.mark.django_db

HOUR = 3600


def signed_in(alice: Account) -> SecureClient:
    client = SecureClient()
    full_login(client, alice[1])
    return client


def test_the_session_key_changes_at_each_login_step(alice: Account) -> None:
    client = SecureClient()
    client.get("/accounts/login/")
    session = client.session
    session["visited"] = True
    session.save()
    before = str(session.session_key)

    assert password_step(client).status_code == 302
    after_password = session_key(client)
    assert code_step(client, totp(alice[1]).now()).status_code == 302
    after_code = session_key(client)

    assert len({before, after_password, after_code}) == 3
    for old in (before, after_password):
        assert not Session.objects.filter(session_key=old).exists()
        replay = SecureClient()
        replay.cookies[settings.SESSION_COOKIE_NAME] = old
        assert not is_signed_in(replay)


def test_session_keys_are_long_and_random(alice: Account) -> None:
    keys = set()
    for step in (-1, 0):
        client = SecureClient()
        assert password_step(client).status_code == 302
        assert code_step(client, code_at_step(alice[1], step)).status_code == 302
        keys.add(session_key(client))

    assert len(keys) == 2
    for key in keys:
        # 32 characters of [a-z0-9] carry about 165 bits.
        assert re.fullmatch(r"[a-z0-9]{32}", key)


def test_an_idle_session_ends(alice: Account) -> None:
    client = signed_in(alice)
    key = session_key(client)

    with clock(later(12 * HOUR + 60)):
        assert not is_signed_in(client)
    assert not Session.objects.filter(session_key=key).exists()


def test_activity_keeps_a_session_alive(alice: Account) -> None:
    client = signed_in(alice)

    for hours in (11, 22, 33):
        with clock(later(hours * HOUR)):
            assert is_signed_in(client), hours


def test_a_session_ends_at_its_absolute_lifetime(alice: Account) -> None:
    client = signed_in(alice)
    week = settings.HASHWHISPER_SESSION_MAX_SECONDS

    for hours in range(10, week // HOUR, 10):
        with clock(later(hours * HOUR)):
            assert is_signed_in(client), hours
    with clock(later(week + 60)):
        assert not is_signed_in(client)


def test_the_lifetimes_are_settings(alice: Account, settings: Any) -> None:
    assert settings.HASHWHISPER_SESSION_IDLE_SECONDS == 12 * HOUR
    settings.HASHWHISPER_SESSION_IDLE_SECONDS = 600
    client = signed_in(alice)

    with clock(later(601)):
        assert not is_signed_in(client)


def cookie_attributes(response: Any, name: str) -> dict[str, Any]:
    header = response.cookies[name].output(header="")
    parsed = SimpleCookie()
    parsed.load(header)
    morsel = parsed[name]
    return {key: morsel[key] for key in morsel if morsel[key]} | {"raw": header.lower()}


def test_the_session_cookie_is_host_only_secure_httponly_and_lax(
    alice: Account,
) -> None:
    client = SecureClient()
    response = password_step(client)
    name = settings.SESSION_COOKIE_NAME

    attributes = cookie_attributes(response, name)

    assert name.startswith("__Host-")
    assert attributes["secure"] and attributes["httponly"]
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert "domain" not in attributes


def test_the_csrf_cookie_is_host_only_secure_and_samesite() -> None:
    response = SecureClient().get("/accounts/login/")
    name = settings.CSRF_COOKIE_NAME

    attributes = cookie_attributes(response, name)

    assert name.startswith("__Host-")
    assert attributes["secure"]
    assert attributes["samesite"] in {"Lax", "Strict"}
    assert attributes["path"] == "/"
    assert "domain" not in attributes


def test_logout_deletes_the_session_on_the_server(alice: Account) -> None:
    client = signed_in(alice)
    key = session_key(client)

    assert client.post("/accounts/logout/").status_code == 302

    assert not Session.objects.filter(session_key=key).exists()
    replay = SecureClient()
    replay.cookies[settings.SESSION_COOKIE_NAME] = key
    assert replay.get("/api/groups/").status_code == 401
    assert replay.get("/events/").status_code == 401
    assert replay.get("/chat/").status_code == 302


def test_a_half_finished_login_expires(alice: Account, settings: Any) -> None:
    client = SecureClient()
    assert password_step(client).status_code == 302
    session = client.session
    session["hw_pending_since"] -= settings.HASHWHISPER_PENDING_LOGIN_SECONDS + 1
    session.save()

    response = code_step(client, totp(alice[1]).now())

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert not is_signed_in(client)
