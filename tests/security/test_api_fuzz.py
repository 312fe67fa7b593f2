"""Property: whatever body and query string a signed-in, verified member
sends to the JSON API, the answer is never a 500, every refusal is JSON
with a sentence under ``"error"``, and a refused request writes nothing.

The routes are the URL patterns of the ``api`` namespace, read from the URL
configuration; ``test_every_api_route_has_a_recipe`` fails when one has no
recipe below, so a new endpoint cannot be left out silently. A recipe names
the methods a route takes and a valid-looking body for them. The fuzz
bends that body (a field of the wrong type or missing, a value of the
right type the server must still weigh, extra fields, non-object JSON,
broken JSON and bytes, bodies over Django's memory limit, other content
types), adds odd query strings, now and then names a group or blob id with
something after it, and sends it as a member whose session passed both
login steps, with the CSRF token and origin a browser sends.

Each example runs in a savepoint that is rolled back, so every example
starts from the same group. Around the request, every row of every table
(but the session bookkeeping any request may touch) and the blob folder
are read; a refused request must leave both as they were. Failures print
the request that caused them.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.apps import apps
from django.db import connection, models
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import event, given, settings
from hypothesis import strategies as st

from accounts.models import User
from media_vault.models import Blob
from tests.conftest import SecureClient, b64, group_id, make_user, sealed
from tests.conftest import verified_client as signed_in
from tests.media_vault import blobformat
from tests.security.fuzzing import FUZZ_SETTINGS, ROWS_DIGEST, rolled_back

pytestmark = pytest.mark.django_db

# Written on ordinary requests by design: the session and its bookkeeping.
VOLATILE = {"sessions.session", "accounts.usersession"}
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# Examples per route and method: a body is bent in many more ways than a
# query string that the route ignores.
EXAMPLES_WITH_INPUT = 40
EXAMPLES_QUERY_ONLY = 12


# ---------------------------------------------------------------- the world


@dataclass
class World:
    """Alice owns a group Bob belongs to; Carol is in no group. Alice has
    one file uploaded and one reserved."""

    clients: dict[str, tuple[SecureClient, str]]
    users: dict[str, User]
    group: str
    token: str
    own_message: int
    own_nonce: str
    others_message: int
    pending_blob: str
    pending_data: bytes
    stored_blob: str
    media_root: Path


def csrf_client(user: User, device: Any) -> tuple[SecureClient, str]:
    """A verified client that enforces CSRF, and the token its page holds."""
    client = SecureClient(enforce_csrf_checks=True)
    client.cookies = signed_in(user, device).cookies
    page = client.get("/accounts/security/")
    assert page.status_code == 200
    token = page.context["csrf_token"] if page.context else None
    assert token, "the page carries no CSRF token"
    return client, str(token)


def send(
    client: SecureClient,
    csrf: str,
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str = "application/json",
    query: str = "",
) -> Any:
    return client.generic(
        method,
        path,
        body,
        content_type=content_type,
        headers={"X-CSRFToken": csrf, "Origin": "https://testserver"},
        QUERY_STRING=query,
    )


def ok_json(client: tuple[SecureClient, str], path: str, body: Any) -> Any:
    response = send(*client, "POST", path, json.dumps(body).encode())
    assert response.status_code in (200, 201), response.content
    return response.json()


def new_group_body() -> dict[str, Any]:
    return {
        "id": group_id(),
        "salt": b64(secrets.token_bytes(16)),
        "iterations": 600_000,
        "token": b64(secrets.token_bytes(32)),
        "name": sealed(20),
    }


@pytest.fixture
def fuzz_world(db: None, settings: Any, tmp_path: Path) -> World:
    # Password hashing is not under test; Argon2 costs ~0.1 s per user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.HASHWHISPER_MEDIA_ROOT = tmp_path / "blobs"
    # Hundreds of posts a minute, each bent another way, all counted.
    settings.HASHWHISPER_MESSAGES_PER_MINUTE = 10**9
    # Likewise uploads and new groups (chat.limits).
    settings.HASHWHISPER_UPLOADS_PER_MINUTE = 10**9
    settings.HASHWHISPER_UPLOAD_BYTES_PER_HOUR = 10**15
    settings.HASHWHISPER_GROUPS_PER_HOUR = 10**9
    settings.HASHWHISPER_GROUP_CHANGES_PER_HOUR = 10**9
    accounts = {role: make_user(role) for role in ("alice", "bob", "carol")}
    clients = {role: csrf_client(*account) for role, account in accounts.items()}
    alice, bob = clients["alice"], clients["bob"]

    body = new_group_body()
    gid = ok_json(alice, "/api/groups/", body)["id"]
    ok_json(bob, f"/api/groups/{gid}/join", {"token": body["token"]})
    own = ok_json(alice, f"/api/groups/{gid}/messages", {**sealed(), "epoch": 1})
    other = ok_json(bob, f"/api/groups/{gid}/messages", {**sealed(), "epoch": 1})

    data = blobformat.encrypt(secrets.token_bytes(32), b"picture", b"aad", chunk=4096)
    blobs = f"/api/groups/{gid}/blobs"
    stored = ok_json(alice, blobs, {"type": "image/png", "size": len(data)})["id"]
    put = send(*alice, "PUT", f"{blobs}/{stored}", data, "application/octet-stream")
    assert put.status_code == 201, put.content
    pending = ok_json(alice, blobs, {"type": "image/png", "size": len(data)})["id"]

    return World(
        clients=clients,
        users={role: account[0] for role, account in accounts.items()},
        group=gid,
        token=body["token"],
        own_message=own["id"],
        own_nonce=own["nonce"],
        others_message=other["id"],
        pending_blob=pending,
        pending_data=data,
        stored_blob=stored,
        media_root=settings.HASHWHISPER_MEDIA_ROOT,
    )


# ------------------------------------------------------------- the recipes


@dataclass(frozen=True)
class Recipe:
    """How to reach one API route, and what a valid body for it looks like.

    ``path`` takes the world, the group id to name (usually the real one)
    and a drawn variant (which message or blob the path names). ``choices``
    lists values of the right type that the server must still weigh (other
    people, other epochs, a nonce already used). ``raw`` marks a body of
    bytes rather than JSON. Roles are drawn with repetition: owner-only
    routes mostly get the owner, so the body is read rather than refused
    with 403 first.
    """

    path: Callable[[World, str, str], str]
    methods: tuple[str, ...]
    body: Callable[[World], Any] = lambda w: {}
    choices: Callable[[World], dict[str, list[Any]]] = lambda w: {}
    variants: tuple[str, ...] = ("",)
    roles: tuple[str, ...] = ("alice", "alice", "bob")
    raw: bool = False


def in_group(suffix: str) -> Callable[[World, str, str], str]:
    return lambda w, group, _: f"/api/groups/{group}/{suffix}"


def fixed(path: str) -> Callable[[World, str, str], str]:
    return lambda w, group, _: path


def message_path(w: World, group: str, variant: str) -> str:
    ids = {
        "own": w.own_message,
        "others": w.others_message,
        "missing": w.others_message + 1000,
        "huge": 10**30,
        "zero": 0,
    }
    return f"/api/groups/{group}/messages/{ids[variant]}"


def blob_path(w: World, group: str, variant: str) -> str:
    ids = {
        "pending": w.pending_blob,
        "stored": w.stored_blob,
        "bogus": "A" * 32,
        "stored, then a newline": w.stored_blob + "%0A",
        "stored, then NUL": w.stored_blob + "%00",
    }
    return f"/api/groups/{group}/blobs/{ids[variant]}"


# The group id a path names: the real group mostly, else one of these.
GROUP_VARIANTS = ["the group"] * 8 + [
    *("unknown", "then NUL", "then a newline", "then a letter"),
    *("one short", "then non-ASCII", "then a dot-dot"),
]


def group_in_path(w: World, variant: str) -> str:
    return {
        "the group": w.group,
        "unknown": "A" * 22,
        "then NUL": w.group + "%00",
        "then a newline": w.group + "%0A",
        "then a letter": w.group + "x",
        "one short": w.group[:-1],
        "then non-ASCII": w.group + "%C3%A9",
        "then a dot-dot": w.group + "..",
    }[variant]


def user_ids(w: World) -> list[Any]:
    people = [user.pk for user in w.users.values()]
    return [*people, 0, max(people) + 1000]


def rotation(w: World) -> dict[str, Any]:
    return {
        "epoch": 2,
        "salt": b64(secrets.token_bytes(16)),
        "iterations": 600_000,
        "token": b64(secrets.token_bytes(32)),
        "name": sealed(20),
        "description": sealed(30),
    }


def rotation_choices(w: World) -> dict[str, list[Any]]:
    return {
        "epoch": [0, 1, 3, 2**31 - 1],
        "iterations": [119_999, 120_000, 10_000_000, 10_000_001],
        "salt": [b64(b"s" * 15), b64(b"s" * 64), b64(b"s" * 65)],
        "token": [w.token, b64(b"t" * 31), b64(b"t" * 33)],
        "description": [None],
    }


def message_choices(w: World) -> dict[str, list[Any]]:
    blobs = [w.stored_blob, w.pending_blob, "A" * 32]
    return {
        "epoch": [0, 2, 2**31 - 1],
        "nonce": [w.own_nonce],
        "blobs": [[], *[[b] for b in blobs], [w.stored_blob] * 2, blobs * 4],
        "ciphertext": ["", b64(b"c" * (64 * 1024 + 1))],
    }


def bob_as_target(w: World) -> dict[str, Any]:
    return {"user": w.users["bob"].pk}


def target_choices(w: World) -> dict[str, list[Any]]:
    return {"user": user_ids(w)}


RECIPES: dict[str, Recipe] = {
    "groups": Recipe(
        fixed("/api/groups/"),
        ("GET", "POST"),
        lambda w: new_group_body(),
        lambda w: {"id": [w.group], "iterations": [119_999, 10_000_001]},
    ),
    "group-params": Recipe(in_group("params"), ("GET",), roles=("carol",)),
    "group-join": Recipe(
        in_group("join"),
        ("POST",),
        lambda w: {"token": w.token},
        lambda w: {"token": [b64(b"t" * 32), b64(b"t" * 31)]},
        roles=("carol", "carol", "bob"),
    ),
    "group-leave": Recipe(in_group("leave"), ("POST",), roles=("bob", "alice")),
    "group-members": Recipe(in_group("members"), ("GET",)),
    "group-remove": Recipe(
        in_group("remove"), ("POST",), bob_as_target, target_choices
    ),
    "group-owner": Recipe(in_group("owner"), ("POST",), bob_as_target, target_choices),
    "group-rotate": Recipe(in_group("rotate"), ("POST",), rotation, rotation_choices),
    "group-chain": Recipe(in_group("chain"), ("GET",)),
    "messages": Recipe(
        in_group("messages"),
        ("GET", "POST"),
        lambda w: {**sealed(), "epoch": 1, "blobs": [w.stored_blob]},
        message_choices,
    ),
    "blobs": Recipe(
        in_group("blobs"),
        ("POST",),
        lambda w: {"type": "image/png", "size": 4096},
        lambda w: {
            "type": [" Image/PNG ", "image/svg+xml", "text/html"],
            "size": [0, 31, 32, 25 * 1024 * 1024, 25 * 1024 * 1024 + 1, 2**63],
        },
    ),
    "blob": Recipe(
        blob_path,
        ("GET", "PUT", "DELETE"),
        lambda w: w.pending_data,
        variants=(
            *("pending", "pending", "pending", "stored", "stored", "bogus"),
            *("stored, then a newline", "stored, then NUL"),
        ),
        raw=True,
    ),
    "group-retention": Recipe(
        in_group("retention"),
        ("GET", "POST"),
        lambda w: {"days": 3},
        lambda w: {"days": [None, 0, 1, 7, 8, 2**15, 2**31]},
    ),
    "message-detail": Recipe(
        message_path, ("DELETE",), variants=("own", "others", "missing", "huge", "zero")
    ),
    "read-marker": Recipe(
        in_group("read"),
        ("POST",),
        lambda w: {"message_id": w.others_message},
        lambda w: {"message_id": [0, w.own_message, 2**62, 2**62 + 1, -1]},
    ),
    "group-info": Recipe(
        in_group("info"),
        ("PATCH",),
        lambda w: {"name": sealed(20), "description": sealed(30)},
        lambda w: {"name": [None], "description": [None, sealed(4097)]},
    ),
    "read-state": Recipe(fixed("/api/read-state/"), ("GET",)),
    "presence": Recipe(
        fixed("/api/presence"),
        ("POST",),
        lambda w: {"state": "away"},
        lambda w: {"state": ["online", "offline", "typing"]},
    ),
    "group-presence": Recipe(in_group("presence"), ("GET",)),
    "group-typing": Recipe(in_group("typing"), ("POST",)),
}
CASES = [(name, method) for name in sorted(RECIPES) for method in RECIPES[name].methods]
# Reads that take no input but the query string, which they do not read.
QUERY_ONLY = [(name, "GET") for name, method in CASES if method == "GET"]
QUERY_ONLY.remove(("messages", "GET"))
WITH_INPUT = [case for case in CASES if case not in QUERY_ONLY]


def api_route_names() -> set[str]:
    (api,) = [
        entry
        for entry in get_resolver().url_patterns
        if isinstance(entry, URLResolver) and entry.namespace == "api"
    ]
    return {e.name for e in api.url_patterns if isinstance(e, URLPattern) and e.name}


def test_every_api_route_has_a_recipe() -> None:
    assert api_route_names() == set(RECIPES)


# --------------------------------------------------------------- the inputs


class Raw:
    """A token written into the JSON text as it is: no JSON value prints
    as NaN, as a number of thousands of digits, or as deeper nesting than
    the parser's stack allows."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        shown = self.text if len(self.text) <= 20 else self.text[:20] + "..."
        return f"Raw({shown!r})"


