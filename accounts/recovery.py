"""Single-use recovery codes (django-otp's static device).

Ten codes are made when an authenticator is set up and shown only then.
Each is 12 characters from the base32 alphabet (60 random bits), shown as
three groups of four. The database keeps only a hash of each code bound to
the user, so neither the admin nor a copy of the database shows a usable
code. django-otp deletes a code once it is used and throttles wrong ones.
"""

import hashlib
import secrets

from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from accounts.models import User

CODE_COUNT = 10
CODE_LENGTH = 12
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
DEVICE_NAME = "Recovery codes"


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def display(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalize(text: str) -> str | None:
    """The bare code in what a person typed, or ``None`` if there is none."""
    code = "".join(text.split()).replace("-", "").lower()
    if len(code) != CODE_LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code


def stored_token(user: User, code: str) -> str:
    """What the database keeps for ``code``: 16 hex digits, per user."""
    return hashlib.sha256(f"{user.pk}:{code}".encode()).hexdigest()[:16]


@transaction.atomic
def issue_codes(user: User) -> list[str]:
    """Make a fresh, not yet active set of codes; return them for display.

    The set becomes active with ``activate_codes`` once the user confirmed
    the authenticator it belongs to; until then the old set keeps working.
    """
    StaticDevice.objects.filter(user=user, confirmed=False).delete()
    device = StaticDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    codes = [new_code() for _ in range(CODE_COUNT)]
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=stored_token(user, code)) for code in codes
    )
    return [display(code) for code in codes]


@transaction.atomic
def activate_codes(user: User) -> bool:
    """Replace the active set with the pending one, if there is one."""
    pending = StaticDevice.objects.filter(user=user, confirmed=False).first()
    if pending is None:
        return False
    StaticDevice.objects.filter(user=user, confirmed=True).delete()
    pending.confirmed = True
    pending.save(update_fields=["confirmed"])
    return True


def active_device(user: User) -> StaticDevice | None:
    return StaticDevice.objects.filter(user=user, confirmed=True).first()


def remaining(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def has_pending(user: User) -> bool:
    return StaticDevice.objects.filter(user=user, confirmed=False).exists()
