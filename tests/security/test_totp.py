"""TOTP codes: single use, one step of drift, django-otp's back-off, and the
ten single-use recovery codes shown once at enrolment."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import lockout, recovery
from accounts.models import LoginLock, User
from tests.conftest import PASSWORD, SecureClient, verified_client
from tests.security.conftest import (
    Account,
    clock,
    code_at_step,
    code_step,
    is_signed_in,
    later,
    password_step,
    totp,
    wrong_code,
)

pytestmark = pytest.mark.django_db

CODE_PATTERN = re.compile(r"<code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code>")


def after_password(device: TOTPDevice, username: str = "alice") -> SecureClient:
    client = SecureClient()
    assert password_step(client, username).status_code == 302
    return client


# Authenticator codes -------------------------------------------------------


def test_a_used_code_is_refused_for_the_rest_of_its_window(alice: Account) -> None:
    device = alice[1]
    code = totp(device).now()
    assert code_step(after_password(device), code).status_code == 302

    second = after_password(device)
    response = code_step(second, code)

    assert response.status_code == 200
    assert "wrong or already used" in response.text
    assert not is_signed_in(second)


def test_an_older_code_is_refused_once_a_newer_one_was_used(alice: Account) -> None:
    device = alice[1]
    assert code_step(after_password(device), code_at_step(device, 0)).status_code == 302

    # The previous step's code is within the drift allowance, but older
    # than the one already accepted.
    response = code_step(after_password(device), code_at_step(device, -1))

    assert response.status_code == 200


@pytest.mark.parametrize("steps", [-1, 1])
def test_one_step_of_clock_drift_is_accepted(alice: Account, steps: int) -> None:
    client = after_password(alice[1])

    assert code_step(client, code_at_step(alice[1], steps)).status_code == 302
    assert is_signed_in(client)


@pytest.mark.parametrize("steps", [-2, 2])
def test_two_steps_of_drift_are_refused(alice: Account, steps: int) -> None:
    client = after_password(alice[1])

    assert code_step(client, code_at_step(alice[1], steps)).status_code == 200
    assert not is_signed_in(client)


@pytest.mark.parametrize("digits", ["٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９", "߀߁߂߃߄߅߆߇߈߉"])
def test_the_right_code_in_other_digits_is_refused(alice: Account, digits: str) -> None:
    code = totp(alice[1]).now()
    client = after_password(alice[1])

    spelled = code.translate(str.maketrans("0123456789", digits))
    response = code_step(client, spelled)

    assert response.status_code == 200
    assert not is_signed_in(client)


def test_after_a_wrong_code_even_the_right_one_waits_for_the_back_off(
    alice: Account,
) -> None:
    device = alice[1]
    client = after_password(device)
    start = later(0)
    # Spaced out, so that each failure is counted rather than throttled.
    for attempt in range(3):
        with clock(start + timedelta(seconds=10 * attempt)):
            code_step(client, wrong_code(device))

    # Three failures ask for a 4 s pause after the last, in a fresh session
    # too, since the count lives on the device.
    fresh = after_password(device)
    with clock(start + timedelta(seconds=22)):
        waiting = code_step(fresh, totp(device).now())
    # Said as a pause, not as a wrong code: the code was not checked.
    assert waiting.status_code == 429
    assert "Wait 2 seconds, then try again." in waiting.text
    assert "wrong or already used" not in waiting.text
    assert not is_signed_in(fresh)
    with clock(start + timedelta(seconds=25)):
        assert code_step(fresh, totp(device).now()).status_code == 302


def test_a_right_code_sent_at_once_after_a_typo_is_told_to_wait(
    alice: Account,
) -> None:
    device = alice[1]
    client = after_password(device)
    start = later(0)
    with clock(start):
        assert "wrong or already used" in code_step(client, wrong_code(device)).text
    with clock(start + timedelta(milliseconds=400)):
        waiting = code_step(client, totp(device).now())
    assert waiting.status_code == 429
    assert "Wait 1 second, then try again." in waiting.text
    # The paused attempt checked nothing, so it counts against nothing.
    lock = LoginLock.objects.get(key=lockout.username_key("alice"))
    assert lock.failures == 1
    with clock(start + timedelta(seconds=1, milliseconds=100)):
        assert code_step(client, totp(device).now()).status_code == 302


def test_django_otp_throttling_is_on(settings: Any) -> None:
    assert settings.OTP_TOTP_THROTTLE_FACTOR >= 1
    assert settings.OTP_STATIC_THROTTLE_FACTOR >= 1
    assert TOTPDevice().throttling_enabled


# Recovery codes ------------------------------------------------------------


def register_and_read_codes(client: SecureClient) -> tuple[User, list[str]]:
    response = client.post(
        "/accounts/register/",
        {"username": "dora", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    page = client.get("/accounts/totp/enrol/")
    return User.objects.get(username="dora"), CODE_PATTERN.findall(page.text)


def enrol(client: SecureClient, user: User) -> None:
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post("/accounts/totp/enrol/", {"code": totp(device).now()})
    assert response.status_code == 302, response.text[:300]


def test_enrolment_shows_ten_distinct_codes(client: SecureClient) -> None:
    _, codes = register_and_read_codes(client)

    assert len(codes) == 10
    assert len(set(codes)) == 10


def test_codes_are_shown_once(client: SecureClient) -> None:
    user, codes = register_and_read_codes(client)
    again = client.get("/accounts/totp/enrol/")
    assert CODE_PATTERN.findall(again.text) == codes
    enrol(client, user)

    for path in ("/accounts/totp/enrol/", "/accounts/security/", "/chat/"):
        body = client.get(path, follow=True).text
        assert not any(code in body for code in codes), path


def test_codes_are_stored_only_as_hashes(client: SecureClient) -> None:
    user, codes = register_and_read_codes(client)
    enrol(client, user)

    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert len(stored) == 10
    for code in codes:
        assert code.replace("-", "") not in stored
        assert code not in stored


def test_codes_work_only_after_the_authenticator_is_confirmed(
    client: SecureClient,
) -> None:
    user, _codes = register_and_read_codes(client)

    assert not StaticDevice.objects.filter(user=user, confirmed=True).exists()
    enrol(client, user)
    assert StaticDevice.objects.get(user=user).confirmed


def test_a_recovery_code_logs_in_once(client: SecureClient) -> None:
    user, codes = register_and_read_codes(client)
    enrol(client, user)
    client.post("/accounts/logout/")

    first = SecureClient()
    assert password_step(first, "dora").status_code == 302
    response = first.post("/accounts/login/recovery/", {"code": codes[3]})
    assert response.status_code == 302
    assert is_signed_in(first)
    assert recovery.remaining(user) == 9

    second = SecureClient()
    assert password_step(second, "dora").status_code == 302
    response = second.post("/accounts/login/recovery/", {"code": codes[3]})
    assert response.status_code == 200
    assert not is_signed_in(second)


def test_a_recovery_code_is_accepted_in_any_spelling(client: SecureClient) -> None:
    user, codes = register_and_read_codes(client)
    enrol(client, user)
    other = SecureClient()
    assert password_step(other, "dora").status_code == 302

    spelled = " " + codes[0].upper().replace("-", " ") + " "
    assert other.post("/accounts/login/recovery/", {"code": spelled}).status_code == 302


def test_the_recovery_page_needs_the_password_step(client: SecureClient) -> None:
    user, codes = register_and_read_codes(client)
    enrol(client, user)

    stranger = SecureClient()
    response = stranger.post("/accounts/login/recovery/", {"code": codes[0]})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert recovery.remaining(user) == 10


def test_another_users_recovery_code_does_not_work(
    client: SecureClient, alice: Account
) -> None:
    user, _codes = register_and_read_codes(client)
    enrol(client, user)
    alice_codes = recovery.issue_codes(alice[0])
    recovery.activate_codes(alice[0])

    other = SecureClient()
    assert password_step(other, "dora").status_code == 302
    response = other.post("/accounts/login/recovery/", {"code": alice_codes[0]})

    assert response.status_code == 200
    assert not is_signed_in(other)


# Resetting the authenticator -------------------------------------------------


def reset_body(password: str, code: str) -> dict[str, str]:
    return {"reset-password": password, "reset-code": code}


def test_reset_needs_the_password(alice: Account) -> None:
    client = verified_client(*alice)

    response = client.post(
        "/accounts/security/authenticator/",
        reset_body("not the password 99", totp(alice[1]).now()),
    )

    assert response.status_code == 400
    assert client.get("/accounts/security/authenticator/new/").status_code == 302


def test_reset_needs_a_current_code(alice: Account) -> None:
    client = verified_client(*alice)

    response = client.post(
        "/accounts/security/authenticator/", reset_body(PASSWORD, wrong_code(alice[1]))
    )

    assert response.status_code == 400
    assert client.get("/accounts/security/authenticator/new/").status_code == 302


def replace_authenticator(client: SecureClient, user: User, code: str) -> TOTPDevice:
    response = client.post(
        "/accounts/security/authenticator/", reset_body(PASSWORD, code)
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/security/authenticator/new/"
    page = client.get("/accounts/security/authenticator/new/")
    assert page.status_code == 200
    assert len(CODE_PATTERN.findall(page.text)) == 10
    new = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(
        "/accounts/security/authenticator/new/", {"code": totp(new).now()}
    )
    assert response.status_code == 302
    new.refresh_from_db()
    return new


def test_reset_with_a_code_replaces_the_device(alice: Account) -> None:
    user, old = alice
    client = verified_client(user, old)

    new = replace_authenticator(client, user, totp(old).now())

    assert new.confirmed
    assert list(TOTPDevice.objects.filter(user=user)) == [new]
    assert is_signed_in(client)


def test_reset_with_a_recovery_code_works(alice: Account) -> None:
    user, old = alice
    codes = recovery.issue_codes(user)
    recovery.activate_codes(user)
    client = verified_client(user, old)

    replace_authenticator(client, user, codes[0])

    assert not TOTPDevice.objects.filter(pk=old.pk).exists()
    # The new set of codes replaced the old one.
    assert recovery.remaining(user) == 10
    assert (
        StaticToken.objects.filter(
            token=recovery.stored_token(user, codes[1].replace("-", ""))
        ).count()
        == 0
    )


def test_reset_logs_out_other_sessions(alice: Account) -> None:
    user, old = alice
    here = SecureClient()
    elsewhere = SecureClient()
    assert password_step(here).status_code == 302
    assert code_step(here, code_at_step(old, -1)).status_code == 302
    assert password_step(elsewhere).status_code == 302
    assert code_step(elsewhere, code_at_step(old, 0)).status_code == 302

    replace_authenticator(here, user, code_at_step(old, 1))

    assert is_signed_in(here)
    assert not is_signed_in(elsewhere)


def test_authenticator_keys_are_random_and_never_shared(db: None) -> None:
    users = [User.objects.create(username=f"seed-{n}") for n in range(20)]
    keys = [TOTPDevice.objects.create(user=user, name="app").bin_key for user in users]

    assert all(len(key) == 20 for key in keys)
    assert len(set(keys)) == len(keys)
