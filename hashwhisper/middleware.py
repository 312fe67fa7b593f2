"""Security middleware that Django does not ship."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware


class SecurityHeadersMiddleware:
    """Permissions-Policy (camera and microphone for this origin only, for
    voice notes) and Cross-Origin-Resource-Policy, which Django has no
    settings for."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault(
            "Permissions-Policy", settings.HASHWHISPER_PERMISSIONS_POLICY
        )
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
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
        return bool(super()._origin_verified(request))
