"""Our real responses, graded by the Observatory's rules (checklist A2): A+,
with every bonus a deployment can earn by itself."""

from __future__ import annotations

from http.cookies import Morsel
from typing import Any

import pytest
from django.test import Client

from tests.conftest import SecureClient, verified_client
from tests.security.conftest import Account
from tests.security.observatory import Scan, lower_headers, score

pytestmark = pytest.mark.django_db

BONUSES = {
    "csp": 10,
    "cookies": 5,
    "referrer": 5,
    "xfo": 5,
    "sri": 5,
    "corp": 10,
    "coop": 10,
    "coep": 10,
}


def scan_site(client: SecureClient, path: str = "/") -> Scan:
    """What the Observatory fetches: HTTP first, then HTTPS with redirects."""
    plain = Client().get(path)
    http_redirect = plain["Location"] if plain.status_code in {301, 302} else None
    response = client.get(path, follow=True)
    assert response.status_code == 200
    cookies: list[Morsel[str]] = [client.cookies[name] for name in client.cookies]
    for earlier, _ in getattr(response, "redirect_chain", []):
        assert earlier.startswith("/")
    return Scan(
        headers=lower_headers(response),
        html=response.content.decode(),
        cookies=cookies,
        http_redirect=http_redirect,
        host="testserver",
    )


def assert_a_plus_with_every_bonus(scan: Scan) -> None:
    result = score(scan)
    earned = {test: mod for test, (_, mod) in result.outcomes.items() if mod > 0}
    penalties = {test: o for test, o in result.outcomes.items() if o[1] < 0}

    assert penalties == {}
    assert earned == BONUSES, result.outcomes
    assert result.score == 100 + sum(BONUSES.values())
    assert result.grade == "A+"


def test_the_front_page_scores_a_plus(db: None) -> None:
    scan = scan_site(SecureClient())

    assert scan.cookies, "the scan should meet the CSRF cookie"
    assert_a_plus_with_every_bonus(scan)


def test_the_chat_page_signed_in_scores_a_plus(alice: Account) -> None:
    client = verified_client(*alice)
    client.get("/accounts/login/")

    assert_a_plus_with_every_bonus(scan_site(client, "/chat/"))


@pytest.mark.parametrize(
    "path", ["/accounts/register/", "/g/join", "/accounts/security/"]
)
def test_other_pages_score_a_plus(alice: Account, path: str) -> None:
    assert_a_plus_with_every_bonus(scan_site(verified_client(*alice), path))


# The scorer itself tells good from bad -------------------------------------


def good_scan() -> Scan:
    cookie: Morsel[str] = Morsel()
    cookie.set("__Host-hw_session", "v", "v")
    cookie["secure"], cookie["httponly"], cookie["samesite"] = True, True, "Lax"
    return Scan(
        headers={
            "content-type": "text/html",
            "content-security-policy": "default-src 'none'; script-src 'self'; "
            "frame-ancestors 'none'",
            "strict-transport-security": "max-age=31536000",
            "referrer-policy": "no-referrer",
            "x-content-type-options": "nosniff",
            "cross-origin-resource-policy": "same-origin",
            "cross-origin-opener-policy": "same-origin",
            "cross-origin-embedder-policy": "require-corp",
        },
        html='<script src="/s.js" integrity="sha384-x"></script>',
        cookies=[cookie],
        http_redirect="https://testserver/",
        host="testserver",
    )


@pytest.mark.parametrize(
    ("change", "test", "modifier"),
    [
        ({"content-security-policy": None}, "csp", -25),
        ({"content-security-policy": "script-src 'self' 'unsafe-inline'"}, "csp", -20),
        ({"content-security-policy": "default-src 'self'"}, "csp", 5),
        ({"strict-transport-security": None}, "hsts", -20),
        ({"strict-transport-security": "max-age=86400"}, "hsts", -10),
        ({"referrer-policy": "unsafe-url"}, "referrer", -5),
        ({"x-content-type-options": None}, "xcto", -5),
        ({"cross-origin-embedder-policy": "bogus"}, "coep", -5),
        ({"cross-origin-resource-policy": None}, "corp", 0),
    ],
)
def test_the_scorer_penalises_weaker_headers(
    change: dict[str, Any], test: str, modifier: int
) -> None:
    scan = good_scan()
    for name, value in change.items():
        if value is None:
            scan.headers.pop(name)
        else:
            scan.headers[name] = value
    if change.get("content-security-policy", "x") is None:
        scan.headers["x-frame-options"] = "DENY"

    assert score(scan).outcomes[test][1] == modifier


def test_the_scorer_penalises_a_session_cookie_without_httponly() -> None:
    scan = good_scan()
    scan.cookies[0]["httponly"] = False

    result = score(scan)

    assert result.outcomes["cookies"][1] == -30
    assert result.grade != "A+"


def test_the_scorer_gives_no_sri_bonus_without_integrity() -> None:
    scan = good_scan()
    scan.html = '<script src="/s.js"></script>'

    assert score(scan).outcomes["sri"][1] == 0


def test_bonuses_do_not_lift_a_poor_score() -> None:
    scan = good_scan()
    scan.http_redirect = None
    scan.headers.pop("strict-transport-security")

    result = score(scan)

    assert result.score == 60
    assert result.grade == "C+"
