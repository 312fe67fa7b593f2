"""Fixtures of the integrity suite: users, groups made through the services."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from groups import services
from groups.models import Group
from tests.conftest import group_id, make_user
from tests.hashwhisper.testing import FAST_HASHER, plain_static_storages
from tests.integrity.browser import ChainPage, chain_page_in_thread
from tests.support.browser import chromium_missing_reason

Person = tuple[User, TOTPDevice]


@pytest.fixture(autouse=True)
def fast_settings(settings: Any) -> None:
    # Password hashing is not under test here; Argon2 would cost about 0.1 s
    # for every user a test makes. Pages render without collectstatic.
    settings.PASSWORD_HASHERS = [FAST_HASHER]
    settings.STORAGES = plain_static_storages()


@pytest.fixture
def carol(db: None) -> Person:
    return make_user("carol")


def new_spec(token: bytes | None = None) -> services.NewGroup:
    return services.NewGroup(
        id=group_id(),
        salt=secrets.token_bytes(16),
        iterations=600_000,
        token=token or secrets.token_bytes(32),
        name_ciphertext=secrets.token_bytes(20),
        name_nonce=secrets.token_bytes(12),
        name_tag=secrets.token_bytes(16),
    )


def rotation_for(group: Group, token: bytes | None = None) -> services.Rotation:
    return services.Rotation(
        epoch=group.epoch,
        salt=secrets.token_bytes(16),
        iterations=600_000,
        token=token or secrets.token_bytes(32),
        name_ciphertext=secrets.token_bytes(20),
        name_nonce=secrets.token_bytes(12),
        name_tag=secrets.token_bytes(16),
    )


GroupMaker = Callable[..., tuple[Group, bytes]]


@pytest.fixture
def make_group(db: None) -> GroupMaker:
    """Create a group owned by ``owner`` with ``members`` joined, in order."""

    def build(owner: User, *members: User) -> tuple[Group, bytes]:
        spec = new_spec()
        group = services.create_group(owner, spec)
        for member in members:
            assert services.join_group(member, group, spec.token) is not None
        return group, spec.token

    return build


@pytest.fixture(scope="module")
def chain_page() -> Iterator[ChainPage]:
    """chain.js in Chromium, one page for a test module."""
    reason = chromium_missing_reason()
    if reason is not None:
        print(f"skipping chain browser tests: {reason}", file=sys.stderr)
        pytest.skip(reason)
    with chain_page_in_thread() as page:
        yield page
