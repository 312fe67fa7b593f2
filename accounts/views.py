"""Registration, the two login steps, TOTP enrolment, logout, and the
account security page (password, authenticator, recovery codes, deletion)."""

import logging
import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts import guards, limits, recovery, services
from accounts.forms import (
    CodeForm,
    ConfirmForm,
    LoginForm,
    PasswordChangeForm,
    RecoveryCodeForm,
    RegistrationForm,
)
from accounts.guards import REFUSALS
from accounts.models import User

security_log = logging.getLogger("hashwhisper.security")

WRONG_LOGIN = "Wrong username or password."
WRONG_CODE = "That code is wrong or already used."
WRONG_CURRENT = "That is not your current password."


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """Keep only same-site relative targets for the post-login redirect."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def posted(request: HttpRequest) -> QueryDict | None:
    """The form data of a POST, even when it holds no fields at all.

    ``request.POST or None`` would leave a POST with no form fields (a JSON
    body, or every field sent as a file) with an unbound form, which shows
    no error; a bound empty form says which fields are missing.
    """
    return request.POST if request.method == "POST" else None


def finish_redirect(request: HttpRequest, next_url: str) -> HttpResponseRedirect:
    return redirect(next_url or reverse("chat:home"))


def refused_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    exc: Exception,
) -> HttpResponse:
    """Render ``template`` again with the refusal as the form's error."""
    status, message = guards.refusal(exc)
    form = context["form"]
    form.add_error(None, message)
    return render(request, template, context, status=status)


# Registration and login ------------------------------------------------------


@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request, request.GET.get("next") or request.POST.get("next"))
    form = RegistrationForm(posted(request))
    context = {"form": form, "next": next_url}
    if request.method == "POST":
        try:
            limits.check(request, limits.REGISTER)
            if form.is_valid():
                user = services.register_user(
                    form.cleaned_data["username"], form.cleaned_data["password1"]
                )
                limits.count(request, limits.REGISTER)
                logout(request)
                services.start_pending_login(request, user, next_url)
                return redirect("accounts:enrol")
            if form.has_error("username", code="taken"):
                # "That username is taken" tells whether an account exists,
                # so these answers count against the address's limit too;
                # a typo in a new name does not.
                limits.count(request, limits.REGISTER)
        except REFUSALS as exc:
            # A blank form: validating the posted one would show "That
            # username is taken", the answer the limit is there to withhold.
            blank = RegistrationForm()
            blank.cleaned_data = {}
            context = {**context, "form": blank}
            return refused_page(request, "accounts/register.html", context, exc)
    return render(request, "accounts/register.html", context)


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def login_password(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request, request.GET.get("next") or request.POST.get("next"))
    if request.user.is_authenticated and getattr(request.user, "is_verified", bool)():
        return finish_redirect(request, next_url)
    form = LoginForm(posted(request))
    context = {"form": form, "next": next_url}
    if request.method == "POST" and form.is_valid():
        try:
            user = guards.password_step(
                request, form.cleaned_data["username"], form.cleaned_data["password"]
            )
        except REFUSALS as exc:
            security_log.warning("password step refused: %s", type(exc).__name__)
            return refused_page(request, "accounts/login.html", context, exc)
        if user is not None:
            logout(request)
            services.start_pending_login(request, user, next_url)
            if services.confirmed_device(user) is None:
                return redirect("accounts:enrol")
            return redirect("accounts:code")
        security_log.warning("password refused")
        form.add_error(None, WRONG_LOGIN)
    return render(request, "accounts/login.html", context)


def _second_step(
    request: HttpRequest, form: CodeForm | RecoveryCodeForm, template: str
) -> HttpResponse:
    """The code step, with an authenticator code or a recovery code."""
    user = services.pending_user(request)
    if user is None:
        return redirect("accounts:login")
    if services.confirmed_device(user) is None:
        return redirect("accounts:enrol")
    context = {"form": form}
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        try:
            device = guards.code_step(
                request, user, lambda: services.verify_second_factor(user, code)
            )
        except REFUSALS as exc:
            if isinstance(exc, guards.AccountLocked):
                # The password has to be given again once the lock lapses.
                services.clear_pending_login(request)
            return refused_page(request, template, context, exc)
        if device is not None:
            next_url = services.pending_next(request)
            services.complete_login(request, user, device)
            return finish_redirect(request, next_url)
        security_log.warning("second factor refused user_id=%s", user.pk)
        form.add_error("code", WRONG_CODE)
    return render(request, template, context)


@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    return _second_step(request, CodeForm(posted(request)), "accounts/code.html")


@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def login_recovery(request: HttpRequest) -> HttpResponse:
    form = RecoveryCodeForm(posted(request))
    return _second_step(request, form, "accounts/recovery.html")


@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    user = services.pending_user(request)
    if user is None:
        return redirect("accounts:login")
    if services.confirmed_device(user) is not None:
        return redirect("accounts:code")
    device = services.enrolment_device(user)
    form = CodeForm(posted(request))
    context = {
        "form": form,
        "qr_svg": services.totp_qr_svg(device),
        "key_text": services.totp_key_text(device),
        "username": user.get_username(),
        "recovery_codes": services.pending_codes(request, user),
    }
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        try:
            accepted = guards.code_step(
                request,
                user,
                lambda: device if services.verify_code(user, device, code) else None,
            )
        except REFUSALS as exc:
            return refused_page(request, "accounts/enrol.html", context, exc)
        if accepted is not None:
            services.finish_enrolment(request, device)
            next_url = services.pending_next(request)
            services.complete_login(request, user, device)
            return finish_redirect(request, next_url)
        security_log.warning("totp enrolment code refused user_id=%s", user.pk)
        form.add_error("code", "That code is wrong. Check the time on your phone.")
    return render(request, "accounts/enrol.html", context)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    # logout() flushes the session: its row is deleted on the server, so the
    # old cookie is worthless even if someone kept a copy.
    logout(request)
    return redirect("accounts:login")


