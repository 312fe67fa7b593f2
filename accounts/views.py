"""Registration, the two login steps, TOTP enrolment and logout."""

import logging

from django.contrib.auth import authenticate, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services
from accounts.forms import CodeForm, LoginForm, RegistrationForm
from accounts.models import User

security_log = logging.getLogger("hashwhisper.security")


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """Keep only same-site relative targets for the post-login redirect."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def finish_redirect(request: HttpRequest, next_url: str) -> HttpResponseRedirect:
    return redirect(next_url or reverse("chat:home"))


@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request, request.GET.get("next") or request.POST.get("next"))
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.register_user(
            form.cleaned_data["username"], form.cleaned_data["password1"]
        )
        logout(request)
        services.start_pending_login(request, user, next_url)
        return redirect("accounts:enrol")
    return render(request, "accounts/register.html", {"form": form, "next": next_url})


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def login_password(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request, request.GET.get("next") or request.POST.get("next"))
    if request.user.is_authenticated and getattr(request.user, "is_verified", bool)():
        return finish_redirect(request, next_url)
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = authenticate(
            request,
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
        )
        if isinstance(user, User):
            logout(request)
            services.start_pending_login(request, user, next_url)
            if services.confirmed_device(user) is None:
                return redirect("accounts:enrol")
            return redirect("accounts:code")
        security_log.warning("password refused")
        form.add_error(None, "Wrong username or password.")
    return render(request, "accounts/login.html", {"form": form, "next": next_url})


@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    user = services.pending_user(request)
    if user is None:
        return redirect("accounts:login")
    device = services.confirmed_device(user)
    if device is None:
        return redirect("accounts:enrol")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.verify_code(user, device, form.cleaned_data["code"]):
            next_url = services.pending_next(request)
            services.complete_login(request, user, device)
            return finish_redirect(request, next_url)
        security_log.warning("totp code refused user_id=%s", user.pk)
        form.add_error("code", "That code is wrong or already used.")
    return render(request, "accounts/code.html", {"form": form})


@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    user = services.pending_user(request)
    if user is None:
        return redirect("accounts:login")
    if services.confirmed_device(user) is not None:
        return redirect("accounts:code")
    device = services.enrolment_device(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.verify_code(user, device, form.cleaned_data["code"]):
            services.confirm_enrolment(device)
            next_url = services.pending_next(request)
            services.complete_login(request, user, device)
            return finish_redirect(request, next_url)
        security_log.warning("totp enrolment code refused user_id=%s", user.pk)
        form.add_error("code", "That code is wrong. Check the time on your phone.")
    context = {
        "form": form,
        "qr_svg": services.totp_qr_svg(device),
        "key_text": services.totp_key_text(device),
        "username": user.get_username(),
    }
    response = render(request, "accounts/enrol.html", context)
    # The page shows a secret key: keep it out of every cache.
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("accounts:login")
