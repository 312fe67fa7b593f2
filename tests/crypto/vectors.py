"""Loading of tests/vectors, in shapes both implementations can run."""

from __future__ import annotations

import json
from typing import Any

from tests.support.browser import REPO_ROOT

VECTORS = REPO_ROOT / "tests" / "vectors"


def load_vectors(name: str) -> dict[str, Any]:
    """Parse one JSON file of tests/vectors."""
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


def wycheproof_tests(name: str) -> list[dict[str, Any]]:
    """Every test of a Wycheproof file, with its group's fields merged in."""
    return [
        {**{k: v for k, v in group.items() if k != "tests"}, **test}
        for group in load_vectors(name)["testGroups"]
        for test in group["tests"]
    ]


def is_profile(case: dict[str, Any]) -> bool:
    """HashWhisper's AES-GCM: 256-bit key, 96-bit nonce, 128-bit tag."""
    return (case["keySize"], case["ivSize"], case["tagSize"]) == (256, 96, 128)


def pbkdf2_cases() -> list[dict[str, Any]]:
    """Wycheproof PBKDF2 tests and the known-answer file, in one flat shape.

    Each case has ``id``, hex ``password`` and ``salt``, ``iterations``,
    ``dkLen``, hex ``dk`` and ``result``.
    """
    cases = [
        {
            "id": f"wycheproof-{test['tcId']}",
            "password": test["password"],
            "salt": test["salt"],
            "iterations": test["iterationCount"],
            "dkLen": test["dkLen"],
            "dk": test["dk"],
            "result": test["result"],
        }
        for test in wycheproof_tests("pbkdf2_hmacsha256_test.json")
    ]
    for group in load_vectors("pbkdf2_sha256_known_answers.json")["groups"]:
        cases.extend(
            {
                "id": test["id"],
                "password": test["password_hex"],
                "salt": test["salt_hex"],
                "iterations": test["iterations"],
                "dkLen": test["dkLen"],
                "dk": test["dk"],
                "result": "valid",
            }
            for test in group["tests"]
        )
    return cases