RAW_TOKENS = [
    "1" * 5000,
    "-" + "9" * 400,
    "1e999",
    "-0",
    "NaN",
    "-Infinity",
    "01",
    ".5",
    "0x1F",
    "[" * 5000 + "]" * 5000,
    '"\\ud800"',
    '"\\udfff\\ud800x"',
    '"\\u0000"',
    '"A\\u0000A"',
]
EDGE_INTS = [
    *(0, -1, 1, 2**15, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**62, 2**62 + 1),
    *(2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**40),
]
ODD_STRINGS = [
    *("", " ", "NaN", "Infinity", "-1", "1", "1e3", "null", "true"),
    *("\x00", "A\x00", "é", "💥" * 10, "away\x00", "image/png\x00", " IMAGE/PNG "),
    *("image/svg+xml", "text/html", "K" * 101),
    *("====", "QQ=", "QUFB\n", "Zm9v YmFy", "_-_-_-_-_-_-_-_-_-_-_-"),
    *("A" * 22, "A" * 32, "A" * 32 + "\n", "/../../etc/passwd"),
]


def urlsafe(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(EDGE_INTS),
    st.floats(),
    st.text(max_size=24),
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3),
    st.sampled_from(ODD_STRINGS),
    # Valid base64 of the wrong length, and base64 in the wrong alphabet.
    st.binary(max_size=48).map(b64),
    st.binary(max_size=48).map(urlsafe),
    # Past each length limit, and still valid base64.
    st.sampled_from([1400, 6000, 70_000]).map(lambda n: "A" * n),
    st.sampled_from(RAW_TOKENS).map(Raw),
)
ODD_VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def bent_once(draw: st.DrawFn, valid: dict[str, Any]) -> dict[str, Any]:
    """``valid`` with one field, perhaps inside a nested object, replaced or
    dropped: every other check passes, so the one under test is reached."""
    body = copy.deepcopy(valid)
    target = body
    while target:
        key = draw(st.sampled_from(sorted(target)))
        if isinstance(target[key], dict) and draw(st.booleans()):
            target = target[key]
        elif draw(st.integers(0, 3)) == 0:
            del target[key]
            break
        else:
            target[key] = draw(ODD_VALUES)
            break
    return body


