"""The admin needs a verified TOTP device too, and lives under a path the
operator chooses."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import clear_url_caches

from tests.conftest import SecureClient, verified_client
from tests.security.conftest import Account, password_step

pytestmark = pytest.mark.django_db


def test_a_verified_staff_user_reaches_the_admin(carol: Account) -> None:
    response = verified_client(*carol).get("/admin/")

    assert response.status_code == 200
    assert "Site administration" in response.text


def test_the_password_alone_does_not_open_the_admin(carol: Account) -> None:
    client = SecureClient()
    assert password_step(client, "carol").status_code == 302

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_session_without_a_verified_device_does_not_open_the_admin(
    carol: Account,
) -> None:
    client = SecureClient()
    client.force_login(carol[0])

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_admin_site_itself_demands_a_verified_device(carol: Account) -> None:
    # Even past the login middleware, OTPAdminSite refuses a staff user whose
    # session has no verified device.
    request = RequestFactory().get("/admin/")
    request.user = carol[0]
    request.user.is_verified = lambda: False  # type: ignore[attr-defined]

    assert not admin.site.has_permission(request)
    request.user.is_verified = lambda: True  # type: ignore[attr-defined]
    assert admin.site.has_permission(request)


def test_a_verified_ordinary_user_gets_no_admin(alice: Account) -> None:
    response = verified_client(*alice).get("/admin/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.fixture
def admin_path(settings: Any) -> Iterator[str]:
    """The URL configuration rebuilt with the admin under another path."""
    import hashwhisper.urls

    settings.HASHWHISPER_ADMIN_PATH = "ops-7f3a/"
    importlib.reload(hashwhisper.urls)
    clear_url_caches()
    try:
        yield "/ops-7f3a/"
    finally:
        settings.HASHWHISPER_ADMIN_PATH = "admin/"
        importlib.reload(hashwhisper.urls)
        clear_url_caches()


def test_the_admin_path_is_a_setting(carol: Account, admin_path: str) -> None:
    client = verified_client(*carol)

    assert client.get(admin_path).status_code == 200
    assert client.get("/admin/").status_code == 404
