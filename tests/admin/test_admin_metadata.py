"""The admin shows operators metadata only and lets them change little.

Every registered model is walked from the admin's own registry, so a model
registered later is covered without editing this test.
"""

import re
from typing import Any

import pytest
from django.contrib import admin
from django.db import models
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from chat.models import Message
from groups.models import Group
from media_vault.models import Blob
from tests.admin.conftest import World, make_world

pytestmark = pytest.mark.django_db

# Fields that hold content or secrets: none may be an input in any admin form.
SECRET_FIELDS = {
    "ciphertext",
    "nonce",
    "tag",
    "token_hash",
    "salt",
    "name_ciphertext",
    "name_nonce",
    "name_tag",
    "description_ciphertext",
    "description_nonce",
    "description_tag",
    "key",
    "key_hash",
    "bin_key",
    "token",
    "password",
    "storage_name",
}
INPUT_NAME = re.compile(r'<(?:input|textarea|select)[^>]*\bname="([^"]+)"')
# Inputs every admin page may carry that are not model fields.
FORM_PLUMBING = {"csrfmiddlewaretoken", "q", "action", "select_across", "index"}


def registered() -> list[tuple[type[models.Model], admin.ModelAdmin]]:
    return list(admin.site._registry.items())


def url(model: type[models.Model], view: str, *args: Any) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def leaks(world: World, page: str) -> list[str]:
    return [
        label
        for label, forms in world.secrets.items()
        if any(form in page for form in forms)
    ]


def field_inputs(page: str) -> set[str]:
    names = set(INPUT_NAME.findall(page))
    return {
        n for n in names if n not in FORM_PLUMBING and not n.startswith("_selected")
    }


def test_every_admin_page_is_free_of_secrets(world: World) -> None:
    client = world.operator_client
    pages = [reverse("admin:index")]
    for model, _ in registered():
        instance = model._default_manager.first()
        assert instance is not None, (
            f"make_world() must create a {model.__name__} so its admin is checked"
        )
        pages += [
            url(model, "changelist"),
            url(model, "add"),
            url(model, "change", instance.pk),
            url(model, "history", instance.pk),
            url(model, "delete", instance.pk),
        ]

    for page_url in pages:
        response = client.get(page_url)
        assert response.status_code in (200, 403), (page_url, response.status_code)
        page = response.content.decode()
        assert leaks(world, page) == [], page_url
        assert "<memory at" not in page, f"{page_url} prints a binary field"


def test_no_admin_form_edits_content_or_secrets(world: World) -> None:
    client = world.operator_client
    for model, _ in registered():
        instance = model._default_manager.first()
        assert instance is not None
        page = client.get(url(model, "change", instance.pk)).content.decode()
        inputs = field_inputs(page)
        assert inputs & SECRET_FIELDS == set(), model.__name__
        assert client.get(url(model, "add")).status_code == 403, model.__name__


def test_posting_a_change_form_changes_nothing(world: World) -> None:
    client = world.operator_client
    before = bytes(world.message.ciphertext)
    targets: list[tuple[type[models.Model], Any, dict[str, str]]] = [
        (Message, world.message.pk, {"ciphertext": "AAAA", "epoch": "9"}),
        (Group, world.group.pk, {"epoch": "9", "retention_days": "1"}),
        (User, world.alice.pk, {"username": "mallory", "is_superuser": "on"}),
        (Blob, world.blob.pk, {"mime": "text/html", "size": "1"}),
    ]
    for model, pk, data in targets:
        response = client.post(url(model, "change", pk), data)
        assert response.status_code == 403, model.__name__

    world.message.refresh_from_db()
    world.group.refresh_from_db()
    world.alice.refresh_from_db()
    world.blob.refresh_from_db()
    assert bytes(world.message.ciphertext) == before
    assert world.message.epoch == 1 and world.group.epoch == 1
    assert world.group.retention_days is None
    assert world.alice.username == "alice" and not world.alice.is_superuser
    assert world.blob.mime == "image/png"


def test_only_groups_can_be_deleted(world: World) -> None:
    client = world.operator_client
    deletable = set()
    for model, _ in registered():
        instance = model._default_manager.first()
        assert instance is not None
        status = client.get(url(model, "delete", instance.pk)).status_code
        assert status in (200, 403), model.__name__
        if status == 200:
            deletable.add(model)
    # Operators may delete whole groups (which shreds their blobs), nothing
    # else: not single blobs, messages or chain events.
    assert deletable == {Group}


def test_user_list_shows_the_promised_metadata(world: World) -> None:
    page = world.operator_client.get(url(User, "changelist")).content.decode()
    for heading in ("Date joined", "Last login", "2FA confirmed", "Locked"):
        assert heading.lower() in page.lower(), heading


def test_group_list_shows_counts_sizes_retention_and_chain(world: World) -> None:
    page = world.operator_client.get(url(Group, "changelist")).content.decode()
    for heading in ("members", "messages", "bytes stored", "retention", "chain"):
        assert heading in page.lower(), heading
    # 64 ciphertext bytes of the one message plus the 128-byte blob.
    assert ">192<" in page.replace(" ", "")


def test_operator_can_lock_and_unlock_an_account(world: World) -> None:
    from tests.conftest import verified_client

    device = TOTPDevice.objects.get(user=world.alice)
    alice_client = verified_client(world.alice, device)
    assert alice_client.get("/api/groups/").status_code == 200
    changelist = url(User, "changelist")

    world.operator_client.post(
        changelist, {"action": "lock_accounts", "_selected_action": [world.alice.pk]}
    )

    world.alice.refresh_from_db()
    assert not world.alice.is_active
    assert alice_client.get("/api/groups/").status_code == 401
    assert not world.alice.tracked_sessions.exists()

    world.operator_client.post(
        changelist, {"action": "unlock_accounts", "_selected_action": [world.alice.pk]}
    )
    world.alice.refresh_from_db()
    assert world.alice.is_active


@pytest.mark.django_db(transaction=True)
def test_deleting_a_group_in_the_admin_shreds_its_files() -> None:
    world = make_world()
    response = world.operator_client.post(
        url(Group, "delete", world.group.pk), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not Group.objects.filter(pk=world.group.pk).exists()
    assert not Message.objects.filter(pk=world.message.pk).exists()
    assert not Blob.objects.filter(pk=world.blob.pk).exists()
    assert not world.blob_path.exists()