@st.composite
def bent(draw: st.DrawFn, valid: dict[str, Any]) -> dict[str, Any]:
    """``valid`` with any number of fields replaced, dropped or bent, and
    perhaps a few extra ones."""
    body: dict[str, Any] = {}
    for key, value in valid.items():
        action = draw(st.sampled_from(["keep", "keep", "replace", "drop", "bend"]))
        if action == "replace":
            body[key] = draw(ODD_VALUES)
        elif action == "bend" and isinstance(value, dict):
            body[key] = draw(bent(value))
        elif action == "bend" and isinstance(value, list):
            body[key] = draw(st.lists(ODD_VALUES, max_size=12))
        elif action != "drop":
            body[key] = value
    extra = draw(st.dictionaries(st.text(max_size=12), ODD_VALUES, max_size=2))
    return {**body, **extra}


def dumps(value: Any, *, ascii_only: bool = True) -> bytes:
    """JSON text of ``value``, with each ``Raw`` written in as it is."""
    raws: list[str] = []

    def placeholder(item: object) -> str:
        assert isinstance(item, Raw), item
        raws.append(item.text)
        return f"\x00raw{len(raws) - 1}\x00"

    text = json.dumps(value, default=placeholder, ensure_ascii=ascii_only)
    for number, raw in enumerate(raws):
        marker = json.dumps(f"\x00raw{number}\x00", ensure_ascii=ascii_only)
        text = text.replace(marker, raw)
    # surrogatepass: a lone surrogate becomes bytes that are not UTF-8.
    return text.encode("utf-8", "surrogatepass")


