"""The two login steps (password, then TOTP code), redirects and logout."""

import time

import pytest
from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.services import PENDING_SINCE, PENDING_USER
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
from tests.conftest import PASSWORD, SecureClient, group_id, verified_client
from tests.hashwhisper.logs import logged_text, project_logs
from tests.hashwhisper.testing import Response

pytestmark = pytest.mark.django_db

Alice = tuple[User, TOTPDevice]


def password_step(
    client: SecureClient,
    password: str = PASSWORD,
    username: str = "alice",
    next_url: str | None = None,
) -> Response:
    data = {"username": username, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/accounts/login/", data)


def code_step(client: SecureClient, code: str) -> Response:
    return client.post("/accounts/login/code/", {"code": code})


def full_login(client: SecureClient, device: TOTPDevice) -> str:
    """Pass both steps; return the code used."""
    assert password_step(client).status_code == 302
    code = totp(device).now()
    response = code_step(client, code)
    assert response.status_code == 302, form_errors(response)
    return code


def has_pending_login(client: SecureClient) -> bool:
    return PENDING_USER in client.session


# The password step -----------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong password 1234"), ("nobody", PASSWORD), ("ALICE ", "x")],
    ids=["wrong password", "unknown user", "junk"],
)
def test_wrong_password_is_refused_without_pending_state(
    client: SecureClient, alice: Alice, username: str, password: str
) -> None:
    response = password_step(client, password, username)

    assert response.status_code == 200
    assert "Wrong username or password." in form_errors(response)
    assert not has_pending_login(client)
    assert_not_logged_in(client)


def test_right_password_leads_to_the_code_page(
    client: SecureClient, alice: Alice
) -> None:
    response = password_step(client)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/code/"
    assert client.session[PENDING_USER] == alice[0].pk


def test_right_password_cycles_the_session(client: SecureClient, alice: Alice) -> None:
    before = start_session(client)

    assert password_step(client).status_code == 302

    assert session_key(client) != before
    assert not session_exists(before)


def test_a_login_without_the_totp_step_reaches_nothing(
    client: SecureClient, alice: Alice
) -> None:
    assert password_step(client).status_code == 302

    assert_not_logged_in(client)


def test_password_of_an_unenrolled_user_leads_to_enrolment(
    client: SecureClient, alice: Alice
) -> None:
    TOTPDevice.objects.filter(user=alice[0]).update(confirmed=False)

    response = password_step(client)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/totp/enrol/"
    assert_not_logged_in(client)


