"""Fixtures for the account flow tests."""

from typing import Any

import pytest

from tests.hashwhisper.testing import plain_static_storages


@pytest.fixture(autouse=True)
def page_settings(settings: Any) -> None:
    # Pages render without collectstatic. Password hashing stays Argon2:
    # the account tests check the stored hash and time real logins.
    settings.STORAGES = plain_static_storages()