BROKEN_JSON = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            *(b"", b"{", b"}", b'{"a":}', b"{'a': 1}", b'{"a": 1,}', b"\x00" * 16),
            b"\xff\xfe{\x00}\x00",
            b"\xef\xbb\xbf{}",
            b'{"token": "\xff\xfe"}',
            b'{"state": "away"} trailing',
            b'{"epoch": 1, "epoch": "two"}',
            # Forms, for the form content types: a file part, many fields.
            b'--zz\r\nContent-Disposition: form-data; name="f"; filename="x"'
            b"\r\n\r\nhi\r\n--zz--\r\n",
            b"&".join(b"f%d=%%00" % n for n in range(1200)),
        ]
    ),
)
NOT_OBJECTS = st.one_of(
    st.lists(ODD_VALUES, max_size=3), LEAVES.filter(lambda v: not isinstance(v, dict))
)
BODY_KINDS = ["one field"] * 4 + ["one field, right type"] * 3
BODY_KINDS += ["many fields", "not ASCII", "UTF-16", "not an object", "not JSON"]
BODY_KINDS += ["larger than Django reads into memory"]
TOO_LARGE = 600 * 1024


@st.composite
def json_bodies(
    draw: st.DrawFn, valid: dict[str, Any], choices: dict[str, list[Any]]
) -> bytes:
    kind = draw(st.sampled_from(BODY_KINDS))
    if kind == "one field, right type" and choices:
        key = draw(st.sampled_from(sorted(choices)))
        return dumps({**valid, key: draw(st.sampled_from(choices[key]))})
    if kind.startswith("one field"):
        return dumps(draw(bent_once(valid)))
    if kind == "many fields":
        return dumps(draw(bent(valid)))
    if kind == "not ASCII":
        return dumps(draw(bent(valid)), ascii_only=False)
    if kind == "UTF-16":
        return dumps(draw(bent(valid))).decode("ascii").encode("utf-16")
    if kind == "not an object":
        return dumps(draw(NOT_OBJECTS))
    if kind.startswith("larger"):
        return dumps({**valid, "padding": "A" * TOO_LARGE})
    return draw(BROKEN_JSON)


