"""Blobs in an S3-compatible object store, against moto's server on 127.0.0.1.

Two storage objects stand for two app machines behind one proxy: what one
writes, the other serves. Shredding an object deletes it.
"""

import importlib.util
import io
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import storages

from hashwhisper import blob_store

REPO_ROOT = Path(__file__).resolve().parents[2]
MOTO_SERVER = Path(sys.executable).with_name("moto_server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    if not MOTO_SERVER.exists():
        pytest.skip("moto_server missing: pip install -r requirements-dev.txt")
    port = free_port()
    process = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # boto3 must never look for credentials on an instance metadata host or
    # in the machine's own AWS configuration.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-creds"))


def settings_for(monkeypatch: pytest.MonkeyPatch, moto_url: str, bucket: str) -> Any:
    """Load a fresh copy of the settings module with S3 configured."""
    monkeypatch.setenv("HASHWHISPER_S3_BUCKET", bucket)
    monkeypatch.setenv("HASHWHISPER_S3_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("HASHWHISPER_S3_REGION", "us-east-1")
    monkeypatch.setenv("HASHWHISPER_S3_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("HASHWHISPER_S3_SECRET_ACCESS_KEY", "test-secret")
    spec = importlib.util.spec_from_file_location(
        "s3_settings_copy", REPO_ROOT / "hashwhisper" / "settings.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def s3_storages(
    aws_env: None, moto_url: str, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> dict[str, Any]:
    import boto3

    # A bucket of its own per test: the server lives for the whole module.
    bucket = f"hashwhisper-{secrets.token_hex(6)}"
    configured = settings_for(monkeypatch, moto_url, bucket).STORAGES
    client = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {**settings.STORAGES, "blobs": configured["blobs"]}
    return {
        "options": configured["blobs"]["OPTIONS"],
        "client": client,
        "bucket": bucket,
    }


def object_keys(s3: dict[str, Any]) -> list[str]:
    listed = s3["client"].list_objects_v2(Bucket=s3["bucket"])
    return [item["Key"] for item in listed.get("Contents", [])]


def test_settings_select_s3_when_a_bucket_is_named(
    s3_storages: dict[str, Any],
) -> None:
    from storages.backends.s3 import S3Storage

    assert isinstance(storages["blobs"], S3Storage)
    assert s3_storages["options"]["bucket_name"] == s3_storages["bucket"]


def test_any_node_serves_a_blob_another_node_stored(
    s3_storages: dict[str, Any],
) -> None:
    from storages.backends.s3 import S3Storage

    data = secrets.token_bytes(300_000)
    name = blob_store.save("ab/cd/abcd" + secrets.token_hex(14), io.BytesIO(data))
    other_node = S3Storage(**s3_storages["options"])

    with other_node.open(name, "rb") as handle:
        assert handle.read() == data
    assert b"".join(blob_store.read_chunks(name)) == data
    assert object_keys(s3_storages) == [f"blobs/{name}"]


def test_shredding_an_object_deletes_it(s3_storages: dict[str, Any]) -> None:
    name = blob_store.save("ef/01/ef01" + secrets.token_hex(14), io.BytesIO(b"x" * 99))
    assert blob_store.local_path(storages["blobs"], name) is None

    assert blob_store.shred(name) is True

    assert object_keys(s3_storages) == []
    assert blob_store.shred(name) is False, "a second shred finds nothing"


def test_local_folder_is_the_default_and_shreds_in_place(
    settings: Any, tmp_path: Path
) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path},
        },
    }
    data = secrets.token_bytes(5000)
    name = blob_store.save("12/34/1234" + secrets.token_hex(14), io.BytesIO(data))
    path = blob_store.local_path(storages["blobs"], name)
    assert path is not None and path.read_bytes() == data

    assert blob_store.shred(name) is True
    assert not path.exists()


@pytest.mark.django_db
def test_purge_deletes_objects_that_no_row_names(
    s3_storages: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    tmp_path: Path,
) -> None:
    """An object left by a crash between upload and row is swept, as a local
    file would be."""
    from chat import retention

    settings.HASHWHISPER_MEDIA_ROOT = tmp_path
    monkeypatch.setattr(retention, "ORPHAN_SECONDS", -60)
    stray = blob_store.save("12/34/1234" + secrets.token_hex(14), io.BytesIO(b"y" * 10))

    swept = retention.shred_rowless_files(batch_size=10)

    assert swept == 1
    assert f"blobs/{stray}" not in object_keys(s3_storages)
