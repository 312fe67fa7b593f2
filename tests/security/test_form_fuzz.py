"""Property: whatever a visitor posts to an HTML form route, the answer is
never a 500; a refusal is the form again with its error shown, a redirect
the view means to make, or a 4xx page; a refused request writes nothing
but what a failed attempt is meant to count; and no log record carries a
password or code that was sent.

The routes are every URL pattern outside ``/api/`` (see test_api_fuzz.py),
``/events/`` and the Django admin, read from the URL configuration;
``test_every_form_route_has_a_recipe`` fails when one has no recipe below.
A recipe names the methods a route takes, a valid form for it, the people
who may send it (an anonymous visitor, a user half-way through login with
or without a confirmed authenticator, a signed-in verified user, one in the
middle of replacing the authenticator), what the route's success looks
like and which redirects are its ways of saying no.

The fuzz bends the valid form (a field of odd text or bytes, missing,
repeated, huge, with NUL bytes, invalid UTF-8, bytes that decode to lone
surrogates, broken percent-escapes, extra fields, more fields than Django
parses), sends it form-encoded, as multipart (with a file part now and
then), as JSON or under another content type, with odd query strings
(``next`` among them), through a test client that checks CSRF tokens,
with the token a page gave the client. Now and then the address has used
up its attempts, the account is locked or django-otp is pausing code
checks.

What a refused request may write, read from the code:

- the requesting client's own session (any request may save it) and the
  last-seen time and key hash of its tracked-session row
  (accounts.session_tracking);
- on routes that check a password or a code (accounts.guards): the
  username's failure count (``accounts.LoginLock``, whose stale rows a
  failure also clears away) and django-otp's throttling columns of the
  TOTP and recovery-code devices.

Every other row of every table, other people's sessions included, must be
as it was; a GET changes nothing at all. Each example runs in a savepoint
that is rolled back, and the client's cookies and cached session are put
back, so every example starts from the same world.
"""

from __future__ import annotations

import copy
import json
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import import_module
from typing import Any
from urllib.parse import quote, quote_from_bytes, urlsplit

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import connection, models
from django.test import RequestFactory, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import event, given, settings
from hypothesis import strategies as st

from accounts import limits, lockout, recovery
from accounts.models import LoginLock, User
from tests.conftest import PASSWORD, SecureClient, make_user
from tests.conftest import verified_client as signed_in
from tests.security.conftest import totp
from tests.security.fuzzing import FUZZ_SETTINGS, ROWS_DIGEST, rolled_back

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a different passphrase 77"
EXAMPLES_POST = 30
EXAMPLES_GET = 60
LOGIN = "/accounts/login/"
CODE_PAGE = "/accounts/login/code/"
ENROL = "/accounts/totp/enrol/"
SECURITY = "/accounts/security/"
# Columns a refused attempt may change: django-otp's pause after wrong codes.
THROTTLING = ("throttling_failure_timestamp", "throttling_failure_count")
# Written by the session tracking on every request of a signed-in session.
TRACKING = ("last_seen_at", "key_hash")


# ---------------------------------------------------------------- the world


@dataclass
class Visitor:
    client: SecureClient
    csrf: str


@dataclass
class World:
    """Alice is signed in twice (once replacing her authenticator), and half
    way through login once; Bob registered but has not set up his
    authenticator and is at that step; Carol is signed in too."""

    visitors: dict[str, Visitor]
    alice: User
    alice_device: TOTPDevice
    bob_device: TOTPDevice
    recovery_codes: list[str]
    rows: dict[str, int]

    def new_device(self) -> TOTPDevice:
        """The authenticator Alice is setting up in her "resetting" session."""
        return TOTPDevice.objects.get(user=self.alice, confirmed=False)


def token_of(client: SecureClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code, page.get("Location"))
    token = page.context["csrf_token"] if page.context else None
    assert token, f"{path} carries no CSRF token"
    return str(token)


def visitor(client: SecureClient, page: str) -> Visitor:
    return Visitor(client, token_of(client, page))


def post_form(visitor: Visitor, path: str, data: dict[str, str]) -> Any:
    return visitor.client.post(
        path,
        {**data, "csrfmiddlewaretoken": visitor.csrf},
        headers={"Origin": "https://testserver"},
    )


def half_way(username: str, landing: str) -> Visitor:
    """A visitor whose password step passed."""
    anonymous = visitor(SecureClient(enforce_csrf_checks=True), LOGIN)
    answer = post_form(anonymous, LOGIN, {"username": username, "password": PASSWORD})
    assert answer.status_code == 302 and answer["Location"] == landing, answer
    return visitor(anonymous.client, landing)


def verified(user: User, device: TOTPDevice) -> Visitor:
    client = SecureClient(enforce_csrf_checks=True)
    client.cookies = signed_in(user, device).cookies
    return visitor(client, SECURITY)


