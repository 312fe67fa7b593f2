"""Encrypted messages: the server stores what it cannot read."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from groups.models import Group


def default_expiry() -> datetime:
    return timezone.now() + timedelta(days=settings.HASHWHISPER_RETENTION_DAYS)


class Message(models.Model):
    # The auto-increasing id doubles as the history cursor and the order
    # browsers sort by, whatever order live events arrive in.
    id = models.BigAutoField(primary_key=True)
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    epoch = models.PositiveIntegerField()
    ciphertext = models.BinaryField()
    nonce = models.BinaryField(max_length=12)
    tag = models.BinaryField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=default_expiry)

    class Meta:
        constraints = [
            # AES-GCM breaks if a key meets the same nonce twice.
            models.UniqueConstraint(
                fields=["group", "nonce"], name="nonce_once_per_group"
            )
        ]
        indexes = [models.Index(fields=["group", "id"], name="message_history")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"message {self.id} in {self.group_id}"


class ReadMarker(models.Model):
    """How far one member has read in one group: a message id, nothing else."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="+")
    last_read_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "group"], name="one_read_marker")
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} read {self.group_id} to {self.last_read_id}"
