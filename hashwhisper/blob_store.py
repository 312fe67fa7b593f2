"""Blob files behind Django's storage API: a local folder or an object store.

``STORAGES["blobs"]`` (see the settings) is a ``FileSystemStorage`` under
``HASHWHISPER_MEDIA_ROOT`` by default, or django-storages' ``S3Storage`` when
``HASHWHISPER_S3_BUCKET`` is set, so that every app machine behind a proxy
reads and writes the same blobs. Names are the random storage names that
media_vault makes; nothing a client sends becomes part of one.

Shredding depends on where the bytes are. A local file is overwritten with
random bytes, synced and unlinked (media_vault.storage.shred_file). An
object in an object store cannot be overwritten in place from outside: it
is deleted, which removes it for good only while bucket versioning is off.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from django.core.files.base import File
from django.core.files.storage import Storage, storages

from media_vault.storage import shred_file

CHUNK_BYTES = 64 * 1024


def blob_storage() -> Storage:
    return storages["blobs"]


def local_path(storage: Storage, name: str) -> Path | None:
    """The file behind ``name`` if the storage keeps it on this machine."""
    try:
        return Path(storage.path(name))
    except NotImplementedError:
        return None


def save(name: str, content: IO[bytes]) -> str:
    """Store ``content`` under ``name``; return the name actually used."""
    return blob_storage().save(name, File(content))


def read_chunks(name: str, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Stream a blob back in pieces, never holding the whole file."""
    with blob_storage().open(name, "rb") as handle:
        while piece := handle.read(size):
            yield piece


def shred(name: str) -> bool:
    """Remove a blob for good; ``False`` if it was already gone."""
    storage = blob_storage()
    path = local_path(storage, name)
    if path is not None:
        return shred_file(path)
    if not storage.exists(name):
        return False
    storage.delete(name)
    return True
