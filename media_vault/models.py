"""Encrypted file blobs: random-named ciphertext files and their metadata.

The server knows a blob's group, uploader, declared MIME type, ciphertext
size and expiry. The file name, the real type and the plaintext size travel
only inside the encrypted message that refers to the blob.
"""

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from groups.models import Group
from hashwhisper.crypto import random_id

# 24 random bytes (192 bits) as 32 characters of unpadded base64url.
BLOB_ID_BYTES = 24
BLOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")
# An upload that is never attached to a message is an orphan after this long.
ORPHAN_SECONDS = 3600


def new_blob_id() -> str:
    return random_id(BLOB_ID_BYTES)


def orphan_expiry() -> datetime:
    return timezone.now() + timedelta(seconds=ORPHAN_SECONDS)


class Blob(models.Model):
    class State(models.TextChoices):
        # Reserved: the id exists, no bytes have arrived.
        PENDING = "pending", "Pending"
        # One request is writing the file; no second upload may start.
        UPLOADING = "uploading", "Uploading"
        # The ciphertext file is complete and on disk.
        STORED = "stored", "Stored"

    id = models.CharField(
        primary_key=True, max_length=32, default=new_blob_id, editable=False
    )
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="blobs")
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    # A deleted message leaves its blobs behind with an expiry of now, so the
    # next purge shreds their files (see media_vault.signals).
    message = models.ForeignKey(
        "chat.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="blobs",
    )
    mime = models.CharField(max_length=100)
    # Ciphertext bytes, header and tags included: exactly what is uploaded.
    size = models.PositiveBigIntegerField()
    state = models.CharField(max_length=9, choices=State.choices, default=State.PENDING)
    # Random relative path "ab/cd/<32 hex>", never derived from any input.
    storage_name = models.CharField(max_length=80, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=orphan_expiry)

    class Meta:
        indexes = [
            models.Index(fields=["expires_at"], name="blob_expiry"),
            models.Index(fields=["uploader", "state"], name="blob_uploader_state"),
        ]

    def __str__(self) -> str:
        return f"blob {self.id} in {self.group_id}"