def test_code_page_without_a_pending_login_redirects_to_login(
    client: SecureClient,
) -> None:
    response = client.get("/accounts/login/code/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"


# The code step ---------------------------------------------------------------


def test_right_code_logs_in(client: SecureClient, alice: Alice) -> None:
    assert password_step(client).status_code == 302

    response = code_step(client, totp(alice[1]).now())

    assert response.status_code == 302
    assert response["Location"] == "/chat/"
    assert not has_pending_login(client)
    assert_logged_in(client)


def test_code_step_cycles_the_session(client: SecureClient, alice: Alice) -> None:
    assert password_step(client).status_code == 302
    before = session_key(client)

    assert code_step(client, totp(alice[1]).now()).status_code == 302

    assert session_key(client) != before
    assert not session_exists(before)


@pytest.mark.parametrize("kind", ["wrong", "letters", "short", "empty"])
def test_bad_code_is_refused(client: SecureClient, alice: Alice, kind: str) -> None:
    codes = {"wrong": wrong_code(alice[1]), "letters": "abcdef", "short": "123"}
    assert password_step(client).status_code == 302

    response = code_step(client, codes.get(kind, ""))

    assert response.status_code == 200
    assert form_errors(response)
    assert has_pending_login(client)
    assert_not_logged_in(client)


def test_code_reuse_is_refused(alice: Alice) -> None:
    first, second = SecureClient(), SecureClient()
    code = full_login(first, alice[1])
    assert password_step(second).status_code == 302

    response = code_step(second, code)

    assert response.status_code == 200
    assert any("already used" in error for error in form_errors(response))
    assert_not_logged_in(second)
    assert_logged_in(first)


def age_pending_login(client: SecureClient, seconds: int) -> None:
    session = client.session
    session[PENDING_SINCE] = int(time.time()) - seconds
    session.save()


def test_expired_pending_login_goes_back_to_login(
    client: SecureClient, alice: Alice
) -> None:
    assert password_step(client).status_code == 302
    age_pending_login(client, settings.HASHWHISPER_PENDING_LOGIN_SECONDS + 5)

    response = code_step(client, totp(alice[1]).now())

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert not has_pending_login(client)
    assert_not_logged_in(client)


def test_pending_login_within_its_lifetime_still_works(
    client: SecureClient, alice: Alice
) -> None:
    assert password_step(client).status_code == 302
    age_pending_login(client, settings.HASHWHISPER_PENDING_LOGIN_SECONDS - 30)

    response = code_step(client, totp(alice[1]).now())

    assert response.status_code == 302
    assert response["Location"] == "/chat/"
    assert_logged_in(client)


# Where a login leads ---------------------------------------------------------


def test_same_site_next_is_honoured(client: SecureClient, alice: Alice) -> None:
    target = f"/chat/{group_id()}/"
    assert password_step(client, next_url=target).status_code == 302

    response = code_step(client, totp(alice[1]).now())

    assert response.status_code == 302
    assert response["Location"] == target


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "https://testserver.evil.example/chat/",
        "http://testserver/chat/",
        "javascript:alert(1)",
        "/\\evil.example/",
    ],
)
def test_foreign_next_is_ignored(
    client: SecureClient, alice: Alice, target: str
) -> None:
    assert password_step(client, next_url=target).status_code == 302

    response = code_step(client, totp(alice[1]).now())

    assert response.status_code == 302
    assert response["Location"] == "/chat/"


def test_foreign_next_is_not_echoed_into_the_login_page(client: SecureClient) -> None:
    response = client.get("/accounts/login/", {"next": "https://evil.example/"})

    assert response.status_code == 200
    assert "evil.example" not in response.text


# Logout ----------------------------------------------------------------------


def test_logout_by_get_is_refused_405(client: SecureClient, alice: Alice) -> None:
    full_login(client, alice[1])

    response = client.get("/accounts/logout/")

    assert response.status_code == 405
    assert_logged_in(client)


def test_logout_by_post_ends_the_session(client: SecureClient, alice: Alice) -> None:
    full_login(client, alice[1])
    key = session_key(client)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert not session_exists(key)
    assert_not_logged_in(client)


def test_logout_without_the_csrf_token_is_refused_403(alice: Alice) -> None:
    client = verified_client(*alice, enforce_csrf_checks=True)

    response = client.post(
        "/accounts/logout/", headers={"Origin": "https://testserver"}
    )

    assert response.status_code == 403
    assert_logged_in(client)


# Logs ------------------------------------------------------------------------


def test_refused_passwords_and_codes_are_not_logged(
    client: SecureClient, alice: Alice, caplog: pytest.LogCaptureFixture
) -> None:
    bad_password = "Hunter2-wrong-guess-77"
    bad_code = wrong_code(alice[1])

    with project_logs(caplog):
        password_step(client, bad_password)
        password_step(client)
        code_step(client, bad_code)

    refusals = [r for r in caplog.records if r.name == "hashwhisper.security"]
    assert len(refusals) == 2
    text = logged_text(caplog)
    assert bad_password not in text
    assert PASSWORD not in text
    assert bad_code not in text


def test_accepted_password_and_code_are_not_logged(
    client: SecureClient, alice: Alice, caplog: pytest.LogCaptureFixture
) -> None:
    with project_logs(caplog):
        code = full_login(client, alice[1])

    assert caplog.records
    text = logged_text(caplog)
    assert PASSWORD not in text
    assert code not in text
