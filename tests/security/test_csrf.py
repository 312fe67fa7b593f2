"""CSRF on every state-changing endpoint, found by walking the URL patterns.

Each route is probed with POST, PUT, PATCH and DELETE. A probe carrying a
valid token from this origin runs inside a transaction that is rolled back,
and tells which routes take that method at all (anything but 405): those
are the state-changing endpoints. For every route and method, a request
without the token, and one with the token but from another origin, must get
403 and leave the database exactly as it was.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from django.apps import apps
from django.db import transaction
from django.middleware.csrf import get_token
from django.test import RequestFactory

from tests.conftest import SecureClient
from tests.security.urlwalk import STREAM_PATHS, Route, project_routes

pytestmark = pytest.mark.django_db

UNSAFE = ("post", "put", "patch", "delete")
# Written on ordinary requests by design: the session itself and its
# last-seen bookkeeping.
VOLATILE = {"sessions.session", "accounts.usersession"}


class Rollback(Exception):
    pass


def database_state() -> str:
    """A digest of every row of every table but the session bookkeeping."""
    digest = hashlib.sha256()
    for model in apps.get_models():
        if model._meta.label_lower in VOLATILE:
            continue
        rows = model._default_manager.order_by("pk").values_list()
        digest.update(model._meta.label_lower.encode())
        digest.update(repr(list(rows)).encode())
    return digest.hexdigest()


def csrf_client(world: dict[str, Any]) -> tuple[SecureClient, str]:
    """The world's signed-in user, on a client that enforces CSRF."""
    client = SecureClient(enforce_csrf_checks=True)
    client.cookies = world["client"].cookies
    page = client.get("/accounts/security/")
    assert page.status_code == 200
    token = page.context["csrf_token"] if page.context else None
    assert token, "the page carries no CSRF token"
    return client, str(token)


def send(client: SecureClient, method: str, path: str, **headers: str) -> Any:
    call = getattr(client, method)
    return call(path, data=b"{}", content_type="application/json", headers=headers)


def accepts(client: SecureClient, token: str, method: str, route: Route) -> bool:
    status = 0
    # A probe may log out or cycle the session: its cookies are rolled back
    # together with the database.
    cookies = copy.deepcopy(client.cookies)
    try:
        with transaction.atomic():
            response = send(
                client,
                method,
                route.path,
                **{"X-CSRFToken": token, "Origin": "https://testserver"},
            )
            status = response.status_code
            raise Rollback
    except Rollback:
        pass
    finally:
        client.cookies = cookies
    return status != 405


def test_the_walk_finds_the_state_changing_endpoints(world: dict[str, Any]) -> None:
    client, token = csrf_client(world)
    found = {
        (route.view_name, method)
        for route in project_routes(world["samples"])
        for method in UNSAFE
        if accepts(client, token, method, route)
    }

    for expected in [
        ("accounts.views.logout_view", "post"),
        ("accounts.views.change_password", "post"),
        ("accounts.views.delete_account", "post"),
        ("accounts.views.login_password", "post"),
        ("groups.views.groups_collection", "post"),
        ("chat.views.messages", "post"),
        ("groups.views.leave", "post"),
    ]:
        assert expected in found
    assert len(found) > 20


def refusals(world: dict[str, Any], **headers: str) -> dict[str, int]:
    """Requests of every route and unsafe method that were not refused."""
    client, _ = csrf_client(world)
    before = database_state()
    wrong = {}
    for route in project_routes(world["samples"]):
        for method in UNSAFE:
            response = send(client, method, route.path, **headers)
            if response.status_code != 403:
                wrong[f"{method.upper()} {route.path}"] = response.status_code
    if database_state() != before:
        wrong["database changed"] = 0
    return wrong


def test_no_request_without_the_token_gets_through(world: dict[str, Any]) -> None:
    assert refusals(world) == {}


def test_a_foreign_origin_is_refused_even_with_the_token(
    world: dict[str, Any],
) -> None:
    _, token = csrf_client(world)
    headers = {"X-CSRFToken": token, "Origin": "https://evil.example"}

    assert refusals(world, **headers) == {}


def test_a_cross_site_null_origin_is_refused_even_with_the_token(
    world: dict[str, Any],
) -> None:
    _, token = csrf_client(world)
    headers = {"X-CSRFToken": token, "Origin": "null", "Sec-Fetch-Site": "cross-site"}

    assert refusals(world, **headers) == {}


def test_a_token_of_another_session_is_refused(world: dict[str, Any]) -> None:
    foreign = str(get_token(RequestFactory().get("/")))
    headers = {"X-CSRFToken": foreign, "Origin": "https://testserver"}

    assert refusals(world, **headers) == {}


def test_no_get_changes_the_database(world: dict[str, Any]) -> None:
    client = world["client"]
    changed = []
    for route in project_routes(world["samples"]):
        if route.path in STREAM_PATHS:
            # The stream gives up its connection (see STREAM_PATHS); it only
            # reads, and the header walk still requests it.
            continue
        before = database_state()
        client.get(route.path)
        if database_state() != before:
            changed.append(route.path)

    assert changed == []
