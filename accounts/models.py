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
