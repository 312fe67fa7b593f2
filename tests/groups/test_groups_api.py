"""The group API: create, join parameters, join, leave, members, list.

Every refusal must be a 4xx JSON answer with an error message, and must leave
the group and membership tables as they were.
"""

import base64
import hashlib
import re
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import User
from chat.models import Message
from groups.models import Group, Membership
from tests.conftest import SecureClient, b64, group_id, sealed, verified_client
from tests.hashwhisper.logs import logged_text, project_logs
from tests.hashwhisper.testing import Response

pytestmark = pytest.mark.django_db

NewBody = Callable[[], dict[str, Any]]


def create(client: SecureClient, body: Any) -> Response:
    return client.post("/api/groups/", body, content_type="application/json")


def join(client: SecureClient, gid: str, token: Any) -> Response:
    return client.post(
        f"/api/groups/{gid}/join", {"token": token}, content_type="application/json"
    )


def table_counts() -> tuple[int, int]:
    return Group.objects.count(), Membership.objects.count()


def assert_refused(
    response: Response,
    status: int | set[int],
    counts: tuple[int, int],
    field: str | None = None,
) -> str:
    """Check a JSON refusal that wrote nothing; return its error message.

    With ``field``, the message must also name the offending field.
    """
    allowed = status if isinstance(status, set) else {status}
    assert response.status_code in allowed, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json().get("error")
    assert isinstance(error, str)
    assert error
    if field is not None:
        assert re.search(rf"\b{field}\b", error), error
    assert table_counts() == counts
    return error


def is_member(user: User, gid: str) -> bool:
    return Membership.objects.filter(user=user, group_id=gid).exists()


# Create ----------------------------------------------------------------------


def test_create_stores_the_group_and_an_owner_membership(
    alice: tuple[User, Any], alice_client: SecureClient, new_group_body: NewBody
) -> None:
    body = new_group_body()

    response = create(alice_client, body)

    assert response.status_code == 201, response.content
    group = Group.objects.get(pk=body["id"])
    assert bytes(group.salt) == base64.b64decode(body["salt"])
    assert group.iterations == body["iterations"]
    assert bytes(group.name_nonce) == base64.b64decode(body["name"]["nonce"])
    membership = Membership.objects.get(group=group)
    assert membership.user == alice[0]
    assert membership.role == Membership.Role.OWNER
    assert response.json()["role"] == "owner"


def test_create_stores_the_blake2b_hash_of_the_token(
    alice_client: SecureClient, new_group_body: NewBody
) -> None:
    body = new_group_body()
    token = base64.b64decode(body["token"])

    assert create(alice_client, body).status_code == 201

    group = Group.objects.get(pk=body["id"])
    assert bytes(group.token_hash) == hashlib.blake2b(token, digest_size=32).digest()


def test_create_keeps_the_raw_token_nowhere_in_the_row(
    alice_client: SecureClient, new_group_body: NewBody
) -> None:
    body = new_group_body()
    token = base64.b64decode(body["token"])

    response = create(alice_client, body)

    assert response.status_code == 201
    group = Group.objects.get(pk=body["id"])
    for field in Group._meta.concrete_fields:
        value = field.value_from_object(group)
        if isinstance(value, bytes | memoryview):
            assert token not in bytes(value), field.name
        else:
            assert body["token"] not in str(value), field.name
            assert token.hex() not in str(value), field.name
    assert body["token"] not in response.text


def test_create_with_a_taken_id_is_refused_409(
    bob: tuple[User, Any],
    bob_client: SecureClient,
    group_with_alice: dict,
    new_group_body: NewBody,
) -> None:
    original = bytes(Group.objects.get(pk=group_with_alice["id"]).token_hash)
    counts = table_counts()
    body = {**new_group_body(), "id": group_with_alice["id"]}

    response = create(bob_client, body)

    assert_refused(response, 409, counts)
    assert not is_member(bob[0], group_with_alice["id"])
    assert bytes(Group.objects.get(pk=body["id"]).token_hash) == original


@pytest.mark.parametrize("iterations", [120_000, 10_000_000])
def test_create_accepts_iterations_at_the_bounds(
    alice_client: SecureClient, new_group_body: NewBody, iterations: int
) -> None:
    body = {**new_group_body(), "iterations": iterations}

    assert create(alice_client, body).status_code == 201
    assert Group.objects.get(pk=body["id"]).iterations == iterations


@pytest.mark.parametrize(
    "iterations",
    [119_999, 10_000_001, 0, -600_000, True, False, "600000", 600_000.0, None, []],
)
def test_create_with_bad_iterations_is_refused_400(
    alice_client: SecureClient, new_group_body: NewBody, iterations: Any
) -> None:
    counts = table_counts()
    body = {**new_group_body(), "iterations": iterations}

    assert_refused(create(alice_client, body), 400, counts, field="iterations")


