"""Account flows: registration, the two login steps, TOTP enrolment and
reset, password change and account deletion.

Between the password step and the code step nobody is logged in: the
session holds only the pending user's id and when the password was checked.
Django's ``login()`` runs after a correct code, so ``request.user`` is never
a half-authenticated account.
"""

import base64
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING

import django_otp
import qrcode
from django.conf import settings
from django.contrib.auth import login, logout, update_session_auth_hash
from django.db import transaction
from django.http import HttpRequest
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice
from qrcode.image.svg import SvgPathImage

from accounts import lockout, recovery, session_auth, sessions
from accounts.models import User

if TYPE_CHECKING:
    from groups.models import Group

security_log = logging.getLogger("hashwhisper.security")
log = logging.getLogger("hashwhisper.accounts")

PENDING_USER = "hw_pending_user"
PENDING_SINCE = "hw_pending_since"
PENDING_NEXT = "hw_pending_next"
# Recovery codes made for an authenticator being set up, shown on its page
# until the authenticator is confirmed, then dropped from the session.
PENDING_CODES = "hw_pending_codes"
# When the password and code for an authenticator reset were confirmed.
RESET_SINCE = "hw_reset_since"


class CodeThrottled(Exception):
    """django-otp's pause after a wrong code has not passed yet: the code
    was not checked (right or wrong, it would be refused)."""

    def __init__(self, until: datetime) -> None:
        super().__init__("code checks paused")
        self.until = until


def ensure_checkable(device: Device) -> None:
    """Raise ``CodeThrottled`` while the device's own pause after a wrong
    code lasts (1, 2, 4 ... seconds), so a person is told to wait rather
    than that a right code is wrong. django-otp checks the same again,
    under the row lock, when the code is verified."""
    fresh = type(device).objects.filter(pk=device.pk).first()
    if fresh is None:
        return
    allowed, data = fresh.verify_is_allowed()
    if not allowed and data and data.get("locked_until") is not None:
        raise CodeThrottled(data["locked_until"])


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


def _ascii_digits(text: str) -> bool:
    # str.isdigit() is true of every script's digits ("١٢٣٤٥٦"), and
    # django-otp's int() reads them as the same number.
    return text.isascii() and text.isdigit()


def verify_code(user: User, device: TOTPDevice, code: str) -> bool:
    """Check a code under a row lock, so one code cannot pass twice."""
    code = code.strip().replace(" ", "")
    if not (_ascii_digits(code) and len(code) == 6):
        return False
    ensure_checkable(device)
    checked = django_otp.verify_token(user, device.persistent_id, code)
    return checked is not None


def verify_second_factor(user: User, code: str) -> Device | None:
    """The confirmed device that accepts ``code``: six digits are checked
    against the authenticator, anything else as a recovery code."""
    digits = "".join(code.split())
    if digits.isdigit():
        # Digits of any script are a code attempt, refused unless ASCII.
        device = confirmed_device(user)
        if device is not None and verify_code(user, device, digits):
            return device
        return None
    bare = recovery.normalize(code)
    codes = recovery.active_device(user)
    if bare is None or codes is None:
        return None
    ensure_checkable(codes)
    token = recovery.stored_token(user, bare)
    accepted: Device | None = django_otp.verify_token(user, codes.persistent_id, token)
    if accepted is not None:
        log.info("recovery code used user_id=%s", user.pk)
    return accepted


def complete_login(request: HttpRequest, user: User, device: Device) -> None:
    """Log the user in after a correct code; ``login()`` cycles the key."""
    clear_pending_login(request)
    login(request, user, backend=session_auth.BACKEND)
    django_otp.login(request, device)
    sessions.start_session_clock(request)
    lockout.clear_failures(lockout.username_key(user.get_username()))
    log.info("login completed user_id=%s", user.pk)


def pending_codes(request: HttpRequest, user: User) -> list[str]:
    """The recovery codes for the authenticator ``user`` is setting up.

    They are made once per setup and kept in the session until the setup is
    confirmed, so reloading the page shows the same codes; afterwards no
    page can show them again.
    """
    held = request.session.get(PENDING_CODES)
    if (
        isinstance(held, dict)
        and held.get("user") == user.pk
        and recovery.has_pending(user)
    ):
        return [str(code) for code in held.get("codes", [])]
    codes = recovery.issue_codes(user)
    request.session[PENDING_CODES] = {"user": user.pk, "codes": codes}
    return codes


