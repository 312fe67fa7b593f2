"""Groups and memberships. The server keeps no secret: a salt, an iteration
count, the hash of the membership token and the encrypted name."""

import re

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

GROUP_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")


class Group(models.Model):
    # The browser picks the id (16 random bytes, base64url), because it is
    # bound into the encrypted name's AAD before the server is asked.
    id = models.CharField(
        primary_key=True,
        max_length=22,
        validators=[RegexValidator(r"\A[A-Za-z0-9_-]{22}\Z")],
    )
    salt = models.BinaryField(max_length=64)
    iterations = models.PositiveIntegerField()
    token_hash = models.BinaryField(max_length=32)
    name_ciphertext = models.BinaryField(max_length=1024)
    name_nonce = models.BinaryField(max_length=12)
    name_tag = models.BinaryField(max_length=16)
    # The description is content too: sealed like the name, empty until set.
    description_ciphertext = models.BinaryField(max_length=4096, default=b"")
    description_nonce = models.BinaryField(max_length=12, default=b"")
    description_tag = models.BinaryField(max_length=16, default=b"")
    # Rises with each secret rotation; messages carry the epoch they used.
    epoch = models.PositiveIntegerField(default=1)
    # Days a message or blob of this group lives, when the owner chose fewer
    # than HASHWHISPER_RETENTION_DAYS; empty means the server's default.
    retention_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # Rises with every membership saved or deleted (groups.signals), in the
    # same transaction. A post that reads the members in the statement that
    # locks this row compares it with the row as its snapshot saw it: equal,
    # the members it read are the current ones (chat.services); members.add()
    # counts too. A change made without the ORM's signals (raw SQL,
    # Membership.objects.bulk_create) must raise it itself, and a Group is
    # saved with update_fields only (as everywhere now): a full save() of an
    # older copy would write an older version back.
    roster_version = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="chat_groups"
    )

    def __str__(self) -> str:
        return f"group {self.id}"


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    group = models.ForeignKey(
        Group, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="one_membership")
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} in {self.group_id}"