def test_create_without_iterations_is_refused_400(
    alice_client: SecureClient, new_group_body: NewBody
) -> None:
    counts = table_counts()
    body = new_group_body()
    del body["iterations"]

    assert_refused(create(alice_client, body), 400, counts, field="iterations")


@pytest.mark.parametrize("length", [0, 8, 15])
def test_create_with_a_short_salt_is_refused_400(
    alice_client: SecureClient, new_group_body: NewBody, length: int
) -> None:
    counts = table_counts()
    body = {**new_group_body(), "salt": b64(secrets.token_bytes(length))}

    assert_refused(create(alice_client, body), 400, counts, field="salt")


def test_create_with_an_oversized_salt_is_refused(
    alice_client: SecureClient, new_group_body: NewBody
) -> None:
    counts = table_counts()
    body = {**new_group_body(), "salt": b64(secrets.token_bytes(65))}

    assert_refused(create(alice_client, body), {400, 413}, counts, field="salt")


@pytest.mark.parametrize("salt", ["not base64!", 1234, None])
def test_create_with_a_salt_that_is_not_base64_is_refused_400(
    alice_client: SecureClient, new_group_body: NewBody, salt: Any
) -> None:
    counts = table_counts()
    body = {**new_group_body(), "salt": salt}

    assert_refused(create(alice_client, body), 400, counts, field="salt")


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_create_with_a_token_not_32_bytes_is_refused_400(
    alice_client: SecureClient, new_group_body: NewBody, length: int
) -> None:
    counts = table_counts()
    body = {**new_group_body(), "token": b64(secrets.token_bytes(length))}

    assert_refused(create(alice_client, body), 400, counts, field="token")


BAD_IDS = {
    "21 chars": "A" * 21,
    "23 chars": "A" * 23,
    "plus": "A" * 21 + "+",
    "slash": "A" * 21 + "/",
    "padding": "A" * 21 + "=",
    "dot": "A" * 21 + ".",
    "space": "A" * 21 + " ",
    "non-ascii letter": "A" * 21 + "\u00e9",
    "empty": "",
    "number": 1234567890123456789012,
    "null": None,
    "list": ["A" * 22],
}


@pytest.mark.parametrize("bad_id", BAD_IDS.values(), ids=BAD_IDS)
def test_create_with_a_bad_id_is_refused_400(
    alice_client: SecureClient, new_group_body: NewBody, bad_id: Any
) -> None:
    counts = table_counts()
    body = {**new_group_body(), "id": bad_id}

    assert_refused(create(alice_client, body), 400, counts, field="id")


def test_create_with_an_id_ending_in_a_newline_is_refused_400(
    alice: tuple[User, Any], new_group_body: NewBody
) -> None:
    client = verified_client(*alice, raise_request_exception=False)
    counts = table_counts()
    body = {**new_group_body(), "id": group_id() + "\n"}

    assert_refused(create(client, body), 400, counts, field="id")


@pytest.mark.parametrize("name", ["ciphertext", ["a", "b", "c"], None, 42])
def test_create_with_a_name_that_is_not_an_object_is_refused_400(
    alice_client: SecureClient, new_group_body: NewBody, name: Any
) -> None:
    counts = table_counts()
    body = {**new_group_body(), "name": name}

    assert_refused(create(alice_client, body), 400, counts, field="name")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("nonce", b64(secrets.token_bytes(11))),
        ("nonce", b64(secrets.token_bytes(13))),
        ("nonce", "not base64!"),
        ("tag", b64(secrets.token_bytes(15))),
        ("ciphertext", ""),
    ],
    ids=["nonce 11", "nonce 13", "nonce text", "tag 15", "empty ciphertext"],
)
def test_create_with_a_bad_sealed_name_is_refused_400(
    alice_client: SecureClient, new_group_body: NewBody, field: str, value: str
) -> None:
    counts = table_counts()
    body = new_group_body()
    body["name"] = {**body["name"], field: value}

    assert_refused(create(alice_client, body), 400, counts, field=field)


def test_create_with_an_oversized_name_is_refused(
    alice_client: SecureClient, new_group_body: NewBody
) -> None:
    counts = table_counts()
    body = {**new_group_body(), "name": sealed(1025)}

    assert_refused(create(alice_client, body), {400, 413}, counts, field="ciphertext")


def test_create_with_a_body_that_is_not_an_object_is_refused_400(
    alice_client: SecureClient, new_group_body: NewBody
) -> None:
    counts = table_counts()

    response = create(alice_client, [new_group_body()])

    assert_refused(response, 400, counts)


