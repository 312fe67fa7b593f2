"""Registration and TOTP enrolment: nobody is logged in before the code."""

import base64
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.accounts.helpers import (
    assert_logged_in,
    assert_not_logged_in,
    form_errors,
    session_exists,
    session_key,
    start_session,
    totp,
    wrong_code,
)
from tests.conftest import SecureClient
from tests.hashwhisper.testing import Response

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "violet tram under 9 bridges"


def register(
    client: SecureClient,
    username: str = "carol",
    password: str = GOOD_PASSWORD,
    again: str | None = None,
) -> Response:
    data = {
        "username": username,
        "password1": password,
        "password2": password if again is None else again,
    }
    return client.post("/accounts/register/", data)


@dataclass
class Registered:
    client: SecureClient
    user: User
    device: TOTPDevice
    key_before_password: str
    key_before_code: str


@pytest.fixture
def registered(client: SecureClient) -> Registered:
    """A visitor who has just registered as carol, before the code step."""
    first_key = start_session(client)
    response = register(client)
    assert response.status_code == 302, form_errors(response)
    user = User.objects.get(username="carol")
    device = TOTPDevice.objects.get(user=user)
    return Registered(client, user, device, first_key, session_key(client))


# The registration form -------------------------------------------------------


def test_register_page_renders_the_form(client: SecureClient) -> None:
    response = client.get("/accounts/register/")

    assert response.status_code == 200
    for name in ("username", "password1", "password2", "csrfmiddlewaretoken"):
        assert f'name="{name}"' in response.text


@pytest.mark.parametrize(
    ("username", "password", "complaint"),
    [
        ("carol", "Abcdefghij1", "too short"),
        ("carol", "qwertyuiop123", "too common"),
        ("carol", "830274619205", "entirely numeric"),
        ("marguerite.lb", "marguerite.lb1", "too similar to the username"),
    ],
    ids=["11 chars", "common", "numeric", "like username"],
)
def test_weak_password_is_refused_with_a_form_error(
    client: SecureClient, username: str, password: str, complaint: str
) -> None:
    before = User.objects.count()

    response = register(client, username, password)

    assert response.status_code == 200
    assert any(complaint in error for error in form_errors(response))
    assert User.objects.count() == before
    assert not TOTPDevice.objects.exists()


def test_mismatched_passwords_are_refused_with_a_form_error(
    client: SecureClient,
) -> None:
    response = register(client, password=GOOD_PASSWORD, again=GOOD_PASSWORD + "!")

    assert response.status_code == 200
    assert "The two passwords differ." in form_errors(response)
    assert not User.objects.exists()


@pytest.mark.parametrize("spelling", ["alice", "ALICE", "Alice"])
def test_taken_username_is_refused_whatever_its_case(
    client: SecureClient, alice: tuple[User, Any], spelling: str
) -> None:
    before = User.objects.count()

    response = register(client, username=spelling)

    assert response.status_code == 200
    assert "That username is taken." in form_errors(response)
    assert User.objects.count() == before


@pytest.mark.parametrize("username", ["carol smith", "carol/x", "<carol>", ""])
def test_invalid_username_is_refused_with_a_form_error(
    client: SecureClient, username: str
) -> None:
    response = register(client, username=username)

    assert response.status_code == 200
    assert form_errors(response)
    assert not User.objects.exists()


# A successful registration ---------------------------------------------------


def test_registration_stores_an_argon2id_hash(registered: Registered) -> None:
    assert registered.user.password.startswith("argon2$argon2id$")
    assert registered.user.check_password(GOOD_PASSWORD)
    assert GOOD_PASSWORD not in registered.user.password


def test_registration_makes_one_unconfirmed_device(registered: Registered) -> None:
    devices = TOTPDevice.objects.filter(user=registered.user)

    assert [device.confirmed for device in devices] == [False]


def test_registration_redirects_to_enrolment(client: SecureClient) -> None:
    response = register(client)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/totp/enrol/"


def test_registration_cycles_the_session(registered: Registered) -> None:
    assert registered.key_before_code != registered.key_before_password
    assert not session_exists(registered.key_before_password)


def test_registered_user_is_not_logged_in_before_the_code(
    registered: Registered,
) -> None:
    assert_not_logged_in(registered.client)


# Enrolment -------------------------------------------------------------------


def shown_key(response: Response) -> str:
    match = re.search(r'data-testid="totp-key">([^<]*)<', response.text)
    assert match is not None, "the enrolment page shows no key"
    return match.group(1)


def test_enrolment_page_shows_a_qr_code_as_svg(registered: Registered) -> None:
    response = registered.client.get("/accounts/totp/enrol/")

    assert response.status_code == 200
    assert "<svg" in response.text
    assert "<script" not in response.text.split("<svg", 1)[1].split("</svg>")[0]


def test_enrolment_page_shows_the_device_key_in_groups_of_four(
    registered: Registered,
) -> None:
    response = registered.client.get("/accounts/totp/enrol/")

    text = shown_key(response)
    groups = text.split(" ")
    assert all(1 <= len(group) <= 4 for group in groups)
    assert all(len(group) == 4 for group in groups[:-1])
    joined = "".join(groups)
    padded = joined + "=" * (-len(joined) % 8)
    assert base64.b32decode(padded) == bytes(registered.device.bin_key)


def test_enrolment_page_is_not_cached(registered: Registered) -> None:
    response = registered.client.get("/accounts/totp/enrol/")

    assert "no-store" in response["Cache-Control"]


def test_enrolment_page_without_a_pending_login_redirects_to_login(
    client: SecureClient,
) -> None:
    response = client.get("/accounts/totp/enrol/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"


def test_wrong_enrolment_code_is_refused(registered: Registered) -> None:
    code = wrong_code(registered.device)

    response = registered.client.post("/accounts/totp/enrol/", {"code": code})

    assert response.status_code == 200
    assert any("wrong" in error for error in form_errors(response))
    registered.device.refresh_from_db()
    assert registered.device.confirmed is False
    assert_not_logged_in(registered.client)


def test_correct_enrolment_code_logs_in_and_confirms_the_device(
    registered: Registered,
) -> None:
    code = totp(registered.device).now()

    response = registered.client.post("/accounts/totp/enrol/", {"code": code})

    assert response.status_code == 302
    assert response["Location"] == "/chat/"
    registered.device.refresh_from_db()
    assert registered.device.confirmed is True
    assert_logged_in(registered.client)


def test_session_cycled_after_each_step(registered: Registered) -> None:
    code = totp(registered.device).now()

    response = registered.client.post("/accounts/totp/enrol/", {"code": code})

    assert response.status_code == 302
    final_key = session_key(registered.client)
    assert final_key != registered.key_before_code
    assert final_key != registered.key_before_password
