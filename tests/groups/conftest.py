"""Fixtures for the group API tests."""

from typing import Any

import pytest

from tests.hashwhisper.testing import FAST_HASHER, plain_static_storages


@pytest.fixture(autouse=True)
def page_settings(settings: Any) -> None:
    # Password hashing is not under test here, and Argon2 costs about 0.1 s
    # for each user a fixture makes. Pages render without collectstatic.
    settings.PASSWORD_HASHERS = [FAST_HASHER]
    settings.STORAGES = plain_static_storages()
