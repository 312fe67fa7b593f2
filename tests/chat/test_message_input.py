"""POST /api/groups/<id>/messages: what is stored, and every refusal.

Each refusal must be a 4xx JSON answer with an error message, and must leave
the message table as it was.
"""

import base64
import re
import secrets
from typing import Any

import pytest
from django.conf import settings

from accounts.models import User
from chat.models import Message
from tests.conftest import SecureClient, b64, group_id, sealed, verified_client
from tests.hashwhisper.testing import Response

pytestmark = pytest.mark.django_db

NONCE_LEN = 12
TAG_LEN = 16


def messages_url(gid: str) -> str:
    return f"/api/groups/{gid}/messages"


def message_body(size: int = 40) -> dict[str, Any]:
    """A valid message body: stand-in ciphertext for key epoch 1."""
    return {**sealed(size), "epoch": 1}


def post_json(client: SecureClient, gid: str, body: Any) -> Response:
    return client.post(messages_url(gid), body, content_type="application/json")


def assert_refused(
    response: Response, status: int, rows_before: int, field: str | None = None
) -> str:
    """Check a JSON refusal that wrote nothing; return its error message.

    With ``field``, the message must also name the offending field.
    """
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json().get("error")
    assert isinstance(error, str)
    assert error
    if field is not None:
        assert re.search(rf"\b{field}\b", error), error
    assert Message.objects.count() == rows_before
    return error


def csrf_token_from_page(client: SecureClient) -> str:
    page = client.get("/chat/")
    assert page.status_code == 200
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert match is not None, "the page carries no csrf-token meta tag"
    return match.group(1)


# Accepted input --------------------------------------------------------------


def test_valid_message_is_stored_and_answered_201(
    alice: tuple[User, Any], alice_client: SecureClient, group_with_alice: dict
) -> None:
    gid = group_with_alice["id"]
    body = message_body(100)

    response = post_json(alice_client, gid, body)

    assert response.status_code == 201, response.content
    answer = response.json()
    row = Message.objects.get(pk=answer["id"])
    assert row.group_id == gid
    assert row.sender_id == alice[0].pk
    assert bytes(row.ciphertext) == base64.b64decode(body["ciphertext"])
    assert bytes(row.nonce) == base64.b64decode(body["nonce"])
    assert bytes(row.tag) == base64.b64decode(body["tag"])
    assert answer["ciphertext"] == body["ciphertext"]
    assert answer["sender"] == alice[0].pk


def test_ciphertext_of_exactly_the_limit_is_accepted(
    alice_client: SecureClient, group_with_alice: dict
) -> None:
    limit = settings.HASHWHISPER_MAX_MESSAGE_BYTES
    body = message_body(limit)

    response = post_json(alice_client, group_with_alice["id"], body)

    assert response.status_code == 201, response.content
    assert len(bytes(Message.objects.get().ciphertext)) == limit


def test_same_nonce_in_another_group_is_accepted(
    alice_client: SecureClient, group_with_alice: dict, new_group_body: Any
) -> None:
    other = new_group_body()
    created = alice_client.post("/api/groups/", other, content_type="application/json")
    assert created.status_code == 201
    first = message_body()
    second = {**message_body(), "nonce": first["nonce"]}

    assert post_json(alice_client, group_with_alice["id"], first).status_code == 201
    assert post_json(alice_client, other["id"], second).status_code == 201
    assert Message.objects.count() == 2


# CSRF ------------------------------------------------------------------------


@pytest.fixture
def csrf_client(alice: tuple[User, Any]) -> SecureClient:
    return verified_client(*alice, enforce_csrf_checks=True)


def test_post_without_csrf_token_is_refused_403(
    csrf_client: SecureClient, group_with_alice: dict
) -> None:
    before = Message.objects.count()

    response = csrf_client.post(
        messages_url(group_with_alice["id"]),
        message_body(),
        content_type="application/json",
        headers={"Origin": "https://testserver"},
    )

    assert "CSRF" in assert_refused(response, 403, before)


def test_post_with_csrf_token_from_page_is_accepted(
    csrf_client: SecureClient, group_with_alice: dict
) -> None:
    token = csrf_token_from_page(csrf_client)

    response = csrf_client.post(
        messages_url(group_with_alice["id"]),
        message_body(),
        content_type="application/json",
        headers={"X-CSRFToken": token, "Origin": "https://testserver"},
    )

    assert response.status_code == 201, response.content
    assert Message.objects.count() == 1