@st.composite
def raw_bodies(draw: st.DrawFn, valid: bytes) -> bytes:
    kind = draw(st.sampled_from(["valid", "random", "cut", "longer", "flipped"]))
    if kind == "valid":
        return valid
    if kind == "random":
        return draw(st.binary(max_size=200))
    if kind == "cut":
        return valid[: draw(st.integers(0, len(valid) - 1))]
    if kind == "longer":
        return valid + draw(st.binary(min_size=1, max_size=40))
    at = draw(st.integers(0, len(valid) - 1))
    return valid[:at] + bytes([valid[at] ^ 1]) + valid[at + 1 :]


JSON_TYPES = ["application/json"] * 15 + [
    *("application/json; charset=utf-8", "application/json; charset=utf-16"),
    *("APPLICATION/JSON", "application/json-patch+json", "text/plain", ""),
    *("application/x-www-form-urlencoded", "application/octet-stream"),
    *("multipart/form-data", "multipart/form-data; boundary=zz"),
    *("application/json; charset=nonsense", "text/plain; charset=utf-32"),
    "application/x-www-form-urlencoded; charset=utf-16",
]
RAW_TYPES = ["application/octet-stream"] * 6 + ["application/json", "", "image/png"]

CURSOR_VALUES = st.one_of(
    st.sampled_from(
        [
            *("", "0", "-1", "1", "+1", "%201", "1%20", "1.5", "1e3", "0x10"),
            *("%C2%B2", "%D9%A1", "%EF%BC%91", "9" * 18, "9" * 19, "9" * 400),
            *("NaN", "null", "[]", "%00", "%ff", "%", "%zz", "%ED%A0%80"),
        ]
    ),
    st.integers().map(str),
    st.text(max_size=12).map(lambda text: quote(text, safe="")),
)
QUERY_KEYS = ["before", "after", "before", "after", "limit", "before[]", "x", ""]
QUERIES = st.lists(
    st.tuples(st.sampled_from(QUERY_KEYS), CURSOR_VALUES), max_size=3
).map(lambda pairs: "&".join(f"{key}={value}" for key, value in pairs))