@pytest.fixture
def form_world(db: None, settings: Any) -> World:
    # Password hashing is not under test; Argon2 costs ~0.1 s per check.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Rates no fuzz run reaches; the "address limited" condition sets its own.
    settings.HASHWHISPER_RATE_LIMITS = dict.fromkeys(
        settings.HASHWHISPER_RATE_LIMITS, "100000/h"
    )
    alice, alice_device = make_user("alice")
    carol, carol_device = make_user("carol")
    bob = User.objects.create_user(username="bob", password=PASSWORD)
    bob_device = TOTPDevice.objects.create(user=bob, name="app", confirmed=False)
    codes = recovery.issue_codes(alice)
    recovery.activate_codes(alice)

    visitors = {
        "anonymous": visitor(SecureClient(enforce_csrf_checks=True), LOGIN),
        "pending": half_way("alice", CODE_PAGE),
        "enrolling": half_way("bob", ENROL),
        "verified": verified(alice, alice_device),
        "carol": verified(carol, carol_device),
    }
    # The reset is confirmed with a recovery code: a TOTP code used here
    # would be refused for the rest of its window in the examples.
    resetting = verified(alice, alice_device)
    answer = post_form(
        resetting,
        "/accounts/security/authenticator/",
        {"reset-password": PASSWORD, "reset-code": codes[0]},
    )
    assert answer.status_code == 302, answer
    visitors["resetting"] = visitor(
        resetting.client, "/accounts/security/authenticator/new/"
    )
    rows = {
        name: visitors[name].client.session["hw_session_row"]
        for name in ("verified", "resetting", "carol")
    }
    return World(
        visitors=visitors,
        alice=alice,
        alice_device=alice_device,
        bob_device=bob_device,
        recovery_codes=codes[1:],
        rows=rows,
    )


# ------------------------------------------------------------- the recipes


def location(response: Any) -> str:
    return str(response.get("Location", ""))


def redirect_path(response: Any) -> str:
    return urlsplit(location(response)).path


def rendered(response: Any, template: str) -> bool:
    return template in {t.name for t in response.templates}


FLOW_PAGES = {LOGIN, CODE_PAGE, ENROL, "/accounts/login/recovery/"}


def signed_in_after_code(response: Any, request: Any) -> bool:
    return response.status_code == 302 and redirect_path(response) not in FLOW_PAGES


@dataclass(frozen=True)
class Recipe:
    """How to reach one form route and what a valid form for it is.

    ``accepted`` tells the route's success (which may write anything) from
    a refusal. ``refusals`` maps a role to the paths a refusal may redirect
    to (the login page for a visitor who is not signed in, say).
    ``checks`` marks routes that check a password or code, whose refusals
    may count the failure.
    """

    path: Callable[[World, str], str]
    methods: tuple[str, ...]
    roles: tuple[str, ...]
    form: Callable[[World], dict[str, str]] = lambda w: {}
    accepted: Callable[[Any, Any], bool] = lambda r, q: False
    refusals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    checks: bool = False
    variants: tuple[str, ...] = ("",)
    # Odd values of the right kind for a field, which the server must weigh.
    choices: Callable[[World], dict[str, list[str]]] = lambda w: {}
    # A table the route's success writes (a check that changes are seen).
    writes: str = ""


def fixed(path: str) -> Callable[[World, str], str]:
    return lambda w, variant: path


def session_path(w: World, variant: str) -> str:
    rows = {
        "alice's other": w.rows["resetting"],
        "this one": w.rows["verified"],
        "carol's": w.rows["carol"],
        "missing": max(w.rows.values()) + 1000,
        "zero": 0,
        "past bigint": 2**63,
        "huge": 10**40,
    }
    return f"/accounts/my-data/sessions/{rows[variant]}/end"


def group_page(w: World, variant: str) -> str:
    return "/chat/" + {"id": "A" * 22, "id with dashes": "-_" * 11}[variant] + "/"


def join_page(w: World, variant: str) -> str:
    return {"plain": "/g/join", "hash as %23": "/g/join%23v1.AAAA.secret"}[variant]


def code_choices(w: World) -> dict[str, list[str]]:
    now = totp(w.alice_device).now()
    return {
        "code": [
            *(f" {now[:3]} {now[3:]} ", now + "0", now[:5], "0" * 6, "9" * 12),
            *("١٢٣٤٥٦", "²²²²²²", "12345６", "-12345", "+12345", "1e5000"),
            *(w.recovery_codes[2].upper(), w.recovery_codes[2].replace("-", "")),
            *(w.recovery_codes[2] + "x", "aaaa-bbbb-cccc", "a" * 32),
        ]
    }


def confirm_form(prefix: str) -> Callable[[World], dict[str, str]]:
    def build(w: World) -> dict[str, str]:
        code = totp(w.alice_device).now()
        return {f"{prefix}-password": PASSWORD, f"{prefix}-code": code}

    return build


def confirm_choices(prefix: str) -> Callable[[World], dict[str, list[str]]]:
    def build(w: World) -> dict[str, list[str]]:
        codes = code_choices(w)["code"] + [w.recovery_codes[3]]
        passwords = [PASSWORD.upper(), PASSWORD + " ", PASSWORD[:-1], " " + PASSWORD]
        return {f"{prefix}-code": codes, f"{prefix}-password": passwords}

    return build


