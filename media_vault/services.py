"""Every state change of a blob: reserve, upload, attach, expire, shred.

A blob goes pending (reserved, no bytes) -> uploading (one request writes
it) -> stored (file complete). It is an orphan until a message refers to
it; attaching gives it the message's expiry. Deleting a blob row, by any
path, shreds its file once the transaction commits (media_vault.signals).
"""

import errno
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from chat import limits
from chat.models import Message
from groups.models import Group
from hashwhisper.api import ApiError
from media_vault import storage
from media_vault.models import BLOB_ID_PATTERN, ORPHAN_SECONDS, Blob

log = logging.getLogger("hashwhisper.media")
security_log = logging.getLogger("hashwhisper.security")

# The encrypted file format (docs/media.md): "HWBL", version 1, the
# plaintext chunk size as uint32 big-endian, and a 7-byte nonce prefix.
MAGIC = b"HWBL"
FORMAT_VERSION = 1
HEADER_BYTES = 16
TAG_BYTES = 16
MIN_CHUNK_BYTES = 1024
MAX_CHUNK_BYTES = 16 * 1024 * 1024
# The smallest encrypted file: a header and one empty final chunk's tag.
MIN_BLOB_BYTES = HEADER_BYTES + TAG_BYTES
MAX_TYPE_LENGTH = 100
# Reservations a user may hold open at once, so that nobody can book
# unbounded disk space ahead of uploading.
MAX_OPEN_RESERVATIONS = 16
MAX_BLOBS_PER_MESSAGE = 10
# Names and periods of the per-user counts (chat.limits; the sizes are
# settings): reservations per minute, ciphertext bytes reserved per hour.
# A reservation whose upload then fails still counts: the allowance is large
# enough for a person's retries.
RESERVATIONS = "blob-reservations"
RESERVATIONS_WINDOW_SECONDS = 60
RESERVED_BYTES = "blob-bytes"
RESERVED_BYTES_WINDOW_SECONDS = 3600
STORAGE_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class StorageFull(Exception):
    """The disk (or the quota) has no room for the upload."""


class StorageFailed(Exception):
    """Writing the upload failed with an I/O error."""


class BlobsNotAttachable(ApiError):
    """A message named blobs its sender cannot attach."""

    def __init__(self) -> None:
        super().__init__(
            400, "A referenced file is unknown, not uploaded yet, or already used."
        )


def allowed_type(declared: object) -> str:
    if not isinstance(declared, str) or not 0 < len(declared) <= MAX_TYPE_LENGTH:
        raise ApiError(400, "Field type must be a MIME type.")
    mime = declared.strip().lower()
    if mime not in settings.HASHWHISPER_MEDIA_TYPES:
        security_log.info("upload refused: type not allowed")
        raise ApiError(415, "This type of file is not accepted.")
    return mime


def too_large() -> ApiError:
    """The refusal of a file over the cap, saying what the cap is."""
    cap = settings.HASHWHISPER_MAX_UPLOAD
    mib = cap / (1024 * 1024)
    if mib >= 1:
        shown = f"{mib:.1f}".removesuffix(".0") + " MiB"
    else:
        shown = f"{max(1, cap // 1024)} KiB"
    return ApiError(
        413, f"The file is larger than this server accepts ({shown} at most)."
    )


def _spend_upload_allowances(user: User, size: int) -> None:
    limits.spend(
        RESERVATIONS,
        user.pk,
        limit=settings.HASHWHISPER_UPLOADS_PER_MINUTE,
        window=RESERVATIONS_WINDOW_SECONDS,
    )
    try:
        limits.spend(
            RESERVED_BYTES,
            user.pk,
            amount=size,
            limit=settings.HASHWHISPER_UPLOAD_BYTES_PER_HOUR,
            window=RESERVED_BYTES_WINDOW_SECONDS,
        )
    except limits.TooFast:
        # Refused for its bytes: the reservation must not count either.
        limits.give_back(RESERVATIONS, user.pk)
        raise


