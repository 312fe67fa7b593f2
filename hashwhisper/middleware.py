"""Security middleware that Django does not ship."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
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