def password_choices(w: World) -> dict[str, list[str]]:
    weak = ["password12345", "short", "alice" * 3, "1" * 12, NEW_PASSWORD[:11]]
    return {
        "current_password": [PASSWORD.upper(), PASSWORD[:-1]],
        "new_password1": weak,
        "new_password2": [NEW_PASSWORD + " ", NEW_PASSWORD.upper()],
    }


LOGIN_FIRST = {"anonymous": (LOGIN,)}
SECURITY_FORM = ("verified",) * 6 + ("anonymous",)

RECIPES: dict[str, Recipe] = {
    "accounts:register": Recipe(
        fixed("/accounts/register/"),
        ("GET", "POST"),
        ("anonymous", "anonymous", "pending", "verified"),
        lambda w: {
            "username": "dave",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "next": "/chat/",
        },
        lambda r, q: r.status_code == 302 and location(r) == ENROL,
        choices=lambda w: {
            "username": ["alice", "ALICE", " alice ", "ａｌｉｃｅ", "a b", "x" * 151],
            "password1": ["password12345", "dave" * 3, "short"],
            "next": ["//evil.example/", "https://evil.example/", "/\\evil"],
        },
        writes="accounts.user",
    ),
    "accounts:login": Recipe(
        fixed(LOGIN),
        ("GET", "POST"),
        ("anonymous", "anonymous", "pending", "enrolling", "verified"),
        lambda w: {"username": "alice", "password": PASSWORD, "next": "/chat/"},
        # A verified visitor is sent on (to ``next``): nothing to refuse.
        lambda r, q: (
            r.status_code == 302
            and (location(r) in (CODE_PAGE, ENROL) or q.role == "verified")
        ),
        checks=True,
        choices=lambda w: {
            "username": ["ALICE", " alice", "bob", "nobody", "ａｌｉｃｅ", "x" * 151],
            "password": [PASSWORD.upper(), PASSWORD[:-1], PASSWORD + "\x00"],
            "next": ["//evil.example/", "https://evil.example/", "/\\evil"],
        },
    ),
    "accounts:code": Recipe(
        fixed(CODE_PAGE),
        ("GET", "POST"),
        ("pending",) * 6 + ("anonymous", "enrolling"),
        lambda w: {"code": totp(w.alice_device).now()},
        signed_in_after_code,
        {"anonymous": (LOGIN,), "enrolling": (ENROL,)},
        checks=True,
        choices=code_choices,
        writes="accounts.user",
    ),
    "accounts:recovery": Recipe(
        fixed("/accounts/login/recovery/"),
        ("GET", "POST"),
        ("pending",) * 6 + ("anonymous", "enrolling"),
        lambda w: {"code": w.recovery_codes[1]},
        signed_in_after_code,
        {"anonymous": (LOGIN,), "enrolling": (ENROL,)},
        checks=True,
        choices=code_choices,
        # The page takes an authenticator code too; login() stamps the user.
        writes="accounts.user",
    ),
    "accounts:enrol": Recipe(
        fixed(ENROL),
        ("GET", "POST"),
        ("enrolling",) * 6 + ("pending", "anonymous"),
        lambda w: {"code": totp(w.bob_device).now()},
        signed_in_after_code,
        {"anonymous": (LOGIN,), "pending": (CODE_PAGE,)},
        checks=True,
        choices=code_choices,
        writes="otp_totp.totpdevice",
    ),
    "accounts:logout": Recipe(
        fixed("/accounts/logout/"),
        ("POST",),
        ("anonymous", "pending", "verified"),
        # Logging out always succeeds, whatever else was sent.
        accepted=lambda r, q: r.status_code == 302 and location(r) == LOGIN,
    ),
    "accounts:security": Recipe(
        fixed(SECURITY), ("GET",), SECURITY_FORM, refusals=LOGIN_FIRST
    ),
    "accounts:change-password": Recipe(
        fixed("/accounts/security/password/"),
        ("POST",),
        SECURITY_FORM,
        lambda w: {
            "current_password": PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        lambda r, q: r.status_code == 302 and location(r) == SECURITY,
        LOGIN_FIRST,
        checks=True,
        choices=password_choices,
        writes="accounts.user",
    ),
    "accounts:reset-authenticator": Recipe(
        fixed("/accounts/security/authenticator/"),
        ("POST",),
        SECURITY_FORM,
        confirm_form("reset"),
        lambda r, q: (
            r.status_code == 302
            and location(r) == "/accounts/security/authenticator/new/"
        ),
        LOGIN_FIRST,
        checks=True,
        choices=confirm_choices("reset"),
        writes="otp_totp.totpdevice",
    ),
    "accounts:new-authenticator": Recipe(
        fixed("/accounts/security/authenticator/new/"),
        ("GET", "POST"),
        ("resetting",) * 6 + ("verified", "anonymous"),
        lambda w: {"code": totp(w.new_device()).now()},
        lambda r, q: (
            q.role == "resetting" and r.status_code == 302 and location(r) == SECURITY
        ),
        # Without a reset under way the view sends the visitor back.
        {"anonymous": (LOGIN,), "verified": (SECURITY,)},
        checks=True,
        choices=code_choices,
        writes="otp_totp.totpdevice",
    ),
    "accounts:new-recovery-codes": Recipe(
        fixed("/accounts/security/recovery-codes/"),
        ("POST",),
        SECURITY_FORM,
        confirm_form("codes"),
        lambda r, q: (
            r.status_code == 200 and rendered(r, "accounts/recovery_codes.html")
        ),
        LOGIN_FIRST,
        checks=True,
        choices=confirm_choices("codes"),
        writes="otp_static.statictoken",
    ),
    "accounts:delete": Recipe(
        fixed("/accounts/security/delete/"),
        ("POST",),
        SECURITY_FORM,
        confirm_form("delete"),
        lambda r, q: r.status_code == 200 and rendered(r, "accounts/deleted.html"),
        LOGIN_FIRST,
        checks=True,
        choices=confirm_choices("delete"),
        writes="accounts.user",
    ),
    "privacy:page": Recipe(
        fixed("/accounts/my-data/"), ("GET",), SECURITY_FORM, refusals=LOGIN_FIRST
    ),
    "privacy:download": Recipe(
        fixed("/accounts/my-data/download.json"),
        ("GET",),
        SECURITY_FORM,
        refusals=LOGIN_FIRST,
    ),
    "privacy:end-session": Recipe(
        session_path,
        ("POST",),
        SECURITY_FORM,
        # Only a session of one's own, other than this one, can be ended.
        accepted=lambda r, q: (
            q.variant == "alice's other"
            and r.status_code == 302
            and location(r) == "/accounts/my-data/?ended=1"
        ),
        refusals=LOGIN_FIRST,
        variants=(
            *("alice's other", "alice's other", "this one", "carol's"),
            *("missing", "zero", "past bigint", "huge"),
        ),
        writes="accounts.usersession",
    ),
    # Pages that take no form: a POST is refused (or, for the root, sent on
    # to the chat like a GET).
    "root": Recipe(
        fixed("/"),
        ("GET", "POST"),
        ("verified", "anonymous"),
        accepted=lambda r, q: r.status_code == 302 and location(r) == "/chat/",
        refusals={"anonymous": (LOGIN,)},
    ),
    "chat:home": Recipe(
        fixed("/chat/"), ("GET", "POST"), SECURITY_FORM, refusals=LOGIN_FIRST
    ),
    "chat:group": Recipe(
        group_page,
        ("GET", "POST"),
        SECURITY_FORM,
        refusals=LOGIN_FIRST,
        variants=("id", "id with dashes"),
    ),
    "chat:join": Recipe(
        join_page,
        ("GET", "POST"),
        ("anonymous", "verified"),
        variants=("plain", "hash as %23"),
    ),
}
POSTS = [name for name in sorted(RECIPES) if "POST" in RECIPES[name].methods]
GETS = [name for name in sorted(RECIPES) if "GET" in RECIPES[name].methods]


def form_route_names() -> set[str]:
    """Every named route but the API's, the event stream and the admin."""
    found: set[str] = set()

    def walk(entries: list[Any], namespace: str, prefix: str) -> None:
        for entry in entries:
            if isinstance(entry, URLResolver):
                inner = namespace or (entry.namespace or "")
                walk(entry.url_patterns, inner, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                path = prefix + str(entry.pattern)
                if namespace in ("api", "admin") or path.startswith("events/"):
                    continue
                assert entry.name, f"route {path!r} has no name"
                found.add(f"{namespace}:{entry.name}" if namespace else entry.name)

    walk(get_resolver().url_patterns, "", "")
    return found


def test_every_form_route_has_a_recipe() -> None:
    assert form_route_names() == set(RECIPES)


# --------------------------------------------------------------- the inputs


class Raw(bytes):
    """Bytes written into a form body as they are, not percent-encoded."""


ODD_TEXT = [
    *("", " ", "\x00", "A\x00", "\r\nINFO forged line", "é", "💥" * 10, "null"),
    *("<script>alert(1)</script>", "' OR 1=1 --", "%00", "../../etc/passwd"),
    *("\u202e", "\ufeff", "\u0000" * 8, "a" * 151, "1" * 33),
]
ODD_BYTES = [
    *(b"\xff", b"\xfe\xff", b"\xc3", b"\x80abc", b"\xed\xa0\x80", b"\xed\xbf\xbf"),
    *(b"a\xed\xa0\x80b", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x00\xff"),
]
RAW_ESCAPES = [b"%", b"%z", b"%zz", b"%f", b"%%41", b"%ED%A0%80", b"%C0%AF", b"+%2B+"]


def huge(size: int) -> str:
    return "A" * size


VALUES = st.one_of(
    st.sampled_from(ODD_TEXT),
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
    st.sampled_from(ODD_BYTES),
    st.binary(max_size=24),
    st.sampled_from(RAW_ESCAPES).map(Raw),
    st.sampled_from([200, 4097, 70_000]).map(huge),
)
EXTRA_NAMES = [
    *("next", "csrfmiddlewaretoken", "username", "is_staff", "is_superuser"),
    *("code[]", "password[]", "", "\x00", "é", "user_id", "device", "confirmed"),
]
NEXT_VALUES = [
    *("/chat/", "//evil.example/", "https://evil.example/", "/\\evil.example"),
    *("javascript:alert(1)", "%00", "/a%0d%0aSet-Cookie:%20x=1", "/%E2%80%AE"),
    *("/chat/%00", "http:/evil", "%2F%2Fevil", "/" + "a" * 3000, "%ff", "%"),
]
QUERIES = st.lists(
    st.tuples(
        st.sampled_from(["next", "next", "ended", "x", "", "next[]", "%00"]),
        st.one_of(
            st.sampled_from(NEXT_VALUES),
            st.text(max_size=10).map(lambda text: quote(text, safe="")),
        ),
    ),
    max_size=3,
).map(lambda pairs: "&".join(f"{key}={value}" for key, value in pairs))

Pairs = list[tuple[str | bytes, str | bytes]]


# Most examples keep the body readable, so that the views' checks are what
# answers; Django itself refuses the last two kinds before any view runs.
FORM_KINDS = [
    *("valid",) * 2 + ("one field",) * 3 + ("right kind",) * 5,
    *("many fields", "repeated key", "extra fields", "empty"),
    *("too many fields", "too large"),
]


@st.composite
def bent_form(
    draw: st.DrawFn, valid: dict[str, str], choices: dict[str, list[str]]
) -> tuple[str, Pairs]:
    """The valid form bent in one of several ways; returns the way too."""
    kind = draw(st.sampled_from(FORM_KINDS))
    pairs: Pairs = list(valid.items())
    if kind == "one field" and pairs:
        at = draw(st.integers(0, len(pairs) - 1))
        if draw(st.integers(0, 3)) == 0:
            del pairs[at]
        else:
            pairs[at] = (pairs[at][0], draw(VALUES))
    elif kind == "right kind" and choices:
        name = draw(st.sampled_from(sorted(choices)))
        chosen = draw(st.sampled_from(choices[name]))
        pairs = [(k, chosen if k == name else v) for k, v in pairs]
    elif kind == "many fields":
        bent: Pairs = []
        for pair in pairs:
            action = draw(st.sampled_from(["keep", "keep", "replace", "drop"]))
            if action == "replace":
                bent.append((pair[0], draw(VALUES)))
            elif action == "keep":
                bent.append(pair)
        pairs = bent
    elif kind == "repeated key" and pairs:
        repeated = draw(st.sampled_from(pairs))
        other = (repeated[0], draw(VALUES))
        repeat = [other, repeated] if draw(st.booleans()) else [other]
        pairs = pairs + repeat if draw(st.booleans()) else repeat + pairs
    elif kind == "extra fields":
        names = st.one_of(st.sampled_from(EXTRA_NAMES), st.text(max_size=8))
        pairs += draw(st.lists(st.tuples(names, VALUES), min_size=1, max_size=3))
    elif kind == "empty":
        pairs = []
    elif kind == "too many fields":
        pairs += [(f"f{n}", "x") for n in range(1200)]
    elif kind == "too large":
        pairs += [("padding", huge(600 * 1024))]
    return kind, pairs


def as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def urlencoded(pairs: Pairs) -> bytes:
    def part(value: str | bytes) -> bytes:
        if isinstance(value, Raw):
            return bytes(value)
        return quote_from_bytes(as_bytes(value), safe="").encode("ascii")

    return b"&".join(part(key) + b"=" + part(value) for key, value in pairs)


BOUNDARY = "hwFuzzBoundary7"


def multipart(pairs: Pairs, file_part: bool) -> bytes:
    lines: list[bytes] = []
    for key, value in pairs:
        name = as_bytes(key).replace(b'"', b"")
        lines.append(f"--{BOUNDARY}".encode())
        disposition = b'Content-Disposition: form-data; name="' + name + b'"'
        if file_part:
            disposition += b'; filename="note.txt"'
        lines += [disposition, b"", as_bytes(value)]
    lines.append(f"--{BOUNDARY}--".encode())
    return b"\r\n".join(lines) + b"\r\n"


@dataclass(frozen=True)
class Request:
    role: str
    variant: str
    kind: str
    body: bytes
    content_type: str
    token_in: str
    query: str
    condition: str
    # The values of secret fields that were sent, to look for in the logs.
    secrets: tuple[str, ...]


ENCODINGS = [
    *("form",) * 14,
    *("multipart",) * 3,
    *("multipart with a file", "multipart, broken", "multipart, no boundary"),
    *("json", "text", "none", "form as utf-16", "form, odd charset"),
]
CONDITIONS = ["as usual"] * 7 + ["address limited", "account locked", "codes paused"]


def is_secret(name: str | bytes) -> bool:
    text = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
    return "password" in text or "code" in text


def secret_values(pairs: Pairs) -> tuple[str, ...]:
    found = []
    for key, value in pairs:
        if not is_secret(key):
            continue
        text = as_bytes(value).decode("utf-8", "replace")
        # Short or repetitive values could turn up in a log line by chance.
        if len(text) >= 8 and len(set(text)) >= 4 and len(text) < 5000:
            found.append(text)
    return tuple(found)


@st.composite
def requests(draw: st.DrawFn, recipe: Recipe, world: World, method: str) -> Request:
    kind, pairs = draw(bent_form(recipe.form(world), recipe.choices(world)))
    encoding = draw(st.sampled_from(ENCODINGS))
    token_in = draw(st.sampled_from(["header"] * 6 + ["field", "both"]))
    fields = list(pairs)
    if token_in != "header":
        fields.append(("csrfmiddlewaretoken", world.visitors["anonymous"].csrf))
    if encoding.startswith("multipart"):
        body = multipart(fields, encoding == "multipart with a file")
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
        if encoding == "multipart, broken":
            body = body[: draw(st.integers(0, max(0, len(body) - 1)))]
        if encoding == "multipart, no boundary":
            content_type = "multipart/form-data"
    elif encoding == "json":
        plain = {
            as_bytes(k).decode("utf-8", "replace"): as_bytes(v).decode(
                "utf-8", "replace"
            )
            for k, v in fields
        }
        body, content_type = json.dumps(plain).encode(), "application/json"
    else:
        body = urlencoded(fields)
        content_type = {
            "form": "application/x-www-form-urlencoded",
            "text": "text/plain",
            "none": "",
            "form as utf-16": "application/x-www-form-urlencoded; charset=utf-16",
            "form, odd charset": "application/x-www-form-urlencoded; charset=nope",
        }[encoding]
    if method == "GET":
        body, content_type = b"", ""
    return Request(
        role=draw(st.sampled_from(recipe.roles)),
        variant=draw(st.sampled_from(recipe.variants)),
        kind=f"{kind}, {encoding}",
        body=body,
        content_type=content_type,
        token_in=token_in,
        query=draw(QUERIES),
        condition=draw(st.sampled_from(CONDITIONS)) if recipe.checks else "as usual",
        secrets=secret_values(pairs),
    )


# ------------------------------------------------------------- the checks


def tracked_columns(model: type[models.Model], checks: bool) -> list[str]:
    label = model._meta.label_lower
    skip: tuple[str, ...] = ()
    if label == "accounts.usersession":
        skip = TRACKING
    elif checks and model in (TOTPDevice, StaticDevice):
        skip = THROTTLING
    return [
        str(f.column)
        for f in model._meta.concrete_fields
        if f.column not in skip and f.name not in skip
    ]


def tracked_models(checks: bool) -> list[type[models.Model]]:
    found = []
    for model in apps.get_models():
        if model._meta.proxy:
            continue
        if checks and model is LoginLock:
            continue
        found.append(model)
    return found


def table_states(checks: bool, own_sessions: list[str]) -> dict[str, Any]:
    """A digest of every tracked row of every table, leaving out the
    requesting client's own sessions and the columns a refusal may write."""
    quote_name = connection.ops.quote_name
    session_table = Session._meta.db_table
    states: dict[str, Any] = {}
    queries: list[str] = []
    labels: list[str] = []
    for model in tracked_models(checks):
        table = model._meta.db_table
        columns = tracked_columns(model, checks)
        where = ""
        if table == session_table:
            columns = ["session_key"]
            where = " WHERE NOT (t.session_key = ANY(%(own)s))"
        if connection.vendor != "postgresql":
            rows = model._default_manager.order_by("pk")
            if table == session_table:
                rows = rows.exclude(session_key__in=own_sessions)
            states[model._meta.label_lower] = list(
                rows.values_list(
                    *[
                        f.attname
                        for f in model._meta.concrete_fields
                        if f.column in columns
                    ]
                )
            )
            continue
        picked = ", ".join(f"t.{quote_name(c)}" for c in columns)
        # Names from the models' metadata, quoted; the keys are a parameter.
        inner = f"(SELECT {picked} FROM {quote_name(table)} t{where})"  # noqa: S608
        queries.append(f"({ROWS_DIGEST} FROM {inner} t)")
        labels.append(model._meta.label_lower)
    if queries:
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(queries), {"own": own_sessions})
            states.update(zip(labels, cursor.fetchone(), strict=True))
    return states


def session_cookie(client: SecureClient) -> str:
    cookie = client.cookies.get(django_settings.SESSION_COOKIE_NAME)
    return str(cookie.value) if cookie is not None else ""


def forget_cached_session(key: str) -> None:
    """Drop the cache's copy of a session, so the database's (rolled back)
    copy is read next time."""
    if key:
        store = import_module(django_settings.SESSION_ENGINE).SessionStore
        caches[django_settings.SESSION_CACHE_ALIAS].delete(store(key).cache_key)


@dataclass
class Outcome:
    response: Any
    changed: list[str]


def lock_everyone() -> None:
    until = timezone.now() + timedelta(minutes=10)
    for name in ("alice", "bob"):
        LoginLock.objects.update_or_create(
            key=lockout.username_key(name),
            defaults={"locked_until": until, "updated_at": timezone.now()},
        )


def pause_codes() -> None:
    for model in (TOTPDevice, StaticDevice):
        model.objects.update(
            throttling_failure_count=8, throttling_failure_timestamp=timezone.now()
        )


@contextmanager
def condition(name: str) -> Iterator[None]:
    if name != "address limited":
        yield
        return
    rates = dict.fromkeys(django_settings.HASHWHISPER_RATE_LIMITS, "1/h")
    prefix = f"rl-fuzz-{secrets.token_hex(6)}:"
    with override_settings(
        HASHWHISPER_RATE_LIMITS=rates, RATELIMIT_CACHE_PREFIX=prefix
    ):
        request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1")
        for action in rates:
            limits.count(request, action)
        yield


def exchange(world: World, recipe: Recipe, method: str, request: Request) -> Outcome:
    """Send ``request`` and say what it changed; then roll its writes back
    and restore the client's cookies and cached session."""
    visit = world.visitors[request.role]
    client = visit.client
    cookies = copy.deepcopy(client.cookies)
    before_key = session_cookie(client)
    headers = {"Origin": "https://testserver"}
    if request.token_in != "field":
        headers["X-CSRFToken"] = visit.csrf
    path = recipe.path(world, request.variant)
    after_key = ""
    try:
        with condition(request.condition), rolled_back():
            if request.condition == "account locked":
                lock_everyone()
            elif request.condition == "codes paused":
                pause_codes()
            before = table_states(recipe.checks, [before_key])
            response = client.generic(
                method,
                path,
                request.body,
                content_type=request.content_type,
                headers=headers,
                QUERY_STRING=request.query,
            )
            after_key = session_cookie(client)
            after = table_states(recipe.checks, [before_key, after_key])
    finally:
        client.cookies = cookies
        forget_cached_session(before_key)
        forget_cached_session(after_key)
    changed = [name for name in before if before[name] != after[name]]
    return Outcome(response, changed)


def shows_form_error(response: Any) -> bool:
    text = response.content.decode("utf-8", "replace")
    return 'class="alert alert-danger"' in text or "invalid-feedback d-block" in text


def shows_error_page(response: Any) -> bool:
    text = response.content.decode("utf-8", "replace")
    return 'data-testid="error-message"' in text


def assert_answer(
    recipe: Recipe, method: str, request: Request, outcome: Outcome
) -> str:
    """Check one answer; return a short description of it for statistics."""
    response = outcome.response
    status = response.status_code
    assert status < 500, response.content[:2000]
    if 300 <= status < 400:
        target = location(response)
        # Never a redirect off the site, whatever ``next`` said.
        assert target.startswith("/") and not target.startswith(("//", "/\\")), target
    if recipe.accepted(response, request):
        if method == "GET":
            assert outcome.changed == [], f"a GET changed {outcome.changed}"
        elif recipe.writes:
            assert recipe.writes in outcome.changed, outcome.changed
        return f"accepted {status}"
    assert outcome.changed == [], f"refused with {status} but wrote {outcome.changed}"
    if 300 <= status < 400:
        allowed = recipe.refusals.get(request.role, ())
        assert redirect_path(response) in allowed, (request.role, location(response))
        return f"sent to {redirect_path(response)}"
    if method == "GET" and status == 200:
        # A page shown, or the file of one's data.
        return "shown"
    if status == 405:
        # Django's own answer to a method a view does not take (no body).
        assert set(response["Allow"].split(", ")) <= {"GET", "POST", "HEAD"}
        return "405"
    form_page = any(t.name.startswith("accounts/") for t in response.templates)
    if form_page:
        assert status in (200, 400, 403, 429, 503), status
        assert shows_form_error(response), (
            f"refused with {status} and no error shown:\n"
            + response.content.decode("utf-8", "replace")[-3000:]
        )
        return f"form error {status}"
    assert 400 <= status < 500, status
    assert shows_error_page(response), response.content[:2000]
    return f"error page {status}"


class LogCatcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.texts.append(text + (record.stack_info or ""))


@pytest.fixture
def log_texts() -> Iterator[list[str]]:
    """Every log record of every logger, at every level, as text."""
    catcher = LogCatcher()
    names = ["", *logging.Logger.manager.loggerDict]
    loggers = [logging.getLogger(name) for name in names]
    levels = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    hooked = [
        logger for logger in loggers if logger.name == "root" or not logger.propagate
    ]
    for logger in hooked:
        logger.addHandler(catcher)
    try:
        yield catcher.texts
    finally:
        for logger in hooked:
            logger.removeHandler(catcher)
        for logger, level in levels:
            logger.setLevel(level)


def assert_no_secret_logged(world: World, request: Request, texts: list[str]) -> None:
    known = [PASSWORD, NEW_PASSWORD, *world.recovery_codes]
    known += [totp(world.alice_device).now(), totp(world.bob_device).now()]
    for text in texts:
        for secret in (*known, *request.secrets):
            assert secret not in text, f"a log record holds a secret: {text[:300]}"


def check_request(
    world: World, texts: list[str], name: str, method: str, data: st.DataObject
) -> None:
    recipe = RECIPES[name]
    request = data.draw(requests(recipe, world, method), label="request")
    texts.clear()

    outcome = exchange(world, recipe, method, request)

    event(assert_answer(recipe, method, request, outcome))
    assert_no_secret_logged(world, request, texts)


@pytest.mark.parametrize("name", POSTS)
@settings(max_examples=EXAMPLES_POST, **FUZZ_SETTINGS)
@given(data=st.data())
def test_bent_forms_are_refused_clearly_and_change_nothing(
    form_world: World, log_texts: list[str], name: str, data: st.DataObject
) -> None:
    check_request(form_world, log_texts, name, "POST", data)


@settings(max_examples=EXAMPLES_GET, **FUZZ_SETTINGS)
@given(data=st.data())
def test_pages_take_any_query_string_and_change_nothing(
    form_world: World, log_texts: list[str], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(GETS), label="route")
    check_request(form_world, log_texts, name, "GET", data)


def test_other_methods_are_refused_and_change_nothing(form_world: World) -> None:
    for name, recipe in sorted(RECIPES.items()):
        for method in ("PUT", "PATCH", "DELETE", "OPTIONS"):
            role = "verified" if "verified" in recipe.roles else recipe.roles[0]
            request = Request(
                role,
                recipe.variants[0],
                "",
                b"a=1",
                "application/x-www-form-urlencoded",
                "header",
                "",
                "as usual",
                (),
            )

            outcome = exchange(form_world, recipe, method, request)

            status = outcome.response.status_code
            expected = 302 if name == "root" else 405
            assert status == expected, (name, method, status)
            assert outcome.changed == [], (name, method, outcome.changed)


# ------------------------------------------- inputs the fuzz found, kept


def plain_request(
    role: str, body: bytes, content_type: str, variant: str = ""
) -> Request:
    return Request(role, variant, "", body, content_type, "header", "", "as usual", ())


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("accounts:register", "anonymous"),
        ("accounts:login", "anonymous"),
        ("accounts:code", "pending"),
        ("accounts:recovery", "pending"),
        ("accounts:enrol", "enrolling"),
        ("accounts:new-authenticator", "resetting"),
    ],
)
def test_a_form_posted_as_json_is_answered_with_the_missing_fields(
    form_world: World, name: str, role: str
) -> None:
    # The views built their form from ``request.POST or None``: a POST with
    # no form fields (JSON, or every field sent as a file) made an unbound
    # form, which has no errors, so the page came back as if it had been
    # opened, with nothing to say what was wrong.
    recipe = RECIPES[name]
    body = json.dumps(recipe.form(form_world)).encode()

    outcome = exchange(
        form_world, recipe, "POST", plain_request(role, body, "application/json")
    )

    assert outcome.response.status_code == 200
    assert "This field is required." in outcome.response.content.decode()
    assert outcome.changed == []