def test_post_with_csrf_token_from_foreign_origin_is_refused_403(
    csrf_client: SecureClient, group_with_alice: dict
) -> None:
    token = csrf_token_from_page(csrf_client)
    before = Message.objects.count()

    response = csrf_client.post(
        messages_url(group_with_alice["id"]),
        message_body(),
        content_type="application/json",
        headers={"X-CSRFToken": token, "Origin": "https://evil.example"},
    )

    assert "CSRF" in assert_refused(response, 403, before)


def post_with_null_origin(
    client: SecureClient, gid: str, fetch_site: str | None, with_token: bool = True
) -> Response:
    # Under Referrer-Policy: no-referrer browsers send "Origin: null" on
    # same-origin posts; Sec-Fetch-Site, which scripts cannot set, decides.
    token = csrf_token_from_page(client)
    headers = {"Origin": "null"}
    if with_token:
        headers["X-CSRFToken"] = token
    if fetch_site is not None:
        headers["Sec-Fetch-Site"] = fetch_site
    return client.post(
        messages_url(gid),
        message_body(),
        content_type="application/json",
        headers=headers,
    )


def test_null_origin_from_a_same_origin_fetch_is_accepted(
    csrf_client: SecureClient, group_with_alice: dict
) -> None:
    response = post_with_null_origin(csrf_client, group_with_alice["id"], "same-origin")

    assert response.status_code == 201, response.content
    assert Message.objects.count() == 1


@pytest.mark.parametrize("fetch_site", ["cross-site", "same-site", "none", None])
def test_null_origin_from_elsewhere_is_refused_403(
    csrf_client: SecureClient, group_with_alice: dict, fetch_site: str | None
) -> None:
    response = post_with_null_origin(csrf_client, group_with_alice["id"], fetch_site)

    assert "CSRF" in assert_refused(response, 403, 0)


def test_null_origin_from_a_same_origin_fetch_still_needs_the_token(
    csrf_client: SecureClient, group_with_alice: dict
) -> None:
    response = post_with_null_origin(
        csrf_client, group_with_alice["id"], "same-origin", with_token=False
    )

    assert "CSRF" in assert_refused(response, 403, 0)


def test_post_with_wrong_csrf_token_is_refused_403(
    csrf_client: SecureClient, group_with_alice: dict
) -> None:
    csrf_token_from_page(csrf_client)
    before = Message.objects.count()

    response = csrf_client.post(
        messages_url(group_with_alice["id"]),
        message_body(),
        content_type="application/json",
        headers={"X-CSRFToken": "x" * 64, "Origin": "https://testserver"},
    )

    assert "CSRF" in assert_refused(response, 403, before)


# Membership ------------------------------------------------------------------


def test_non_member_post_is_404_like_unknown_group(
    bob_client: SecureClient, group_with_alice: dict
) -> None:
    before = Message.objects.count()

    member_group = post_json(bob_client, group_with_alice["id"], message_body())
    unknown_group = post_json(bob_client, group_id(), message_body())

    error = assert_refused(member_group, 404, before)
    assert_refused(unknown_group, 404, before)
    assert error == unknown_group.json()["error"]


def test_non_member_read_is_404_like_unknown_group(
    alice_client: SecureClient, bob_client: SecureClient, group_with_alice: dict
) -> None:
    gid = group_with_alice["id"]
    assert post_json(alice_client, gid, message_body()).status_code == 201

    existing = bob_client.get(messages_url(gid))
    unknown = bob_client.get(messages_url(group_id()))

    assert existing.status_code == 404
    assert unknown.status_code == 404
    assert existing.json() == unknown.json()
    assert existing.json()["error"]


# Nonce, tag and base64 -------------------------------------------------------


def test_reused_nonce_is_refused_409(
    alice_client: SecureClient, group_with_alice: dict
) -> None:
    gid = group_with_alice["id"]
    first = message_body()
    assert post_json(alice_client, gid, first).status_code == 201
    before = Message.objects.count()

    response = post_json(alice_client, gid, {**message_body(), "nonce": first["nonce"]})

    assert_refused(response, 409, before)
    assert response.json()["code"] == "nonce_reused"


@pytest.mark.parametrize("length", [0, 11, 13, 16])
def test_nonce_of_wrong_length_is_refused_400(
    alice_client: SecureClient, group_with_alice: dict, length: int
) -> None:
    body = {**message_body(), "nonce": b64(secrets.token_bytes(length))}

    response = post_json(alice_client, group_with_alice["id"], body)

    assert_refused(response, 400, 0, field="nonce")


