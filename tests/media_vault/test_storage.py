"""Disk failures leave nothing behind; shredding overwrites, then unlinks."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from media_vault import storage
from media_vault.models import Blob
from tests.conftest import SecureClient
from tests.media_vault.conftest import encrypted, files_under, put, reserve

pytestmark = pytest.mark.django_db


def failing_write(code: int) -> Any:
    calls = {"n": 0}

    def write(out: BinaryIO, data: bytes) -> None:
        # A little gets written first, as when a disk fills up mid-file.
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError(code, os.strerror(code))
        out.write(data)

    return write


@pytest.mark.parametrize(
    ("code", "status"), [(errno.ENOSPC, 507), (errno.EDQUOT, 507), (errno.EIO, 500)]
)
def test_write_failure_answers_5xx_json_and_leaves_nothing(
    alice_client: SecureClient,
    group_id: str,
    blob_settings: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    status: int,
) -> None:
    upload = encrypted(300_000)
    blob_id = reserve(alice_client, group_id, len(upload.data)).json()["id"]
    monkeypatch.setattr(storage, "write_chunk", failing_write(code))

    response = put(alice_client, group_id, blob_id, upload.data)
    assert response.status_code == status
    message = response.json()["error"]
    assert ("storage space" in message) if status == 507 else ("I/O" in message)
    assert Blob.objects.count() == 0
    assert files_under(blob_settings) == []


def test_fsync_failure_leaves_nothing(
    alice_client: SecureClient,
    group_id: str,
    blob_settings: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upload = encrypted(5000)
    blob_id = reserve(alice_client, group_id, len(upload.data)).json()["id"]

    def broken_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(storage.os, "fsync", broken_fsync)
    assert put(alice_client, group_id, blob_id, upload.data).status_code == 500
    assert Blob.objects.count() == 0
    assert files_under(blob_settings) == []


def test_shred_overwrites_the_file_in_place_before_unlinking(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    original = b"CANARY-" * 20_000
    target.write_bytes(original)
    # A second name for the same inode shows what happened to its blocks.
    witness = tmp_path / "witness"
    os.link(target, witness)

    assert storage.shred_file(target) is True
    assert not target.exists()
    after = witness.read_bytes()
    assert len(after) == len(original)
    assert b"CANARY" not in after
    assert storage.shred_file(target) is False


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "ab/cd/" + "0" * 32,
        "ab/cd/abcd" + "0" * 27 + "/",
        "AB/CD/ABCD" + "0" * 28,
        "ab/cd/abcd" + "0" * 27 + "g",
        "ab/../abcd" + "0" * 28,
        "",
    ],
)
def test_path_of_accepts_only_names_it_makes(name: str) -> None:
    with pytest.raises(ValueError):
        storage.path_of(name)


def test_new_names_are_random_and_sharded() -> None:
    names = {storage.new_storage_name() for _ in range(200)}
    assert len(names) == 200
    for name in names:
        assert storage.path_of(name).name == name.split("/")[2]