def count_reservation(user: User, size: int) -> None:
    """Count one reservation of ``size`` bytes against the user's allowances.

    Refused past either allowance with 429, counting neither. While Redis
    is away each process counts on its own (chat.limits), so files still go
    out in an outage and a script still meets the allowance.
    """
    try:
        _spend_upload_allowances(user, size)
    except limits.TooFast as exc:
        security_log.info("upload refused: allowance used user_id=%s", user.pk)
        raise limits.refusal(
            exc, "You are uploading more than anyone sends by hand"
        ) from exc


def reserve_blob(group: Group, user: User, mime: object, size: object) -> Blob:
    """Book an id for an upload of exactly ``size`` ciphertext bytes."""
    checked_type = allowed_type(mime)
    if isinstance(size, bool) or not isinstance(size, int):
        raise ApiError(400, "Field size must be a whole number.")
    if size > settings.HASHWHISPER_MAX_UPLOAD:
        security_log.info("upload refused: reserved size over cap size=%s", size)
        raise too_large()
    if size < MIN_BLOB_BYTES:
        raise ApiError(400, f"Field size must be at least {MIN_BLOB_BYTES}.")
    open_count = Blob.objects.filter(
        uploader=user,
        state__in=[Blob.State.PENDING, Blob.State.UPLOADING],
        expires_at__gt=timezone.now(),
    ).count()
    if open_count >= MAX_OPEN_RESERVATIONS:
        raise ApiError(429, "Too many unfinished uploads; finish or cancel some.")
    count_reservation(user, size)
    blob = Blob.objects.create(group=group, uploader=user, mime=checked_type, size=size)
    log.info("blob reserved id=%s group=%s size=%s", blob.id, group.id, size)
    return blob


def check_header(head: bytes) -> None:
    if len(head) < HEADER_BYTES or head[:4] != MAGIC or head[4] != FORMAT_VERSION:
        raise storage.NotABlob
    chunk = int.from_bytes(head[5:9], "big")
    if not MIN_CHUNK_BYTES <= chunk <= MAX_CHUNK_BYTES:
        raise storage.NotABlob


def discard(blob: Blob) -> None:
    """Delete a blob row; its file, if any, is shredded on commit."""
    Blob.objects.filter(pk=blob.pk).delete()


def claim_upload(blob: Blob) -> None:
    """Move pending -> uploading, so that two requests never write one blob."""
    claimed = Blob.objects.filter(pk=blob.pk, state=Blob.State.PENDING).update(
        state=Blob.State.UPLOADING
    )
    if not claimed:
        raise ApiError(409, "This file was already uploaded or is being uploaded.")


def store_upload(blob: Blob, read: Callable[[int], bytes]) -> Blob:
    """Stream a reserved blob's ciphertext to disk and mark it stored.

    Any failure removes the temporary file and the row, so a refused or
    broken upload leaves nothing behind; the browser reserves again.
    """
    claim_upload(blob)
    try:
        name = storage.store_stream(read, blob.size, check_header)
    except storage.UploadSizeMismatch as exc:
        discard(blob)
        security_log.info(
            "upload refused: size mismatch id=%s received=%s expected=%s",
            blob.id,
            exc.received,
            exc.expected,
        )
        status = 413 if exc.received > exc.expected else 400
        raise ApiError(status, "The upload does not match the reserved size.") from exc
    except storage.NotABlob as exc:
        discard(blob)
        security_log.info("upload refused: not an encrypted file id=%s", blob.id)
        raise ApiError(400, "The upload is not an encrypted HashWhisper file.") from exc
    except OSError as exc:
        discard(blob)
        log.error("blob write failed id=%s errno=%s", blob.id, exc.errno)
        if exc.errno in STORAGE_FULL_ERRNOS:
            raise StorageFull from exc
        raise StorageFailed from exc
    except Exception as exc:
        # An object store reports its failures in its own exception types.
        discard(blob)
        log.exception("blob store failed id=%s", blob.id)
        raise StorageFailed from exc
    except BaseException:
        discard(blob)
        raise
    return mark_stored(blob, name)