@pytest.mark.parametrize("length", [0, 12, 15, 17])
def test_tag_of_wrong_length_is_refused_400(
    alice_client: SecureClient, group_with_alice: dict, length: int
) -> None:
    body = {**message_body(), "tag": b64(secrets.token_bytes(length))}

    response = post_json(alice_client, group_with_alice["id"], body)

    assert_refused(response, 400, 0, field="tag")


def stray_characters(value: str) -> str:
    # A lenient decoder drops the "!" and "*" and returns the right length.
    return value[:4] + "!" + value[4:8] + "*" + value[8:]


def without_padding(value: str) -> str:
    assert value.endswith("=")
    return value.rstrip("=")


def url_safe(value: str) -> str:
    return value.replace("+", "-").replace("/", "_")


# Byte strings whose encodings hold "+" and "/" (to test the URL-safe
# alphabet) and end in padding (to test missing padding).
ODD_CIPHERTEXT = b"\xfb\xff\xbf" * 13 + b"\xfb"
ODD_NONCE = b"\xfb\xff\xbf" * 4
ODD_TAG = b"\xfb\xff\xbf" * 5 + b"\xfb"

BAD_BASE64 = {
    "ciphertext stray chars": ("ciphertext", stray_characters(b64(ODD_CIPHERTEXT))),
    "ciphertext no padding": ("ciphertext", without_padding(b64(ODD_CIPHERTEXT))),
    "ciphertext url-safe": ("ciphertext", url_safe(b64(ODD_CIPHERTEXT))),
    "ciphertext newline": ("ciphertext", b64(ODD_CIPHERTEXT)[:8] + "\n"),
    "ciphertext number": ("ciphertext", 12345),
    "ciphertext list": ("ciphertext", [b64(ODD_CIPHERTEXT)]),
    "ciphertext null": ("ciphertext", None),
    "ciphertext non-ascii": ("ciphertext", "AAAA\u00e9AAA"),
    "nonce stray chars": ("nonce", stray_characters(b64(ODD_NONCE))),
    "nonce url-safe": ("nonce", url_safe(b64(ODD_NONCE))),
    "nonce number": ("nonce", 123456789012),
    "nonce bytes as list": ("nonce", list(ODD_NONCE)),
    "tag stray chars": ("tag", stray_characters(b64(ODD_TAG))),
    "tag no padding": ("tag", without_padding(b64(ODD_TAG))),
    "tag url-safe": ("tag", url_safe(b64(ODD_TAG))),
    "tag number": ("tag", 1.5),
    "tag object": ("tag", {"b64": b64(ODD_TAG)}),
}


@pytest.mark.parametrize(("field", "value"), BAD_BASE64.values(), ids=BAD_BASE64)
def test_bad_base64_is_refused_400(
    alice_client: SecureClient, group_with_alice: dict, field: str, value: Any
) -> None:
    body = {**message_body(), field: value}

    response = post_json(alice_client, group_with_alice["id"], body)

    assert_refused(response, 400, 0, field=field)


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "tag"])
def test_missing_field_is_refused_400(
    alice_client: SecureClient, group_with_alice: dict, field: str
) -> None:
    body = message_body()
    del body[field]

    response = post_json(alice_client, group_with_alice["id"], body)

    assert_refused(response, 400, 0, field=field)


def test_empty_ciphertext_is_refused_400(
    alice_client: SecureClient, group_with_alice: dict
) -> None:
    body = {**message_body(), "ciphertext": ""}

    response = post_json(alice_client, group_with_alice["id"], body)

    assert_refused(response, 400, 0, field="ciphertext")


def test_ciphertext_over_the_limit_is_refused_413(
    alice_client: SecureClient, group_with_alice: dict
) -> None:
    body = message_body(settings.HASHWHISPER_MAX_MESSAGE_BYTES + 1)

    response = post_json(alice_client, group_with_alice["id"], body)

    assert_refused(response, 413, 0, field="ciphertext")


# The body as a whole ---------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b" ",
        b"{",
        b"not json",
        b'{"ciphertext": "AAAA",}',
        b"\xff\xfe\xfa",
    ],
    ids=["blank", "truncated", "text", "trailing comma", "not utf-8"],
)
def test_body_that_is_not_json_is_refused_400(
    alice_client: SecureClient, group_with_alice: dict, raw: bytes
) -> None:
    response = post_json(alice_client, group_with_alice["id"], raw)

    assert_refused(response, 400, 0)


