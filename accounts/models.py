"""The user model, custom from the first migration so it can grow later."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class User(AbstractUser):
    """An account: a username, an Argon2id hash and a TOTP device."""

    class Meta:
        db_table = "accounts_user"


class UserSession(models.Model):
    """One signed-in browser session, as its owner sees it on the data page.

    Only a hash of the session key is kept, so this table cannot be used to
    take over a session. Deleting a row ends that session: the middleware
    logs out any tracked session whose row is gone.
    """

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="tracked_sessions"
    )
    key_hash = models.BinaryField(max_length=32, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    # A coarse description such as "Firefox on Linux", never the full
    # User-Agent string, which would fingerprint the browser.
    client = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"session {self.pk} of user {self.user_id}"


class LoginLock(models.Model):
    """Recent failed passwords and codes for one username, and its lock.

    Rows are keyed by a keyed hash of the lower-cased username rather than
    by a user, so that an unknown username counts and locks exactly like a
    known one and the answers never tell them apart. The hash also keeps a
    password typed into the username field out of the table.
    """

    key = models.CharField(max_length=64, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(db_index=True, default=timezone.now)

    def __str__(self) -> str:
        return f"login lock {self.key[:8]}"
