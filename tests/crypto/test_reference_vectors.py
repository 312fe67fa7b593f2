"""The Python reference passes the same published vectors as the browser code.

If it did not, an interop test could pass with both sides wrong in the same
way; these tests pin the reference to the published answers first.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from tests.support import reference


def test_reference_aes_gcm_profile(aes_gcm_profile: list[dict[str, Any]]) -> None:
    outcomes: Counter[str] = Counter()
    for case in aes_gcm_profile:
        key, iv, aad = (bytes.fromhex(case[k]) for k in ("key", "iv", "aad"))
        msg = bytes.fromhex(case["msg"])
        sealed = bytes.fromhex(case["ct"] + case["tag"])
        if case["result"] == "valid":
            assert reference.aes_gcm_encrypt(key, iv, msg, aad) == sealed, case["tcId"]
            assert reference.aes_gcm_decrypt(key, iv, sealed, aad) == msg, case["tcId"]
        else:
            with pytest.raises(InvalidTag):
                reference.aes_gcm_decrypt(key, iv, sealed, aad)
        outcomes[case["result"]] += 1
    # The profile is one Wycheproof group; a filter bug would change it.
    assert outcomes == Counter(valid=39, invalid=27)


def test_reference_pbkdf2_vectors(pbkdf2_cases: list[dict[str, Any]]) -> None:
    for case in pbkdf2_cases:
        derived = reference.pbkdf2_sha256(
            bytes.fromhex(case["password"]),
            bytes.fromhex(case["salt"]),
            case["iterations"],
            case["dkLen"],
        )
        assert derived.hex() == case["dk"], case["id"]
    assert len(pbkdf2_cases) == 60 + 7


def test_reference_hkdf_vectors(hkdf_cases: list[dict[str, Any]]) -> None:
    outcomes: Counter[str] = Counter()
    for case in hkdf_cases:
        ikm, salt, info = (bytes.fromhex(case[k]) for k in ("ikm", "salt", "info"))
        if case["result"] == "valid":
            okm = reference.hkdf_sha256(ikm, salt, info, case["size"])
            assert okm.hex() == case["okm"], case["tcId"]
        else:
            assert case["size"] > reference.HKDF_MAX_BYTES, case["tcId"]
            with pytest.raises(ValueError):
                reference.hkdf_sha256(ikm, salt, info, case["size"])
        outcomes[case["result"]] += 1
    assert outcomes == Counter(valid=83, invalid=3)
