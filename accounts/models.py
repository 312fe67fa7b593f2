"""The user model, custom from the first migration so it can grow later."""

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """An account: a username, an Argon2id hash and a TOTP device."""

    class Meta:
        db_table = "accounts_user"
