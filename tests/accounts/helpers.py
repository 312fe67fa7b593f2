"""Steps of the account flows, shared by the registration and login tests."""

import base64
import html
import re
import time
from importlib import import_module

import pyotp
from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import SecureClient
from tests.hashwhisper.testing import Response


def start_session(client: SecureClient) -> str:
    """Give the client a stored session, as a visitor's browser may have."""
    session = client.session
    session["visited"] = True
    session.save()
    key = session.session_key
    assert key
    return key


def session_key(client: SecureClient) -> str:
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    assert cookie is not None and cookie.value, "the client holds no session"
    return cookie.value


def session_exists(key: str) -> bool:
    """Whether the configured session store still holds ``key``."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    return bool(store().exists(key))


def assert_not_logged_in(client: SecureClient) -> None:
    """No page, API or event stream past the login screens answers."""
    page = client.get("/chat/")
    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/login/")
    assert client.get("/api/groups/").status_code == 401
    assert client.get("/events/").status_code == 401


def assert_logged_in(client: SecureClient) -> None:
    assert client.get("/chat/").status_code == 200
    assert client.get("/api/groups/").status_code == 200


def form_errors(response: Response) -> list[str]:
    """The texts of the error boxes the form template draws."""
    pattern = r'<div class="(?:invalid-feedback d-block|alert alert-danger)"[^>]*>'
    found = re.findall(pattern + r"([^<]+)</div>", response.text)
    return [html.unescape(text) for text in found]


def totp(device: TOTPDevice) -> pyotp.TOTP:
    """An authenticator app holding the device's current key."""
    device.refresh_from_db()
    return pyotp.TOTP(base64.b32encode(bytes(device.bin_key)).decode())


def wrong_code(device: TOTPDevice) -> str:
    """A well-formed code that no nearby time step produces."""
    app = totp(device)
    now = time.time()
    nearby = {app.at(now + 30 * step) for step in (-2, -1, 0, 1, 2)}
    candidates = ("000000", "111111", "222222", "333333", "444444", "555555")
    return next(code for code in candidates if code not in nearby)