@dataclass(frozen=True)
class Request:
    role: str
    group: str
    variant: str
    body: bytes
    content_type: str
    query: str


@st.composite
def requests(draw: st.DrawFn, recipe: Recipe, world: World) -> Request:
    valid = recipe.body(world)
    if recipe.raw:
        body, content_type = draw(raw_bodies(valid)), draw(st.sampled_from(RAW_TYPES))
    else:
        body = draw(json_bodies(valid, recipe.choices(world)))
        content_type = draw(st.sampled_from(JSON_TYPES))
    return Request(
        role=draw(st.sampled_from(recipe.roles)),
        group=draw(st.sampled_from(GROUP_VARIANTS)),
        variant=draw(st.sampled_from(recipe.variants)),
        body=body,
        content_type=content_type,
        query=draw(QUERIES),
    )


# ------------------------------------------------------------- the checks


def tracked_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models()
        if model._meta.label_lower not in VOLATILE and not model._meta.proxy
    ]


def table_states(ignored_blob: str) -> dict[str, Any]:
    """A digest of every row of every tracked table (one query on
    PostgreSQL; the rows themselves elsewhere), leaving out one blob row."""
    tracked = tracked_models()
    if connection.vendor != "postgresql":
        return {
            m._meta.label_lower: list(
                m._default_manager.exclude(pk=ignored_blob).order_by("pk").values_list()
                if m is Blob
                else m._default_manager.order_by("pk").values_list()
            )
            for m in tracked
        }
    quote_name = connection.ops.quote_name
    digests = []
    for model in tracked:
        table = quote_name(model._meta.db_table)
        # Names from the models' metadata, quoted; the blob id is a parameter.
        where = f" WHERE t.{quote_name('id')} <> %(blob)s" if model is Blob else ""
        digests.append(f"({ROWS_DIGEST} FROM {table} t{where})")
    with connection.cursor() as cursor:
        query = "SELECT " + ", ".join(digests)
        cursor.execute(query, {"blob": ignored_blob})
        row = cursor.fetchone()
    return dict(zip([m._meta.label_lower for m in tracked], row, strict=True))


def snapshot(world: World, ignored_blob: str = "") -> dict[str, Any]:
    state = table_states(ignored_blob)
    files = world.media_root.rglob("*") if world.media_root.exists() else []
    state["blob files"] = sorted(str(p) for p in files if p.is_file())
    return state


def pending_state(world: World) -> str:
    blob = Blob.objects.filter(pk=world.pending_blob).first()
    return blob.state if blob else "gone"


@dataclass
class Outcome:
    response: Any
    changed: list[str]
    pending: str


