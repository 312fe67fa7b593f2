"""Session lifetimes, and no page or API past login without a verified TOTP
device."""

import logging
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts import sessions

security_log = logging.getLogger("hashwhisper.security")

# Reachable before login. The join page only reads the invitation in the
# browser and sends the visitor on to log in; it shows nothing by itself.
PUBLIC_PREFIXES = (
    "/accounts/register/",
    "/accounts/login/",
    "/accounts/totp/enrol/",
    "/accounts/logout/",
    "/g/join",
    "/favicon.ico",
)


def is_verified(request: HttpRequest) -> bool:
    user = request.user
    check = getattr(user, "is_verified", None)
    return bool(user.is_authenticated and check is not None and check())


class SessionLifetimeMiddleware:
    """Ends a signed-in session that sat idle or lived too long.

    The session is flushed on the server, so its cookie is worthless from
    then on; the request goes on as an anonymous one and meets the login
    check below.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and sessions.session_expired(request):
            security_log.info("session expired user_id=%s", user.pk)
            logout(request)
        return self.get_response(request)


class RequireVerifiedMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.static_prefix = settings.STATIC_URL or "/static/"

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if path.startswith(PUBLIC_PREFIXES) or path.startswith(self.static_prefix):
            return self.get_response(request)
        if is_verified(request):
            return self.get_response(request)
        if path.startswith(("/api/", "/events/")):
            return JsonResponse({"error": "Log in first."}, status=401)
        login_url = reverse("accounts:login")
        if request.method == "GET" and path != "/":
            login_url += "?" + urlencode({"next": path})
        return redirect(login_url)
