"""Every response type carries the full security header set.

The URL walk resolves every pattern of the project's URL configuration and
requests each one, signed in (as a verified staff user, so admin pages
render) and signed out. Then the response types the walk cannot reach by
a plain GET: static files, error pages (400, 403 CSRF, 404, 429, 500, 503),
the blob download, and the HTTP-to-HTTPS redirect.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import PASSWORD, SecureClient
from tests.security.conftest import Account, password_step
from tests.security.headers import header_problems
from tests.security.urlwalk import Route, project_routes

pytestmark = pytest.mark.django_db


def walk(client: Client, routes: list[Route]) -> dict[str, list[str]]:
    found = {}
    for route in routes:
        response = client.get(route.path)
        problems = header_problems(response)
        if problems:
            found[f"{route.path} ({response.status_code})"] = problems
    return found


def test_the_walk_covers_every_app(world: dict[str, Any]) -> None:
    routes = project_routes(world["samples"])
    modules = {route.view_name.split(".")[0] for route in routes}

    assert {
        "accounts",
        "groups",
        "chat",
        "media_vault",
        "integrity",
        "django",
    } <= modules
    assert any(route.path == "/events/" for route in routes)
    assert len(routes) > 40


def test_every_route_signed_in_carries_the_headers(world: dict[str, Any]) -> None:
    routes = project_routes(world["samples"])

    assert walk(world["client"], routes) == {}


def test_every_route_signed_out_carries_the_headers(world: dict[str, Any]) -> None:
    routes = project_routes(world["samples"])

    assert walk(SecureClient(), routes) == {}


def test_the_blob_download_is_an_attachment_with_the_headers(
    world: dict[str, Any],
) -> None:
    samples = world["samples"]
    response = world["client"].get(
        f"/api/groups/{samples['group_id']}/blobs/{samples['blob_id']}"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert header_problems(response) == []


def test_the_event_stream_carries_the_headers(world: dict[str, Any]) -> None:
    response = world["client"].get("/events/")

    assert response["Content-Type"].startswith("text/event-stream")
    assert header_problems(response) == []


@pytest.mark.parametrize(
    "path", ["/static/js/theme.js", "/static/css/app.css", "/static/img/favicon.svg"]
)
def test_static_files_carry_the_headers(path: str) -> None:
    response = SecureClient().get(path)

    assert response.status_code == 200
    assert header_problems(response, dynamic=False) == []


def test_the_404_page_carries_the_headers(world: dict[str, Any]) -> None:
    for client in (world["client"], SecureClient()):
        for path in ("/no-such-page/", "/static/no-such-file.js", "/api/nothing"):
            response = client.get(path)
            assert response.status_code in {404, 401, 302}
            assert header_problems(response) == [], path
    assert world["client"].get("/no-such-page/").status_code == 404


def test_the_csrf_failure_carries_the_headers(world: dict[str, Any]) -> None:
    client = SecureClient(enforce_csrf_checks=True)

    response = client.post("/accounts/login/", {"username": "x", "password": "y"})

    assert response.status_code == 403
    assert header_problems(response) == []


def test_the_429_answer_carries_the_headers(settings: Any, alice: Account) -> None:
    settings.HASHWHISPER_RATE_LIMITS = {
        **settings.HASHWHISPER_RATE_LIMITS,
        "login": "1/h",
    }
    client = SecureClient()
    password_step(client, "alice", "wrong password 123")

    response = password_step(client, "alice", PASSWORD)

    assert response.status_code == 429
    assert header_problems(response) == []


def test_the_503_answer_carries_the_headers(settings: Any, alice: Account) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "hashwhisper.cache.SharedRedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }

    response = password_step(SecureClient())

    assert response.status_code == 503
    assert header_problems(response) == []


@pytest.mark.parametrize("path", ["/boom/", "/api/boom/"])
def test_the_500_answer_carries_the_headers_and_hides_the_error(
    settings: Any, world: dict[str, Any], path: str
) -> None:
    from tests.security.boom_urls import BOOM_SECRET

    settings.ROOT_URLCONF = "tests.security.boom_urls"
    client = world["client"]
    client.raise_request_exception = False

    response = client.get(path)

    assert response.status_code == 500
    assert header_problems(response) == []
    body = response.content.decode()
    for leak in (BOOM_SECRET, "Traceback", "RuntimeError", "SECRET_KEY", "settings"):
        assert leak not in body
    if path.startswith("/api/"):
        assert response.json() == {"error": "Internal error."}
    else:
        assert "Something went wrong." in body


def test_the_400_page_carries_the_headers(world: dict[str, Any]) -> None:
    response = world["client"].get("/chat/", headers={"host": "evil.example"})

    assert response.status_code == 400
    assert header_problems(response) == []
    assert "evil.example" not in response.content.decode()


def test_plain_http_is_redirected_to_https_with_the_headers() -> None:
    response = Client().get("/accounts/login/?next=/chat/")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/?next=/chat/"
    # A permanent redirect may be cached; it holds nothing personal.
    assert header_problems(response, https=False, dynamic=False) == []
    assert "Strict-Transport-Security" not in response


def test_forwarded_proto_is_ignored_unless_trusted(settings: Any) -> None:
    forged = Client(headers={"x-forwarded-proto": "https"})

    assert forged.get("/accounts/login/").status_code == 301
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert forged.get("/accounts/login/").status_code == 200
