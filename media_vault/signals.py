"""Keep files and rows together, whichever way a row goes.

A blob row can disappear through its own services, or by cascade when its
group or uploader is deleted; in every case its file is shredded, but only
once the deletion has committed, so a rolled-back deletion keeps its file.
"""

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver
from django.utils import timezone

from chat.models import Message
from media_vault import storage
from media_vault.models import Blob

log = logging.getLogger("hashwhisper.media")


def shred_later(storage_name: str) -> None:
    try:
        storage.path_of(storage_name)
    except ValueError:
        log.error("blob row held an invalid storage name")
        return
    transaction.on_commit(lambda: storage.destroy(storage_name), robust=True)


@receiver(post_delete, sender=Blob)
def shred_deleted_blob(sender: type[Blob], instance: Blob, **kwargs: Any) -> None:
    if instance.storage_name:
        shred_later(instance.storage_name)


@receiver(pre_delete, sender=Message)
def expire_blobs_of_deleted_message(
    sender: type[Message], instance: Message, **kwargs: Any
) -> None:
    # The files stop being downloadable at once and go with the next purge.
    Blob.objects.filter(message=instance).update(expires_at=timezone.now())
