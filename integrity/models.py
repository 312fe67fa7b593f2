"""The stored membership chain: one row per lifecycle event of a group.

Actor and subject are plain user ids rather than foreign keys: a deleted
account must not rewrite or nullify the history the hashes cover.
"""

from django.db import models

from groups.models import Group
from integrity.chain import Kind


class ChainEvent(models.Model):
    KIND_CHOICES = [(kind, kind) for kind in Kind.ALL]

    group = models.ForeignKey(
        Group, on_delete=models.CASCADE, related_name="chain_events"
    )
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=KIND_CHOICES)
    actor = models.BigIntegerField(null=True)
    subject = models.BigIntegerField(null=True)
    epoch = models.PositiveIntegerField()
    at = models.DateTimeField()
    prev_hash = models.BinaryField(max_length=32)
    hash = models.BinaryField(max_length=32)

    class Meta:
        constraints = [
            # Two appends racing for the same place fail here even if the
            # row lock were ever bypassed: the chain cannot fork in storage.
            models.UniqueConstraint(fields=["group", "seq"], name="one_event_per_seq")
        ]
        ordering = ["group", "seq"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq} in {self.group_id}"


class ChainHead(models.Model):
    """The last link of a group's chain, written with every append.

    Without it, deleting the newest events would leave a shorter chain that
    still verifies link by link; comparing with the head exposes that.
    """

    group = models.OneToOneField(
        Group, on_delete=models.CASCADE, primary_key=True, related_name="chain_head"
    )
    seq = models.PositiveIntegerField()
    hash = models.BinaryField(max_length=32)

    def __str__(self) -> str:
        return f"head #{self.seq} of {self.group_id}"
