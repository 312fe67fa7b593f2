"""System checks for the security set-up that Django's own checks miss."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.module_loading import import_string


@register("security", deploy=False)
def csrf_middleware_installed(
    app_configs: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """A CSRF middleware (Django's, or a subclass of it) must be installed.

    Django's own deploy check (``security.W003``) accepts only its class by
    name, so the project silences it and relies on this check instead.
    """
    for path in settings.MIDDLEWARE:
        middleware = import_string(path)
        if isinstance(middleware, type) and issubclass(middleware, CsrfViewMiddleware):
            return []
    return [
        Error(
            "No CSRF middleware is installed.",
            hint="Add hashwhisper.middleware.HashWhisperCsrfMiddleware to MIDDLEWARE.",
            id="hashwhisper.E001",
        )
    ]