def test_create_unauthenticated_is_refused_401(
    client: SecureClient, new_group_body: NewBody
) -> None:
    counts = table_counts()

    assert_refused(create(client, new_group_body()), 401, counts)


# Join parameters -------------------------------------------------------------


def test_params_give_salt_and_iterations_to_a_non_member(
    bob_client: SecureClient, group_with_alice: dict
) -> None:
    gid = group_with_alice["id"]

    response = bob_client.get(f"/api/groups/{gid}/params")

    assert response.status_code == 200
    assert response.json() == {
        "id": gid,
        "salt": group_with_alice["salt"],
        "iterations": group_with_alice["iterations"],
        "epoch": 1,
    }


def test_params_never_carry_the_token_hash(
    bob_client: SecureClient, group_with_alice: dict
) -> None:
    group = Group.objects.get(pk=group_with_alice["id"])
    stored = bytes(group.token_hash)

    response = bob_client.get(f"/api/groups/{group.id}/params")

    assert response.status_code == 200
    assert "token_hash" not in response.json()
    assert b64(stored) not in response.text
    assert stored.hex() not in response.text
    assert group_with_alice["token"] not in response.text


def test_params_of_an_unknown_group_are_404(bob_client: SecureClient) -> None:
    response = bob_client.get(f"/api/groups/{group_id()}/params")

    assert response.status_code == 404
    assert response.json()["error"]


# Join ------------------------------------------------------------------------


def test_join_with_the_right_token_adds_a_member(
    bob: tuple[User, Any], bob_client: SecureClient, group_with_alice: dict
) -> None:
    gid = group_with_alice["id"]

    response = join(bob_client, gid, group_with_alice["token"])

    assert response.status_code == 200, response.content
    assert response.json()["id"] == gid
    assert response.json()["role"] == "member"
    membership = Membership.objects.get(user=bob[0], group_id=gid)
    assert membership.role == Membership.Role.MEMBER


def test_join_twice_keeps_one_membership(
    bob: tuple[User, Any], bob_client: SecureClient, group_with_alice: dict
) -> None:
    gid = group_with_alice["id"]

    first = join(bob_client, gid, group_with_alice["token"])
    second = join(bob_client, gid, group_with_alice["token"])

    assert first.status_code == 200
    assert second.status_code == 200
    assert Membership.objects.filter(user=bob[0], group_id=gid).count() == 1
    assert Membership.objects.filter(group_id=gid).count() == 2


def test_owner_joining_again_stays_owner(
    alice: tuple[User, Any], alice_client: SecureClient, group_with_alice: dict
) -> None:
    gid = group_with_alice["id"]

    response = join(alice_client, gid, group_with_alice["token"])

    assert response.status_code == 200
    assert Membership.objects.get(user=alice[0], group_id=gid).role == "owner"


def test_join_with_a_wrong_token_is_refused_404(
    bob: tuple[User, Any], bob_client: SecureClient, group_with_alice: dict
) -> None:
    counts = table_counts()
    wrong = b64(secrets.token_bytes(32))

    response = join(bob_client, group_with_alice["id"], wrong)

    assert_refused(response, 404, counts)
    assert not is_member(bob[0], group_with_alice["id"])


def test_join_with_a_wrong_token_answers_like_an_unknown_group(
    bob_client: SecureClient, group_with_alice: dict
) -> None:
    wrong = b64(secrets.token_bytes(32))

    refused = join(bob_client, group_with_alice["id"], wrong)
    unknown = join(bob_client, group_id(), wrong)

    assert refused.status_code == unknown.status_code == 404
    assert refused.json() == unknown.json()


def test_join_with_a_wrong_token_logs_a_security_line_without_the_token(
    bob_client: SecureClient, group_with_alice: dict, caplog: pytest.LogCaptureFixture
) -> None:
    token = secrets.token_bytes(32)
    stored = bytes(Group.objects.get(pk=group_with_alice["id"]).token_hash)

    with project_logs(caplog):
        response = join(bob_client, group_with_alice["id"], b64(token))

    assert response.status_code == 404
    security = [r for r in caplog.records if r.name == "hashwhisper.security"]
    assert len(security) == 1
    assert group_with_alice["id"] in security[0].getMessage()
    text = logged_text(caplog)
    for secret in (b64(token), token.hex(), repr(token), b64(stored), stored.hex()):
        assert secret not in text
    assert group_with_alice["token"] not in text


def test_join_of_an_unknown_group_is_404(
    bob: tuple[User, Any], bob_client: SecureClient
) -> None:
    counts = table_counts()

    response = join(bob_client, group_id(), b64(secrets.token_bytes(32)))

    assert_refused(response, 404, counts)