def mark_stored(blob: Blob, name: str) -> Blob:
    stored = Blob.objects.filter(pk=blob.pk, state=Blob.State.UPLOADING).update(
        state=Blob.State.STORED, storage_name=name
    )
    if not stored:
        # The row went away while the file was written (its group or
        # uploader was deleted): the new file must not outlive it.
        storage.destroy(name)
        raise ApiError(404, "No such file.")
    blob.state, blob.storage_name = Blob.State.STORED, name
    log.info("blob stored id=%s group=%s size=%s", blob.id, blob.group_id, blob.size)
    return blob


def cancel_upload(blob: Blob) -> None:
    """The uploader drops a blob no message refers to yet."""
    if blob.message_id is not None:
        raise ApiError(409, "This file belongs to a message.")
    discard(blob)
    log.info("blob cancelled id=%s", blob.id)


def read_blob_ids(data: dict[str, Any]) -> list[str]:
    """The optional ``blobs`` field of a message: ids of files to attach."""
    ids = data.get("blobs", [])
    if not isinstance(ids, list) or len(ids) > MAX_BLOBS_PER_MESSAGE:
        raise ApiError(
            400, f"Field blobs must be a list of at most {MAX_BLOBS_PER_MESSAGE} ids."
        )
    if not all(isinstance(i, str) and BLOB_ID_PATTERN.fullmatch(i) for i in ids):
        raise BlobsNotAttachable
    if len(set(ids)) != len(ids):
        raise BlobsNotAttachable
    return ids


def attach_blobs(message: Message, sender: User, blob_ids: Sequence[str]) -> None:
    """Link stored blobs to the message that describes them.

    Runs inside the transaction that stores the message: a blob that is not
    the sender's, not in the message's group, not yet stored, expired or
    already attached fails the whole message.
    """
    if not blob_ids:
        return
    blobs = list(
        Blob.objects.select_for_update().filter(
            pk__in=blob_ids,
            group_id=message.group_id,
            uploader=sender,
            state=Blob.State.STORED,
            message__isnull=True,
            expires_at__gt=timezone.now(),
        )
    )
    if len(blobs) != len(blob_ids):
        raise BlobsNotAttachable
    Blob.objects.filter(pk__in=[b.pk for b in blobs]).update(
        message=message, expires_at=message.expires_at
    )


def expired_blobs(now: datetime | None = None) -> QuerySet[Blob]:
    """Blobs past their expiry: their message's, or an orphan's hour."""
    return Blob.objects.filter(expires_at__lte=now or timezone.now())


def orphan_blobs(now: datetime | None = None) -> QuerySet[Blob]:
    """Expired blobs that never became part of a message."""
    return expired_blobs(now).filter(message__isnull=True)


def purge_blobs(blobs: QuerySet[Blob]) -> int:
    """Delete blobs; each file is shredded once the deletion commits."""
    with transaction.atomic():
        _, per_model = blobs.delete()
    return per_model.get(Blob._meta.label, 0)


def purge_orphans(now: datetime | None = None) -> int:
    """Shred orphaned uploads and leftovers of interrupted writes."""
    count = purge_blobs(orphan_blobs(now))
    count += storage.shred_stale_incoming(ORPHAN_SECONDS)
    if count:
        log.info("orphan blobs purged count=%s", count)
    return count


def purge_expired_blobs(now: datetime | None = None) -> int:
    """Shred every expired blob, attached or not (for ``purge_expired``)."""
    count = purge_blobs(expired_blobs(now))
    count += storage.shred_stale_incoming(ORPHAN_SECONDS)
    if count:
        log.info("expired blobs purged count=%s", count)
    return count


def delete_user_blobs(user: User) -> int:
    """Shred every blob a user uploaded (for account deletion)."""
    count = purge_blobs(Blob.objects.filter(uploader=user))
    log.info("user blobs deleted user=%s count=%s", user.pk, count)
    return count
