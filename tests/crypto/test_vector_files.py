"""The vector files are the published ones, unmodified and complete."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import pytest

from tests.crypto.vectors import VECTORS, load_vectors

# Git blob ids recorded upstream (tests/vectors/README.md); recomputing them
# proves the copies were not edited.
UPSTREAM_BLOBS = {
    "aes_gcm_test.json": "223f53cad33d78013ed635d94889836c036e1d58",
    "pbkdf2_hmacsha256_test.json": "d2247995a885ca0892204ee0b2ee7f88505736c8",
    "hkdf_sha256_test.json": "5486a4d9d12c0b6f08c2dcc9edf10266a5ca806d",
}


def git_blob_id(data: bytes) -> str:
    """What ``git hash-object`` prints for a file with these bytes."""
    blob = b"blob %d\0" % len(data) + data
    # SHA-1 here only names content the way git does; it protects nothing.
    return hashlib.sha1(blob, usedforsecurity=False).hexdigest()


@pytest.mark.parametrize(("name", "blob"), sorted(UPSTREAM_BLOBS.items()))
def test_wycheproof_file_is_unmodified(name: str, blob: str) -> None:
    assert git_blob_id((VECTORS / name).read_bytes()) == blob


def test_licence_and_provenance_travel_with_the_vectors() -> None:
    licence = (VECTORS / "LICENSE.wycheproof").read_text(encoding="utf-8")
    assert "Apache License" in licence
    provenance = (VECTORS / "PROVENANCE.md").read_text(encoding="utf-8")
    assert all(blob in provenance for blob in UPSTREAM_BLOBS.values())


@pytest.mark.parametrize(
    ("name", "total"),
    [
        ("aes_gcm_test.json", 316),
        ("pbkdf2_hmacsha256_test.json", 60),
        ("hkdf_sha256_test.json", 86),
    ],
)
def test_wycheproof_file_holds_its_declared_test_count(name: str, total: int) -> None:
    data = load_vectors(name)
    tests: list[dict[str, Any]] = [
        test for group in data["testGroups"] for test in group["tests"]
    ]
    assert data["numberOfTests"] == total == len(tests)
    assert len({test["tcId"] for test in tests}) == total
    assert set(Counter(test["result"] for test in tests)) <= {
        "valid",
        "invalid",
        "acceptable",
    }
