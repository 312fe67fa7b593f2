"""Fixtures for the admin tests: a verified operator and one row of each kind,
every secret-bearing field filled with a known random value."""

import base64
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.lockout import username_key
from accounts.models import LoginLock, User, UserSession
from chat.models import Message, ReadMarker
from groups.models import Group, Membership
from integrity.models import ChainEvent, ChainHead
from media_vault import storage as blob_files
from media_vault.models import Blob
from tests.conftest import SecureClient, verified_client
from tests.hashwhisper.testing import FAST_HASHER, plain_static_storages


@pytest.fixture(autouse=True)
def admin_settings(settings: Any, tmp_path: Path) -> None:
    settings.PASSWORD_HASHERS = [FAST_HASHER]
    settings.STORAGES = plain_static_storages()
    settings.HASHWHISPER_MEDIA_ROOT = tmp_path / "blobs"


def text_forms(value: bytes) -> set[str]:
    """Every printable spelling of ``value`` a page could leak it in."""
    forms = {
        value.hex(),
        value.hex().upper(),
        base64.b64encode(value).decode(),
        base64.urlsafe_b64encode(value).decode().rstrip("="),
        base64.b32encode(value).decode().rstrip("="),
    }
    # Short values are matched in full only; their forms are still long
    # enough (16+ characters) not to occur in a page by chance.
    return {form for form in forms if len(form) >= 16}


@dataclass
class World:
    """One row of every kind, and the secrets they hold."""

    operator: User
    operator_client: SecureClient
    alice: User
    group: Group
    message: Message
    blob: Blob
    blob_path: Path
    secrets: dict[str, set[str]] = field(default_factory=dict)

    def keep(self, label: str, value: bytes | str) -> None:
        raw = value.encode() if isinstance(value, str) else value
        forms = text_forms(raw)
        if isinstance(value, str):
            forms.add(value)
        self.secrets[label] = forms


def make_world() -> World:
    operator = User.objects.create_superuser("operator", password="x" * 20)
    op_device = TOTPDevice.objects.create(user=operator, name="app", confirmed=True)
    alice = User.objects.create_user("alice", password="y" * 20)
    totp = TOTPDevice.objects.create(user=alice, name="phone", confirmed=True)
    static = StaticDevice.objects.create(user=alice, name="backup", confirmed=True)
    code = secrets.token_hex(8)
    static.token_set.create(token=code)
    session_hash = secrets.token_bytes(32)
    UserSession.objects.create(user=alice, key_hash=session_hash, client="Firefox")
    LoginLock.objects.create(key=username_key("alice"), failures=2)

    group_secrets = {name: secrets.token_bytes(32) for name in ("salt", "token")}
    sealed = {name: secrets.token_bytes(n) for name, n in (("c", 48), ("n", 12))}
    group = Group.objects.create(
        id=base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("="),
        salt=group_secrets["salt"][:16],
        iterations=600_000,
        token_hash=group_secrets["token"],
        name_ciphertext=sealed["c"],
        name_nonce=sealed["n"],
        name_tag=secrets.token_bytes(16),
        created_by=alice,
    )
    Membership.objects.create(group=group, user=alice, role="owner")
    message = Message.objects.create(
        group=group,
        sender=alice,
        epoch=1,
        ciphertext=secrets.token_bytes(64),
        nonce=secrets.token_bytes(12),
        tag=secrets.token_bytes(16),
    )
    ReadMarker.objects.create(user=alice, group=group, last_read_id=message.pk)
    name = blob_files.new_storage_name()
    path = blob_files.path_of(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(secrets.token_bytes(128))
    blob = Blob.objects.create(
        group=group,
        uploader=alice,
        message=message,
        mime="image/png",
        size=128,
        state=Blob.State.STORED,
        storage_name=name,
        expires_at=timezone.now() + timedelta(days=1),
    )
    chain_hash = secrets.token_bytes(32)
    ChainEvent.objects.create(
        group=group,
        seq=1,
        kind="create",
        actor=alice.pk,
        subject=alice.pk,
        epoch=1,
        at=timezone.now(),
        prev_hash=bytes(32),
        hash=chain_hash,
    )
    ChainHead.objects.create(group=group, seq=1, hash=chain_hash)

    world = World(
        operator=operator,
        operator_client=verified_client(operator, op_device),
        alice=alice,
        group=group,
        message=message,
        blob=blob,
        blob_path=path,
    )
    world.keep("TOTP key", bytes(totp.bin_key))
    world.keep("TOTP key (stored hex)", totp.key)
    world.keep("recovery code", code)
    world.keep("session key hash", session_hash)
    world.keep("sign-in lock key", LoginLock.objects.get().key)
    world.keep("group salt", bytes(group.salt))
    world.keep("membership token hash", group_secrets["token"])
    world.keep("group name ciphertext", sealed["c"])
    world.keep("group name tag", bytes(group.name_tag))
    world.keep("message ciphertext", bytes(message.ciphertext))
    world.keep("message nonce", bytes(message.nonce))
    world.keep("message tag", bytes(message.tag))
    world.keep("blob storage name", name)
    world.keep("password hash", alice.password)
    return world


@pytest.fixture
def world(db: None) -> World:
    return make_world()