@transaction.atomic
def confirm_enrolment(device: TOTPDevice) -> None:
    """Make ``device`` the user's authenticator, with its recovery codes."""
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=device.user, confirmed=False).delete()
    recovery.activate_codes(device.user)


def finish_enrolment(request: HttpRequest, device: TOTPDevice) -> None:
    confirm_enrolment(device)
    request.session.pop(PENDING_CODES, None)


@transaction.atomic
def replace_authenticator(request: HttpRequest, user: User, device: TOTPDevice) -> int:
    """Swap in a newly confirmed authenticator and end other sessions.

    The old authenticator and recovery codes stop working at once; other
    sessions are deleted and would fail their device check anyway, since
    the device they were verified with is gone.
    """
    TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()
    confirm_enrolment(device)
    request.session.pop(PENDING_CODES, None)
    request.session.pop(RESET_SINCE, None)
    request.session.cycle_key()
    django_otp.login(request, device)
    ended = sessions.end_other_sessions(request, user)
    log.info("authenticator replaced user_id=%s", user.pk)
    return ended


def start_authenticator_reset(request: HttpRequest, user: User) -> TOTPDevice:
    """Begin replacing the authenticator, after password and code passed.

    A new, unconfirmed device and a new set of recovery codes are made; the
    old ones keep working until the new device is confirmed with a code.
    """
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(
        user=user, name="Authenticator app", confirmed=False
    )
    request.session.pop(PENDING_CODES, None)
    request.session[RESET_SINCE] = int(time.time())
    log.info("authenticator reset started user_id=%s", user.pk)
    return device


def change_password(request: HttpRequest, user: User, new_password: str) -> int:
    """Set a new password, cycle this session, end the user's other ones."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    # Stores the new session hash and cycles the key; every other session
    # now fails Django's hash check, and is also deleted outright.
    update_session_auth_hash(request, user)
    ended = sessions.end_other_sessions(request, user)
    log.info("password changed user_id=%s", user.pk)
    return ended


def delete_account(request: HttpRequest, user: User) -> None:
    """Remove the account and everything it owns, then log this session out.

    Each group is left the way a member leaves it (recorded in its chain,
    announced to the others); where the user owns a group that others are
    still in, ownership first passes to the member who joined earliest.
    Groups nobody is left in are deleted with their messages. Memberships,
    messages and devices then go with the user by their cascading foreign
    keys.
    """
    # Imported here: groups and chat import accounts at module level.
    from groups.models import Group, Membership
    from groups.services import leave_group

    user_id = user.pk
    _delete_blobs(user)
    # In id order, as each group's lock is taken in turn: two accounts that
    # share groups, deleted at once, then wait for each other rather than
    # deadlock.
    groups = list(Group.objects.filter(memberships__user=user).order_by("pk"))
    with transaction.atomic():
        for group in groups:
            _hand_over_ownership(user, group)
            leave_group(user, group)
        Group.objects.filter(pk__in=[g.pk for g in groups]).exclude(
            pk__in=Membership.objects.values("group_id")
        ).delete()
        sessions.end_sessions(user, keep=request.session.session_key)
        lockout.clear_failures(lockout.username_key(user.get_username()))
        user.delete()
    logout(request)
    log.info("account deleted user_id=%s groups_left=%s", user_id, len(groups))


def _hand_over_ownership(user: User, group: "Group") -> None:
    from groups.models import Membership
    from groups.services import transfer_ownership

    mine = Membership.objects.filter(group=group, user=user).first()
    if mine is None or mine.role != Membership.Role.OWNER:
        return
    heir = (
        Membership.objects.filter(group=group)
        .exclude(user=user)
        .order_by("joined_at", "pk")
        .first()
    )
    if heir is not None:
        transfer_ownership(user, group, heir.user_id)


def _delete_blobs(user: User) -> None:
    # The media vault owns blob files. When it offers a function for this it
    # is called, so files leave the disk with the account; blob rows tied to
    # the user by a cascading foreign key go with the user in any case.
    try:
        from media_vault import services as vault
    except ImportError:
        return
    delete_user_blobs = getattr(vault, "delete_user_blobs", None)
    if callable(delete_user_blobs):
        delete_user_blobs(user)
