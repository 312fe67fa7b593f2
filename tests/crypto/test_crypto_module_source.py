"""static/js/crypto.js keeps the shape other code and the CSP depend on.

These read the source: its export list is the API the page code imports, and
a crypto module that touched the page, the network or a weak random source
would break the design even while every behaviour test passed.
"""

from __future__ import annotations

import re

import pytest

from tests.support.browser import STATIC_ROOT

SOURCE = (STATIC_ROOT / "js" / "crypto.js").read_text(encoding="utf-8")
API = {
    "PROTOCOL",
    "MIN_ITERATIONS",
    "DEFAULT_ITERATIONS",
    "SALT_BYTES",
    "SECRET_BYTES",
    "NONCE_BYTES",
    "TAG_BYTES",
    "MIN_PASSPHRASE_CHARS",
    "randomBytes",
    "b64encode",
    "b64decode",
    "b64urlEncode",
    "b64urlDecode",
    "newGroupSecret",
    "passphraseSecret",
    "newGroupId",
    "pbkdf2",
    "hkdf",
    "importAesKey",
    "aesGcmEncrypt",
    "aesGcmDecrypt",
    "deriveGroupKeys",
    "messageAad",
    "nameAad",
    "seal",
    "open",
    "encryptJson",
    "decryptJson",
    "parseInvitation",
    "invitationFragment",
    # Encrypted files (docs/media.md).
    "BLOB_CHUNK_BYTES",
    "BLOB_HEADER_BYTES",
    "blobAad",
    "blobCiphertextSize",
    "encryptBlobParts",
    "decryptBlobParts",
    "encryptBlob",
    "decryptBlob",
    # Membership chain and safety number (docs/protocol.md).
    "sha256",
    "deriveSafetyKey",
    "safetyNumber",
}
EXPORT = re.compile(
    r"^export (?:async function\*?|function\*?|const) (\w+)", re.MULTILINE
)


def code_without_comments(source: str) -> str:
    """The source with block and whole-line comments removed."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    return re.sub(r"^\s*//.*$", "", source, flags=re.MULTILINE)


def test_exports_the_agreed_api() -> None:
    exported = set(EXPORT.findall(SOURCE))
    assert API - exported == set()
    # Anything beyond the agreed names must be deliberate; today that is one.
    assert exported - API == {"MAX_ITERATIONS"}


def test_every_export_has_jsdoc() -> None:
    lines = SOURCE.splitlines()
    undocumented = [
        line
        for number, line in enumerate(lines)
        if EXPORT.match(line) and not lines[number - 1].rstrip().endswith("*/")
    ]
    assert undocumented == []


@pytest.mark.parametrize(
    "forbidden",
    [
        "document",
        "window",
        "localStorage",
        "sessionStorage",
        "fetch(",
        "XMLHttpRequest",
        "eval(",
        "new Function",
        "setTimeout",
        "Math.random",
        "console.",
        "import ",
        "extractable: true",
    ],
)
def test_module_stays_pure(forbidden: str) -> None:
    assert forbidden not in code_without_comments(SOURCE)


def test_lines_fit_in_100_columns() -> None:
    assert [n for n, line in enumerate(SOURCE.splitlines(), 1) if len(line) > 100] == []
