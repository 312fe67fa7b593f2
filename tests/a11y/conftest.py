"""The accessibility suite uses the browser suite's server and Chromium."""

from tests.e2e.conftest import browser, server

__all__ = ["browser", "server"]