@pytest.mark.parametrize(
    "raw",
    [b"[]", b'["AAAA", "AAAA", "AAAA"]', b'"text"', b"42", b"null", b"true"],
    ids=["empty array", "array", "string", "number", "null", "true"],
)
def test_json_that_is_not_an_object_is_refused_400(
    alice_client: SecureClient, group_with_alice: dict, raw: bytes
) -> None:
    response = post_json(alice_client, group_with_alice["id"], raw)

    assert_refused(response, 400, 0)


def test_deeply_nested_json_is_refused_400(
    group_with_alice: dict, alice: tuple[User, Any]
) -> None:
    client = verified_client(*alice, raise_request_exception=False)
    depth = 100_000
    raw = b"[" * depth + b"]" * depth

    response = post_json(client, group_with_alice["id"], raw)

    assert_refused(response, 400, 0)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"],
)
def test_wrong_content_type_is_refused_415(
    alice_client: SecureClient, group_with_alice: dict, content_type: str
) -> None:
    response = alice_client.post(
        messages_url(group_with_alice["id"]), b"{}", content_type=content_type
    )

    assert_refused(response, 415, 0)


def test_json_content_type_with_charset_is_accepted(
    alice_client: SecureClient, group_with_alice: dict
) -> None:
    response = alice_client.post(
        messages_url(group_with_alice["id"]),
        message_body(),
        content_type="application/json; charset=utf-8",
    )

    assert response.status_code == 201, response.content


def test_body_over_the_upload_limit_is_refused_413(
    group_with_alice: dict, alice: tuple[User, Any]
) -> None:
    client = verified_client(*alice, raise_request_exception=False)
    padding = "A" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    raw = ('{"ciphertext": "' + padding + '"}').encode()

    response = post_json(client, group_with_alice["id"], raw)

    assert_refused(response, 413, 0)


def test_body_over_the_upload_limit_with_csrf_checks_is_refused_413(
    csrf_client: SecureClient, group_with_alice: dict
) -> None:
    token = csrf_token_from_page(csrf_client)
    padding = "A" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    raw = ('{"ciphertext": "' + padding + '"}').encode()

    response = csrf_client.post(
        messages_url(group_with_alice["id"]),
        raw,
        content_type="application/json",
        headers={"X-CSRFToken": token, "Origin": "https://testserver"},
    )

    assert_refused(response, 413, 0)


# Methods, authentication, URLs -----------------------------------------------


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_other_methods_are_refused_405(
    alice_client: SecureClient, group_with_alice: dict, method: str
) -> None:
    call = getattr(alice_client, method)

    response = call(
        messages_url(group_with_alice["id"]),
        message_body(),
        content_type="application/json",
    )

    assert_refused(response, 405, 0)
    allowed = {m.strip() for m in response["Allow"].split(",")}
    assert allowed == {"GET", "POST"}


@pytest.mark.parametrize("method", ["get", "post"])
def test_unauthenticated_request_is_refused_401(
    client: SecureClient, group_with_alice: dict, method: str
) -> None:
    call = getattr(client, method)
    kwargs = {"content_type": "application/json"} if method == "post" else {}

    response = call(messages_url(group_with_alice["id"]), message_body(), **kwargs)

    assert_refused(response, 401, 0)


def test_password_only_session_is_refused_401(
    alice: tuple[User, Any], group_with_alice: dict
) -> None:
    # A session that passed the password step but carries no verified device.
    client = SecureClient()
    client.force_login(alice[0])

    response = post_json(client, group_with_alice["id"], message_body())

    assert_refused(response, 401, 0)


@pytest.mark.parametrize(
    "bad_id",
    ["short", "A" * 21, "A" * 23, "A" * 21 + "!", "A" * 21 + "%2B", "A" * 22 + "%0A"],
    ids=["short", "21 chars", "23 chars", "bang", "plus", "newline"],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_malformed_group_id_in_url_is_404(
    alice_client: SecureClient, group_with_alice: dict, bad_id: str, method: str
) -> None:
    call = getattr(alice_client, method)
    kwargs = {"content_type": "application/json"} if method == "post" else {}

    response = call(messages_url(bad_id), message_body(), **kwargs)

    assert_refused(response, 404, 0)
