"""Ciphertext files: streaming writes, random sharded names, shredding.

Files are named ``ab/cd/<32 hex digits>``: a random name chosen here, never
a blob id or anything a client sent. An upload is written to ``incoming/``
under ``HASHWHISPER_MEDIA_ROOT`` first and moved into place only once it is
complete and synced, so a crash or a refusal never leaves a partial file
where a download could find it.

By default the files live in that folder too (``STORAGES["blobs"]`` is a
``FileSystemStorage`` there) and are renamed into place. When the blob
storage is an object store shared by several app machines (see
hashwhisper.blob_store and docs/deploy.md), the finished file is uploaded to
it instead, and read from and deleted there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

READ_BYTES = 64 * 1024
SHRED_BYTES = 64 * 1024
INCOMING = "incoming"
STORAGE_NAME_LENGTH = len("ab/cd/") + 32


class UploadSizeMismatch(Exception):
    """The body was shorter or longer than the size reserved for it."""

    def __init__(self, received: int, expected: int) -> None:
        super().__init__(f"received {received} bytes, expected {expected}")
        self.received = received
        self.expected = expected


class NotABlob(Exception):
    """The body does not start with the header of an encrypted file."""


def root() -> Path:
    return Path(settings.HASHWHISPER_MEDIA_ROOT)


def incoming_dir() -> Path:
    path = root() / INCOMING
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def new_storage_name() -> str:
    name = secrets.token_hex(16)
    return f"{name[:2]}/{name[2:4]}/{name}"


def path_of(storage_name: str) -> Path:
    """The file of a stored blob; refuses any name this module did not make."""
    parts = storage_name.split("/")
    if (
        len(storage_name) != STORAGE_NAME_LENGTH
        or len(parts) != 3
        or not all(c in "0123456789abcdef/" for c in storage_name)
        or parts[2][:2] != parts[0]
        or parts[2][2:4] != parts[1]
    ):
        raise ValueError("not a storage name")
    return root() / storage_name


def object_store() -> Storage | None:
    """The shared blob store, or None when blobs are local files."""
    if "blobs" not in settings.STORAGES:
        return None
    store = storages["blobs"]
    return None if isinstance(store, FileSystemStorage) else store


def publish_remote(store: Storage, temp: Path, name: str) -> None:
    with temp.open("rb") as handle:
        saved = store.save(name, File(handle))
    if saved != name:
        # The random name cannot collide; a store that renamed it anyway
        # would break the row's link to its object.
        store.delete(saved)
        raise OSError(errno.EEXIST, "the blob store renamed a new blob")


def open_stored(storage_name: str) -> IO[bytes] | File[bytes]:
    """Open a stored blob for reading, wherever it lives."""
    path = path_of(storage_name)
    store = object_store()
    if store is None:
        return path.open("rb")
    handle: File[bytes] = store.open(storage_name, "rb")
    return handle


def destroy(storage_name: str) -> bool:
    """Remove a stored blob for good; False if it was already gone.

    A local file is shredded. An object in an object store cannot be
    overwritten in place from outside, so it is deleted.
    """
    path = path_of(storage_name)
    store = object_store()
    if store is None:
        return shred_file(path)
    if not store.exists(storage_name):
        return False
    store.delete(storage_name)
    return True


def write_chunk(out: BinaryIO, data: bytes) -> None:
    """Write one piece of an upload. Kept separate so tests can fail it."""
    out.write(data)


def sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_body(
    read: Callable[[int], bytes],
    out: BinaryIO,
    expected: int,
    check_header: Callable[[bytes], None],
) -> None:
    """Copy exactly ``expected`` bytes in pieces; stop early on excess."""
    received = 0
    head = b""
    while True:
        piece = read(READ_BYTES)
        if not piece:
            break
        received += len(piece)
        if received > expected:
            raise UploadSizeMismatch(received, expected)
        if len(head) < 64:
            head += piece[:64]
        write_chunk(out, piece)
    if received != expected:
        raise UploadSizeMismatch(received, expected)
    check_header(head)


def store_stream(
    read: Callable[[int], bytes],
    expected: int,
    check_header: Callable[[bytes], None],
) -> str:
    """Stream an upload to a new random file; return its storage name.

    On any failure (size, header, disk full, I/O) the temporary file is
    removed before the exception propagates, so nothing partial remains.
    """
    fd, temp_name = tempfile.mkstemp(dir=incoming_dir(), suffix=".part")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            copy_body(read, out, expected, check_header)
            out.flush()
            os.fsync(out.fileno())
        name = new_storage_name()
        store = object_store()
        if store is not None:
            publish_remote(store, temp, name)
            temp.unlink()
            return name
        final = root() / name
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(temp, final)
        sync_dir(final.parent)
        return name
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def shred_file(path: Path) -> bool:
    """Overwrite a file with random bytes, sync it, then unlink it.

    Returns False when the file was already gone. Overwriting cannot promise
    erasure on copy-on-write filesystems or flash storage with wear levelling;
    it removes the bytes from the file's own blocks where the filesystem
    writes in place, and the ciphertext is useless without the group key.
    """
    try:
        handle = path.open("r+b")
    except FileNotFoundError:
        return False
    with handle:
        remaining = os.fstat(handle.fileno()).st_size
        while remaining > 0:
            step = min(SHRED_BYTES, remaining)
            handle.write(secrets.token_bytes(step))
            remaining -= step
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink(missing_ok=True)
    return True


def shred_stale_incoming(max_age_seconds: float) -> int:
    """Shred temporary upload files older than ``max_age_seconds``.

    Only a process that died while writing leaves one behind.
    """
    folder = root() / INCOMING
    if not folder.is_dir():
        return 0
    cutoff = time.time() - max_age_seconds
    count = 0
    for entry in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if entry.is_file() and entry.stat().st_mtime < cutoff and shred_file(entry):
                count += 1
    return count