def exchange(world: World, recipe: Recipe, method: str, request: Request) -> Outcome:
    """Send ``request`` and say what it changed; then roll its writes back
    and restore the client's cookies.

    The reserved blob's own row is compared apart: an upload refused once
    its bytes were read gives up the reservation by design
    (media_vault.services.store_upload), and must do nothing else.
    """
    client, csrf = world.clients[request.role]
    cookies = copy.deepcopy(client.cookies)
    path = recipe.path(world, group_in_path(world, request.group), request.variant)
    before = snapshot(world, world.pending_blob)
    try:
        with rolled_back():
            response = send(
                client,
                csrf,
                method,
                path,
                request.body,
                request.content_type,
                request.query,
            )
            after = snapshot(world, world.pending_blob)
            pending = pending_state(world)
    finally:
        client.cookies = cookies
    changed = [name for name in before if before[name] != after[name]]
    return Outcome(response, changed, pending)


def error_message(response: Any) -> str:
    assert response["Content-Type"].startswith("application/json"), response.content
    message = json.loads(response.content).get("error")
    assert isinstance(message, str), response.content
    assert message[:1].isupper() and message.endswith("."), message
    assert len(message) <= 300, message
    return message


def assert_refused_cleanly(outcome: Outcome, upload: bool) -> None:
    status = outcome.response.status_code
    assert outcome.changed == [], f"refused with {status} but wrote {outcome.changed}"
    allowed = {"pending", "gone"} if upload else {"pending"}
    assert outcome.pending in allowed, f"the reservation became {outcome.pending}"


def check_bent_request(
    world: World, name: str, method: str, data: st.DataObject
) -> None:
    recipe = RECIPES[name]
    request = data.draw(requests(recipe, world), label="request")

    outcome = exchange(world, recipe, method, request)

    status = outcome.response.status_code
    assert status < 500, outcome.response.content
    assert not 300 <= status < 400, outcome.response.get("Location")
    if status < 400:
        event(f"{status}")
        if (name, method) == ("messages", "POST"):
            # An accepted message is stored: none is lost.
            assert "chat.message" in outcome.changed, outcome.response.content
        return
    event(f"{status} {error_message(outcome.response)}")
    upload = (method, request.group, request.variant)
    assert_refused_cleanly(outcome, upload == ("PUT", "the group", "pending"))


@pytest.mark.parametrize(("name", "method"), WITH_INPUT)
@settings(max_examples=EXAMPLES_WITH_INPUT, **FUZZ_SETTINGS)
@given(data=st.data())
def test_bad_input_is_refused_clearly_and_changes_nothing(
    fuzz_world: World, name: str, method: str, data: st.DataObject
) -> None:
    check_bent_request(fuzz_world, name, method, data)


@pytest.mark.parametrize(("name", "method"), QUERY_ONLY)
@settings(max_examples=EXAMPLES_QUERY_ONLY, **FUZZ_SETTINGS)
@given(data=st.data())
def test_reads_take_any_query_string(
    fuzz_world: World, name: str, method: str, data: st.DataObject
) -> None:
    check_bent_request(fuzz_world, name, method, data)


def test_other_methods_are_refused_as_json_and_change_nothing(
    fuzz_world: World,
) -> None:
    body = b'{"user": 1, "token": "", "state": "away"}'
    for name, recipe in sorted(RECIPES.items()):
        for method in sorted(set(ALL_METHODS) - set(recipe.methods)):
            request = Request(
                "alice", "the group", recipe.variants[0], body, "application/json", ""
            )

            outcome = exchange(fuzz_world, recipe, method, request)

            response = outcome.response
            assert response.status_code == 405, (name, method, response)
            assert set(response["Allow"].split(", ")) == set(recipe.methods), name
            if method != "HEAD":
                error_message(response)
            assert_refused_cleanly(outcome, upload=False)


# ------------------------------------------- inputs the fuzz found, kept


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_group_id_followed_by_nul_is_no_such_file(
    fuzz_world: World, method: str
) -> None:
    # The id check accepted any text that began with a well-formed id, and
    # PostgreSQL refused the NUL byte of the query: a 500.
    recipe = RECIPES["blob"]
    request = Request(
        "alice",
        "then NUL",
        "stored",
        fuzz_world.pending_data,
        "application/octet-stream",
        "",
    )

    outcome = exchange(fuzz_world, recipe, method, request)

    assert outcome.response.status_code == 404
    assert error_message(outcome.response) == "No such file."
    assert_refused_cleanly(outcome, upload=False)
