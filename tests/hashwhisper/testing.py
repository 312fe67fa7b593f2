"""Helpers shared by the server test folders: settings tweaks and types."""

from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    # The test client's answers carry json(), templates and so on; the type
    # exists only in django-stubs.
    from django.test.client import _MonkeyPatchedWSGIResponse as Response
else:
    from django.http import HttpResponse as Response

__all__ = ["FAST_HASHER", "Response", "plain_static_storages"]

PLAIN_STATIC_STORAGE = "django.contrib.staticfiles.storage.StaticFilesStorage"
FAST_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"


def plain_static_storages() -> dict[str, Any]:
    """``STORAGES`` with static files served without a manifest.

    Production settings use whitenoise's manifest storage, which needs
    ``collectstatic`` to have run; the test suite renders pages without it.
    """
    return {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": PLAIN_STATIC_STORAGE},
    }