# The account security page -------------------------------------------------


def signed_in_user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        # RequireVerifiedMiddleware lets only verified users reach these views.
        raise PermissionDenied
    return user


def security_context(request: HttpRequest, **forms: Any) -> dict[str, Any]:
    user = signed_in_user(request)
    return {
        "password_form": forms.get("password_form") or PasswordChangeForm(user),
        "reset_form": forms.get("reset_form") or ConfirmForm(prefix="reset"),
        "codes_form": forms.get("codes_form") or ConfirmForm(prefix="codes"),
        "delete_form": forms.get("delete_form") or ConfirmForm(prefix="delete"),
        "codes_left": recovery.remaining(user),
    }


def security_refusal(
    request: HttpRequest, name: str, form: Any, exc: Exception
) -> HttpResponse:
    status, message = guards.refusal(exc)
    form.add_error(None, message)
    context = security_context(request, **{name: form})
    return render(request, "accounts/security.html", context, status=status)


def confirmed(request: HttpRequest, form: ConfirmForm) -> bool:
    """Check the form's password and code; add an error if either is wrong."""
    user = signed_in_user(request)
    if not guards.confirm_password(request, user, form.cleaned_data["password"]):
        form.add_error("password", WRONG_CURRENT)
        return False
    code = form.cleaned_data["code"]
    device = guards.code_step(
        request, user, lambda: services.verify_second_factor(user, code)
    )
    if device is None:
        form.add_error("code", WRONG_CODE)
        return False
    return True


@require_http_methods(["GET"])
def security(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/security.html", security_context(request))


@sensitive_post_parameters("current_password", "new_password1", "new_password2")
@require_POST
def change_password(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    form = PasswordChangeForm(user, request.POST)
    try:
        if form.is_valid():
            current = form.cleaned_data["current_password"]
            if guards.confirm_password(request, user, current):
                ended = services.change_password(
                    request, user, form.cleaned_data["new_password1"]
                )
                messages.success(request, _ended_text("Password changed.", ended))
                return redirect("accounts:security")
            form.add_error("current_password", WRONG_CURRENT)
    except REFUSALS as exc:
        return security_refusal(request, "password_form", form, exc)
    context = security_context(request, password_form=form)
    return render(request, "accounts/security.html", context, status=400)


@sensitive_post_parameters("reset-password", "reset-code")
@require_POST
def start_authenticator_reset(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    form = ConfirmForm(request.POST, prefix="reset")
    try:
        if form.is_valid() and confirmed(request, form):
            services.start_authenticator_reset(request, user)
            return redirect("accounts:new-authenticator")
    except REFUSALS as exc:
        return security_refusal(request, "reset_form", form, exc)
    context = security_context(request, reset_form=form)
    return render(request, "accounts/security.html", context, status=400)


@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def new_authenticator(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    since = request.session.get(services.RESET_SINCE, 0)
    if time.time() - since > settings.HASHWHISPER_PENDING_LOGIN_SECONDS:
        return redirect("accounts:security")
    device = services.enrolment_device(user)
    form = CodeForm(posted(request))
    context = {
        "form": form,
        "qr_svg": services.totp_qr_svg(device),
        "key_text": services.totp_key_text(device),
        "recovery_codes": services.pending_codes(request, user),
    }
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        try:
            accepted = guards.code_step(
                request,
                user,
                lambda: device if services.verify_code(user, device, code) else None,
            )
        except REFUSALS as exc:
            return refused_page(
                request, "accounts/new_authenticator.html", context, exc
            )
        if accepted is not None:
            ended = services.replace_authenticator(request, user, device)
            text = _ended_text("Your new authenticator app is set up.", ended)
            messages.success(request, text)
            return redirect("accounts:security")
        form.add_error("code", "That code is wrong. Check the time on your phone.")
    return render(request, "accounts/new_authenticator.html", context)


@sensitive_post_parameters("codes-password", "codes-code")
@require_POST
def new_recovery_codes(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    form = ConfirmForm(request.POST, prefix="codes")
    try:
        if form.is_valid() and confirmed(request, form):
            codes = recovery.issue_codes(user)
            recovery.activate_codes(user)
            security_log.info("recovery codes replaced user_id=%s", user.pk)
            return render(request, "accounts/recovery_codes.html", {"codes": codes})
    except REFUSALS as exc:
        return security_refusal(request, "codes_form", form, exc)
    context = security_context(request, codes_form=form)
    return render(request, "accounts/security.html", context, status=400)


@sensitive_post_parameters("delete-password", "delete-code")
@require_POST
def delete_account(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    form = ConfirmForm(request.POST, prefix="delete")
    try:
        if form.is_valid() and confirmed(request, form):
            services.delete_account(request, user)
            return render(request, "accounts/deleted.html")
    except REFUSALS as exc:
        return security_refusal(request, "delete_form", form, exc)
    context = security_context(request, delete_form=form)
    return render(request, "accounts/security.html", context, status=400)


def _ended_text(done: str, ended: int) -> str:
    if ended == 0:
        return done
    plural = "s" if ended != 1 else ""
    return f"{done} {ended} other session{plural} ended."
