"""No page or API past the login screens without a verified TOTP device."""

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

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
