"""Password change and account deletion, and the password rules at
registration."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import models

from accounts import recovery
from accounts.models import LoginLock, User
from chat.models import Message
from groups.models import Group, Membership
from tests.conftest import PASSWORD, SecureClient, group_id, sealed, verified_client
from tests.media_vault import blobformat
from tests.security.conftest import (
    Account,
    code_at_step,
    code_step,
    is_signed_in,
    password_step,
    session_key,
    totp,
    wrong_code,
)

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "seven lanterns over a quiet bay"


def change(
    client: SecureClient, current: str, new: str, again: str | None = None
) -> Any:
    return client.post(
        "/accounts/security/password/",
        {
            "current_password": current,
            "new_password1": new,
            "new_password2": new if again is None else again,
        },
    )


def signed_in_at(alice: Account, step: int) -> SecureClient:
    client = SecureClient()
    assert password_step(client).status_code == 302
    assert code_step(client, code_at_step(alice[1], step)).status_code == 302
    return client


# Password change -------------------------------------------------------------


def test_the_security_page_offers_every_action(alice: Account) -> None:
    page = verified_client(*alice).get("/accounts/security/")

    assert page.status_code == 200
    for action in ("password/", "authenticator/", "recovery-codes/", "delete/"):
        assert f'action="/accounts/security/{action}"' in page.text


def test_password_change_needs_the_current_password(alice: Account) -> None:
    client = verified_client(*alice)

    response = change(client, "not my password 11", NEW_PASSWORD)

    assert response.status_code == 400
    assert "That is not your current password." in response.text
    alice[0].refresh_from_db()
    assert alice[0].check_password(PASSWORD)


@pytest.mark.parametrize(
    ("new", "complaint"),
    [
        ("password12345", "too common"),
        ("alice-in-wonderland", "too similar"),
        ("short pw", "too short"),
    ],
)
def test_password_change_refuses_weak_passwords(
    alice: Account, new: str, complaint: str
) -> None:
    alice[0].email = "alice-in-wonderland@example.org"
    alice[0].save()
    client = verified_client(*alice)

    response = change(client, PASSWORD, new)

    assert response.status_code == 400
    assert complaint in response.text
    alice[0].refresh_from_db()
    assert alice[0].check_password(PASSWORD)


def test_password_change_cycles_the_session_and_ends_the_others(
    alice: Account,
) -> None:
    here, elsewhere = signed_in_at(alice, -1), signed_in_at(alice, 0)
    before, other = session_key(here), session_key(elsewhere)

    response = change(here, PASSWORD, NEW_PASSWORD)

    assert response.status_code == 302
    assert session_key(here) != before
    assert is_signed_in(here)
    assert not Session.objects.filter(session_key=other).exists()
    assert not is_signed_in(elsewhere)
    assert "1 other session ended" in here.get("/accounts/security/").text


def test_the_new_password_logs_in_and_the_old_one_does_not(alice: Account) -> None:
    assert change(verified_client(*alice), PASSWORD, NEW_PASSWORD).status_code == 302

    assert password_step(SecureClient(), "alice", PASSWORD).status_code == 200
    assert password_step(SecureClient(), "alice", NEW_PASSWORD).status_code == 302


# Registration ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password", "complaint"),
    [
        ("erin", "password12345", "too common"),
        ("constantinople", "Constantinople!", "too similar"),
        ("erin", "seven-c", "too short"),
    ],
)
def test_registration_refuses_weak_passwords(
    username: str, password: str, complaint: str
) -> None:
    response = SecureClient().post(
        "/accounts/register/",
        {"username": username, "password1": password, "password2": password},
    )

    assert response.status_code == 200
    assert complaint in response.text
    assert not User.objects.filter(username=username).exists()


def test_a_long_password_of_any_composition_works() -> None:
    password = "ünïcode 🔐 and spaces " * 5 + "x" * 23
    assert len(password) == 128
    client = SecureClient()
    response = client.post(
        "/accounts/register/",
        {"username": "frank", "password1": password, "password2": password},
    )
    assert response.status_code == 302

    assert password_step(SecureClient(), "frank", password).status_code == 302
    assert password_step(SecureClient(), "frank", password[:-1]).status_code == 200
    assert password_step(SecureClient(), "frank", password.upper()).status_code == 200


# Account deletion ------------------------------------------------------------


def delete_body(password: str, code: str) -> dict[str, str]:
    return {"delete-password": password, "delete-code": code}


def user_references(user_id: int) -> dict[str, int]:
    """Rows of any model that still point at the user, by model."""
    found: dict[str, int] = {}
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if (
                isinstance(field, models.ForeignKey | models.OneToOneField)
                and field.related_model is not None
                and field.related_model._meta.label == settings.AUTH_USER_MODEL
            ):
                count = model._default_manager.filter(**{field.name: user_id}).count()
                if count:
                    found[f"{model._meta.label}.{field.name}"] = count
    return found


def sessions_of(user_id: int) -> int:
    return sum(
        1
        for session in Session.objects.all()
        if session.get_decoded().get(SESSION_KEY) == str(user_id)
    )


def test_deletion_needs_the_password(alice: Account) -> None:
    client = verified_client(*alice)

    response = client.post(
        "/accounts/security/delete/",
        delete_body("wrong one 123456", totp(alice[1]).now()),
    )

    assert response.status_code == 400
    assert User.objects.filter(pk=alice[0].pk).exists()


def test_deletion_needs_a_code(alice: Account) -> None:
    client = verified_client(*alice)

    response = client.post(
        "/accounts/security/delete/", delete_body(PASSWORD, wrong_code(alice[1]))
    )

    assert response.status_code == 400
    assert User.objects.filter(pk=alice[0].pk).exists()


def make_group(creator: User, *members: User, group_pk: str | None = None) -> Group:
    group = Group.objects.create(
        id=group_pk or group_id(),
        salt=secrets.token_bytes(16),
        iterations=600_000,
        token_hash=secrets.token_bytes(32),
        name_ciphertext=b"name",
        name_nonce=secrets.token_bytes(12),
        name_tag=secrets.token_bytes(16),
        created_by=creator,
    )
    Membership.objects.create(group=group, user=creator, role="owner")
    for member in members:
        Membership.objects.create(group=group, user=member, role="member")
    return group


def post_message(client: SecureClient, group: Group) -> None:
    response = client.post(
        f"/api/groups/{group.pk}/messages",
        {**sealed(), "epoch": group.epoch},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content


def upload_blob(client: SecureClient, group: Group) -> str:
    data = blobformat.encrypt(secrets.token_bytes(32), b"photo", b"aad", chunk=4096)
    reserved = client.post(
        f"/api/groups/{group.pk}/blobs",
        {"type": "image/png", "size": len(data)},
        content_type="application/json",
    )
    assert reserved.status_code == 201, reserved.content
    blob_id = str(reserved.json()["id"])
    stored = client.put(
        f"/api/groups/{group.pk}/blobs/{blob_id}",
        data,
        content_type="application/octet-stream",
    )
    assert stored.status_code == 201, stored.content
    return blob_id


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_deleted_account_leaves_no_rows(
    alice: Account,
    bob: Account,
    bob_client: SecureClient,
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.HASHWHISPER_MEDIA_ROOT = tmp_path / "blobs"
    user, device = alice
    recovery.issue_codes(user)
    recovery.activate_codes(user)
    here, elsewhere = signed_in_at(alice, -1), signed_in_at(alice, 0)
    password_step(SecureClient(), "alice", "a wrong password 99")
    shared, alone = make_group(user, bob[0]), make_group(user)
    for client, group in ((here, shared), (bob_client, shared), (here, alone)):
        post_message(client, group)
    upload_blob(here, shared)
    upload_blob(here, alone)
    bobs_blob = upload_blob(bob_client, shared)
    assert len(files_under(tmp_path / "blobs")) == 3
    assert user_references(user.pk)
    assert sessions_of(user.pk) == 2
    assert LoginLock.objects.exists()

    # Files are shredded once the deletion commits.
    with django_capture_on_commit_callbacks(execute=True):
        response = here.post(
            "/accounts/security/delete/", delete_body(PASSWORD, code_at_step(device, 1))
        )

    assert response.status_code == 200
    assert "Your account is deleted" in response.text
    assert not User.objects.filter(pk=user.pk).exists()
    assert user_references(user.pk) == {}
    assert sessions_of(user.pk) == 0
    assert not LoginLock.objects.exists()
    assert not is_signed_in(here) and not is_signed_in(elsewhere)
    # The group only Alice was in is gone; Bob keeps the shared one, his
    # message and, as its earliest remaining member, its ownership.
    assert not Group.objects.filter(pk=alone.pk).exists()
    assert list(
        Message.objects.filter(group=shared).values_list("sender", flat=True)
    ) == [bob[0].pk]
    # Alice's files are gone from the disk; Bob's stays readable.
    assert len(files_under(tmp_path / "blobs")) == 1
    download = bob_client.get(f"/api/groups/{shared.pk}/blobs/{bobs_blob}")
    assert download.status_code == 200
    members = bob_client.get(f"/api/groups/{shared.pk}/members").json()["members"]
    assert [(m["username"], m["role"]) for m in members] == [("bob", "owner")]


@pytest.mark.parametrize(
    ("path", "signed_in"),
    [
        ("/accounts/login/", False),
        ("/accounts/register/", False),
        ("/accounts/security/", True),
    ],
)
def test_password_fields_let_password_managers_fill_them(
    alice: Account, path: str, signed_in: bool
) -> None:
    client = verified_client(*alice) if signed_in else SecureClient()
    page = client.get(path).text
    inputs = re.findall(r"<input[^>]*>", page)
    passwords = [tag for tag in inputs if 'type="password"' in tag]

    assert passwords
    for tag in passwords:
        assert re.search(r'autocomplete="(current|new)-password"', tag), tag
    for tag in inputs:
        assert 'name="password' not in tag or 'type="password"' in tag
    assert "onpaste" not in page.lower()


def test_a_deleted_account_leaves_its_groups_in_id_order(
    alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each group's lock is taken in turn; in one order for everyone, two
    # deletions sharing groups cannot deadlock. Made in the opposite order.
    from accounts import services
    from groups import services as groups

    user = alice[0]
    other = User.objects.create_user(username="other", password=PASSWORD)
    made = []
    for prefix in ("Z", "M", "A"):
        group = make_group(other, user, group_pk=prefix + group_id()[1:])
        made.append(group.pk)
    locked: list[str] = []
    original = groups.lock_group

    def recording(group_pk: str) -> Group:
        locked.append(group_pk)
        return original(group_pk)

    monkeypatch.setattr(groups, "lock_group", recording)
    request = verified_client(*alice).get("/accounts/security/").wsgi_request

    services.delete_account(request, user)

    assert locked == sorted(made)
    assert not User.objects.filter(pk=user.pk).exists()
