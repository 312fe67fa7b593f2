"""The privacy tests reuse the admin tests' world: one row of every kind."""

from tests.admin.conftest import admin_settings

__all__ = ["admin_settings"]