@pytest.mark.parametrize(
    "token",
    [b64(secrets.token_bytes(31)), "not base64!", None, 42],
    ids=["31 bytes", "text", "null", "number"],
)
def test_join_with_a_malformed_token_is_refused_400(
    bob: tuple[User, Any], bob_client: SecureClient, group_with_alice: dict, token: Any
) -> None:
    counts = table_counts()

    response = join(bob_client, group_with_alice["id"], token)

    assert_refused(response, 400, counts, field="token")


def test_join_unauthenticated_is_refused_401(
    client: SecureClient, group_with_alice: dict
) -> None:
    counts = table_counts()

    response = join(client, group_with_alice["id"], group_with_alice["token"])

    assert_refused(response, 401, counts)


# Leave -----------------------------------------------------------------------


@pytest.fixture
def bob_joined(bob_client: SecureClient, group_with_alice: dict) -> str:
    gid = group_with_alice["id"]
    assert join(bob_client, gid, group_with_alice["token"]).status_code == 200
    return gid


def test_leave_removes_the_membership(
    bob: tuple[User, Any], bob_client: SecureClient, bob_joined: str
) -> None:
    response = bob_client.post(f"/api/groups/{bob_joined}/leave")

    assert response.status_code == 200, response.content
    assert not is_member(bob[0], bob_joined)
    assert Group.objects.filter(pk=bob_joined).exists()


def test_after_leaving_messages_are_404(
    bob_client: SecureClient, bob_joined: str
) -> None:
    url = f"/api/groups/{bob_joined}/messages"
    assert bob_client.get(url).status_code == 200

    assert bob_client.post(f"/api/groups/{bob_joined}/leave").status_code == 200

    assert bob_client.get(url).status_code == 404
    # A well-formed message: the refusal is for membership, not for its form.
    body = {**sealed(), "epoch": 1}
    posted = bob_client.post(url, body, content_type="application/json")
    assert posted.status_code == 404
    assert not Message.objects.filter(group_id=bob_joined, sender__username="bob")


def test_leave_by_a_non_member_is_404(
    bob_client: SecureClient, group_with_alice: dict
) -> None:
    counts = table_counts()

    response = bob_client.post(f"/api/groups/{group_with_alice['id']}/leave")

    assert_refused(response, 404, counts)


def test_leave_by_get_is_refused_405(
    bob: tuple[User, Any], bob_client: SecureClient, bob_joined: str
) -> None:
    counts = table_counts()

    response = bob_client.get(f"/api/groups/{bob_joined}/leave")

    assert_refused(response, 405, counts)
    assert is_member(bob[0], bob_joined)


# Members and the list of groups ----------------------------------------------


def test_members_are_listed_for_a_member(
    bob_client: SecureClient, bob_joined: str
) -> None:
    response = bob_client.get(f"/api/groups/{bob_joined}/members")

    assert response.status_code == 200
    listed = {(m["username"], m["role"]) for m in response.json()["members"]}
    assert listed == {("alice", "owner"), ("bob", "member")}


def test_members_are_404_for_a_non_member_like_an_unknown_group(
    bob_client: SecureClient, group_with_alice: dict
) -> None:
    existing = bob_client.get(f"/api/groups/{group_with_alice['id']}/members")
    unknown = bob_client.get(f"/api/groups/{group_id()}/members")

    assert existing.status_code == unknown.status_code == 404
    assert existing.json() == unknown.json()
    assert "alice" not in existing.text


def test_list_shows_only_own_groups(
    alice_client: SecureClient,
    bob_client: SecureClient,
    group_with_alice: dict,
    new_group_body: NewBody,
) -> None:
    bobs = new_group_body()
    assert create(bob_client, bobs).status_code == 201

    alice_sees = [g["id"] for g in alice_client.get("/api/groups/").json()["groups"]]
    bob_sees = [g["id"] for g in bob_client.get("/api/groups/").json()["groups"]]

    assert alice_sees == [group_with_alice["id"]]
    assert bob_sees == [bobs["id"]]


def test_list_includes_a_joined_group_with_its_member_count(
    bob_client: SecureClient, bob_joined: str
) -> None:
    groups = {g["id"]: g for g in bob_client.get("/api/groups/").json()["groups"]}

    assert set(groups) == {bob_joined}
    assert groups[bob_joined]["member_count"] == 2
    assert groups[bob_joined]["role"] == "member"


def test_list_never_carries_token_hashes(
    alice_client: SecureClient, group_with_alice: dict
) -> None:
    stored = bytes(Group.objects.get(pk=group_with_alice["id"]).token_hash)

    response = alice_client.get("/api/groups/")

    assert response.status_code == 200
    assert all("token_hash" not in g for g in response.json()["groups"])
    assert b64(stored) not in response.text
    assert group_with_alice["token"] not in response.text
