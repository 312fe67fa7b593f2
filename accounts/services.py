"""Account flows: registration, the two login steps and TOTP enrolment.

Between the password step and the code step nobody is logged in: the
session holds only the pending user's id and when the password was checked.
Django's ``login()`` runs after a correct code, so ``request.user`` is never
a half-authenticated account.
"""

import base64
import logging
import time

import django_otp
import qrcode
from django.conf import settings
from django.contrib.auth import login
from django.db import transaction
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice
from qrcode.image.svg import SvgPathImage

from accounts.models import User

security_log = logging.getLogger("hashwhisper.security")
log = logging.getLogger("hashwhisper.accounts")

PENDING_USER = "hw_pending_user"
PENDING_SINCE = "hw_pending_since"
PENDING_NEXT = "hw_pending_next"


@transaction.atomic
def register_user(username: str, password: str) -> User:
    user = User.objects.create_user(username=username, password=password)
    TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    log.info("account registered user_id=%s", user.pk)
    return user


def start_pending_login(request: HttpRequest, user: User, next_url: str = "") -> None:
    """Remember a user whose password was right, and cycle the session key."""
    request.session.cycle_key()
    request.session[PENDING_USER] = user.pk
    request.session[PENDING_SINCE] = int(time.time())
    request.session[PENDING_NEXT] = next_url


def pending_user(request: HttpRequest) -> User | None:
    user_id = request.session.get(PENDING_USER)
    since = request.session.get(PENDING_SINCE, 0)
    if user_id is None:
        return None
    if time.time() - since > settings.HASHWHISPER_PENDING_LOGIN_SECONDS:
        clear_pending_login(request)
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


def pending_next(request: HttpRequest) -> str:
    return str(request.session.get(PENDING_NEXT, ""))


def clear_pending_login(request: HttpRequest) -> None:
    for key in (PENDING_USER, PENDING_SINCE, PENDING_NEXT):
        request.session.pop(key, None)


def confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def enrolment_device(user: User) -> TOTPDevice:
    """The unconfirmed device a user is enrolling, made if missing."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(
            user=user, name="Authenticator app", confirmed=False
        )
    return device


def totp_qr_svg(device: TOTPDevice) -> str:
    """The otpauth URI as SVG markup: paths only, no script, no style."""
    image = qrcode.make(device.config_url, image_factory=SvgPathImage, box_size=8)
    return str(image.to_string(encoding="unicode"))


def totp_key_text(device: TOTPDevice) -> str:
    """The key in base32, in groups of four, for typing into an app."""
    key = base64.b32encode(bytes(device.bin_key)).decode("ascii").rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def verify_code(user: User, device: TOTPDevice, code: str) -> bool:
    """Check a code under a row lock, so one code cannot pass twice."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return False
    checked = django_otp.verify_token(user, device.persistent_id, code)
    return checked is not None


def complete_login(request: HttpRequest, user: User, device: TOTPDevice) -> None:
    """Log the user in after a correct code; ``login()`` cycles the key."""
    clear_pending_login(request)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    django_otp.login(request, device)
    log.info("login completed user_id=%s", user.pk)


@transaction.atomic
def confirm_enrolment(device: TOTPDevice) -> None:
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=device.user, confirmed=False).delete()