def test_a_code_sent_as_a_file_part_is_answered_with_the_missing_field(
    form_world: World,
) -> None:
    body = multipart([("code", totp(form_world.alice_device).now())], file_part=True)
    request = plain_request(
        "pending", body, f"multipart/form-data; boundary={BOUNDARY}"
    )

    outcome = exchange(form_world, RECIPES["accounts:code"], "POST", request)

    assert outcome.response.status_code == 200
    assert "This field is required." in outcome.response.content.decode()
    assert outcome.changed == []


@pytest.mark.parametrize(
    ("variant", "status", "message"),
    [
        ("this one", 400, "This is the session you are using. Log out to end it."),
        ("carol's", 404, "No such session. It may have ended already."),
        ("missing", 404, "No such session. It may have ended already."),
        ("past bigint", 404, "No such session. It may have ended already."),
    ],
)
def test_ending_a_session_that_cannot_be_ended_says_so(
    form_world: World, variant: str, status: int, message: str
) -> None:
    # The view answered every such request with the page that reads "That
    # session has been ended.", although nothing had been ended.
    request = plain_request(
        "verified", b"", "application/x-www-form-urlencoded", variant
    )

    outcome = exchange(form_world, RECIPES["privacy:end-session"], "POST", request)

    response = outcome.response
    assert response.status_code == status
    assert f'data-testid="error-message">{message}<' in response.content.decode()
    assert outcome.changed == []


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (
            urlencoded([(f"f{n}", "x") for n in range(1200)]),
            "application/x-www-form-urlencoded",
            "The form sent more fields than this server accepts.",
        ),
        (
            urlencoded([("password", huge(600 * 1024))]),
            "application/x-www-form-urlencoded",
            "The form sent more data than this server accepts.",
        ),
        (
            multipart([(f"f{n}", "x") for n in range(101)], file_part=True),
            f"multipart/form-data; boundary={BOUNDARY}",
            "The form sent more files than this server accepts.",
        ),
        (
            multipart([("username", "alice")], file_part=False),
            "multipart/form-data",
            "The form data could not be read.",
        ),
    ],
    ids=["too many fields", "too large", "too many files", "no boundary"],
)
def test_a_form_django_cannot_read_is_answered_with_the_reason(
    form_world: World, body: bytes, content_type: str, message: str
) -> None:
    # Django refuses these bodies before any view runs; the page said only
    # "Bad request."
    request = plain_request("anonymous", body, content_type)

    outcome = exchange(form_world, RECIPES["accounts:login"], "POST", request)

    response = outcome.response
    assert response.status_code == 400
    assert f'data-testid="error-message">{message}<' in response.content.decode()
    assert outcome.changed == []
