"""Security middleware that Django does not ship."""

import functools
from collections.abc import Callable
from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.cache import patch_cache_control


class SecurityHeadersMiddleware:
    """Headers Django has no settings for.

    ``Permissions-Policy`` allows camera and microphone for this origin only
    (voice notes) and nothing else. ``Cross-Origin-Resource-Policy`` and
    ``Cross-Origin-Embedder-Policy`` keep other sites from embedding any of
    our responses and keep our pages from embedding anything that did not
    opt in; every resource the pages load is same-origin, ``data:`` or
    ``blob:``, so nothing is lost. The middleware sits first, so static files,
    HTTPS redirects and error pages carry the headers too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault(
            "Permissions-Policy", settings.HASHWHISPER_PERMISSIONS_POLICY
        )
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Embedder-Policy", "require-corp")
        return response


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on every answer that is not a static file.

    Pages, API answers and event streams are per user and may hold names,
    ciphertext or CSRF tokens: no browser or proxy cache may keep them. The
    middleware sits after WhiteNoise, so static files keep their long-lived
    caching.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        patch_cache_control(response, no_store=True)
        return response


class HashWhisperCsrfMiddleware(CsrfViewMiddleware):
    """Django's CSRF check, made to work with ``Referrer-Policy: no-referrer``.

    Under that policy browsers send ``Origin: null`` with same-origin form
    posts, which Django's origin check refuses. A browser also sends
    ``Sec-Fetch-Site``, which page scripts cannot set; when it says
    ``same-origin`` the null origin is accepted. The CSRF token itself is
    still required and checked as usual.
    """

    def _origin_verified(self, request: HttpRequest) -> bool:
        if (
            request.META.get("HTTP_ORIGIN") == "null"
            and request.META.get("HTTP_SEC_FETCH_SITE") == "same-origin"
        ):
            return True
        return bool(super()._origin_verified(request))  # type: ignore[misc]


# Response attributes through which a view changes or drops its policy
# (django-csp's decorators set them).
_PER_RESPONSE_POLICY = tuple(
    f"_csp_{what}{ro}"
    for what in ("config", "update", "replace", "exempt")
    for ro in ("", "_ro")
)


@functools.cache
def _fixed_policies() -> tuple[tuple[str, str], ...]:
    """The site-wide policy headers, built by django-csp from settings."""
    return (
        (HEADER, build_policy()),
        (HEADER_REPORT_ONLY, build_policy(report_only=True)),
    )


@receiver(setting_changed)
def _policy_settings_changed(setting: str, **kwargs: Any) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _fixed_policies.cache_clear()


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, building the site-wide policy once.

    django-csp builds the header from settings for every response (about a
    tenth of a message post's time here). Our views never change the policy
    per response and use no nonce, so such responses get the header built
    once; a response that asks for anything else (a nonce, a decorator's
    change, an excluded path, Debug's error pages) goes through django-csp
    unchanged.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if (
            settings.DEBUG
            or getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in _PER_RESPONSE_POLICY)
            or _excludes_paths()
        ):
            return super().process_response(request, response)
        for header, policy in _fixed_policies():
            if policy and header not in response:
                response[header] = policy
        # As django-csp does: a nonce asked for after this point would not
        # be in the header, so asking raises.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response


def _excludes_paths() -> bool:
    return any(
        (getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES")
        for name in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY")
    )
