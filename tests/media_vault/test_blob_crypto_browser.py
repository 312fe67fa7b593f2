"""The chunked file encryption of static/js/crypto.js, in a real Chromium.

A file of ten times the chunk size round-trips, also through the Python
reference in both directions; swapping, dropping, repeating or cutting
chunks, or decrypting under another blob id, group, sender or key, fails.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.media_vault import blobformat
from tests.support import reference
from tests.support.browser import (
    STATIC_ROOT,
    StaticServer,
    chromium,
    chromium_missing_reason,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

PAGES = Path(__file__).resolve().parent / "pages"
SECRET = bytes(range(1, 33))
SALT = bytes(range(100, 116))
ITERATIONS = reference.MIN_ITERATIONS
GROUP_ID = "AAECAwQFBgcICQoLDA0ODw"
SENDER_ID = 42
BLOB_ID = "b" * 32
KEY = reference.derive_group_keys(SECRET, SALT, ITERATIONS).enc_key
AAD = blobformat.blob_aad(GROUP_ID, SENDER_ID, BLOB_ID)
CHUNK = 4096

PRELUDE = """
const t = await import('/pages/blobtest.js');
const { hw } = t;
const key = await t.groupKey(a.secret, a.salt, a.iterations);
const aad = hw.blobAad(a.groupId, a.senderId, a.blobId);
"""


def script(body: str) -> str:
    """An async arrow function: the shared prelude, then ``body``."""
    return f"async (a) => {{{PRELUDE}{body}}}"


def args(**extra: Any) -> dict[str, Any]:
    return {
        "secret": SECRET.hex(),
        "salt": SALT.hex(),
        "iterations": ITERATIONS,
        "groupId": GROUP_ID,
        "senderId": SENDER_ID,
        "blobId": BLOB_ID,
        **extra,
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("blob-files")


@pytest.fixture(scope="module")
def page(files: Path) -> Iterator[Page]:
    reason = chromium_missing_reason()
    if reason is not None:
        print(f"skipping browser blob tests: {reason}")
        pytest.skip(reason)
    mounts = {"/static": STATIC_ROOT, "/pages": PAGES, "/files": files}
    with StaticServer(mounts) as server, chromium() as browser:
        loaded = browser.new_page()
        errors: list[str] = []
        loaded.on("pageerror", lambda error: errors.append(str(error)))
        loaded.on(
            "console",
            lambda m: errors.append(m.text) if m.type == "error" else None,
        )
        loaded.goto(server.url("/pages/harness.html"))
        yield loaded
        assert errors == []
        loaded.close()


ROUND_TRIP = script("""
const data = hw.randomBytes(a.size);
const enc = await hw.encryptBlob(key, new Blob([data]), aad, { chunkSize: a.chunk });
const dec = await hw.decryptBlob(key, enc, aad, { type: 'image/png' });
const back = new Uint8Array(await dec.arrayBuffer());
return {
  size: enc.size,
  expected: hw.blobCiphertextSize(a.size, a.chunk),
  same: back.length === data.length && back.every((b, i) => b === data[i]),
  type: dec.type,
  plain: a.size <= 65536 ? t.toHex(data) : null,
  cipher: a.size <= 65536 ? t.toHex(new Uint8Array(await enc.arrayBuffer())) : null,
};
""")


@pytest.mark.parametrize(
    "size",
    [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 10 * CHUNK, 10 * CHUNK + 1, 10 * CHUNK - 1],
)
def test_sizes_round_trip_and_python_reads_them(page: Page, size: int) -> None:
    result = page.evaluate(ROUND_TRIP, args(size=size, chunk=CHUNK))
    assert result["same"] is True
    assert result["type"] == "image/png"
    assert (
        result["size"] == result["expected"] == blobformat.ciphertext_size(size, CHUNK)
    )
    cipher = bytes.fromhex(result["cipher"])
    assert blobformat.decrypt(KEY, cipher, AAD) == bytes.fromhex(result["plain"])
    chunk, _, sealed = blobformat.split(cipher)
    assert chunk == CHUNK
    assert len(sealed) == blobformat.chunk_count(size, CHUNK)


def test_ten_default_chunks_round_trip_and_read_one_chunk_at_a_time(
    page: Page, files: Path
) -> None:
    """10 MiB at the default 1 MiB chunk; the source is read chunk by chunk."""
    result = page.evaluate(
        script("""
const data = hw.randomBytes(10 * hw.BLOB_CHUNK_BYTES);
const source = new Blob([data]);
const reads = [];
const slice = source.slice.bind(source);
source.slice = (start, end) => { reads.push(end - start); return slice(start, end); };
const enc = await hw.encryptBlob(key, source, aad);
const encBytes = new Uint8Array(await enc.arrayBuffer());
const parts = t.splitBlob(encBytes);
const dec = await hw.decryptBlob(key, enc, aad);
return {
  chunk: hw.BLOB_CHUNK_BYTES,
  reads,
  size: enc.size,
  chunks: parts.chunks.length,
  plainHash: await t.sha256(new Blob([data])),
  backHash: await t.sha256(dec),
};
"""),
        args(),
    )
    assert result["chunk"] == 1 << 20
    assert result["reads"] == [1 << 20] * 10
    assert result["chunks"] == 10
    assert result["size"] == blobformat.ciphertext_size(10 << 20)
    assert result["backHash"] == result["plainHash"]


def test_browser_decrypts_a_file_python_encrypted(page: Page, files: Path) -> None:
    plain = secrets.token_bytes(10 * CHUNK + 123)
    (files / "python.bin").write_bytes(blobformat.encrypt(KEY, plain, AAD, CHUNK))
    result = page.evaluate(
        script("""
const enc = await (await fetch('/files/python.bin')).blob();
return t.tryDecrypt(key, enc, aad);
"""),
        args(),
    )
    assert result == {"ok": hashlib.sha256(plain).hexdigest()}


TAMPER = script("""
const data = hw.randomBytes(10 * a.chunk);
const enc = await hw.encryptBlob(key, data, aad, { chunkSize: a.chunk });
const bytes = new Uint8Array(await enc.arrayBuffer());
const other = new Uint8Array(await (await hw.encryptBlob(
  key, data, aad, { chunkSize: a.chunk })).arrayBuffer());
const { header, chunks } = t.splitBlob(bytes);
const cases = {
  intact: bytes,
  swapped: t.joinBlob(header, [chunks[0], chunks[2], chunks[1], ...chunks.slice(3)]),
  dropped_middle: t.joinBlob(header, [...chunks.slice(0, 4), ...chunks.slice(5)]),
  dropped_first: t.joinBlob(header, chunks.slice(1)),
  truncated_at_boundary: t.joinBlob(header, chunks.slice(0, 9)),
  truncated_mid_chunk: bytes.slice(0, bytes.length - 100),
  repeated: t.joinBlob(header, [...chunks.slice(0, 5), chunks[4], ...chunks.slice(5)]),
  extended: t.joinBlob(header, [...chunks, chunks[9]]),
  trailing_byte: t.joinBlob(header, [...chunks, Uint8Array.of(0)]),
  header_only: header,
  spliced_from_twin: t.joinBlob(
    header, [...chunks.slice(0, 3), t.splitBlob(other).chunks[3], ...chunks.slice(4)]),
  other_header: t.joinBlob(t.splitBlob(other).header, chunks),
};
const flip = (index) => { const c = bytes.slice(); c[index] ^= 1; return c; };
cases.flipped_magic = flip(0);
cases.flipped_version = flip(4);
cases.flipped_chunk_size = flip(7);
cases.flipped_prefix = flip(12);
cases.flipped_ciphertext = flip(hw.BLOB_HEADER_BYTES + a.chunk * 3);
cases.flipped_tag = flip(bytes.length - 1);
const out = {};
for (const [name, source] of Object.entries(cases)) {
  out[name] = await t.tryDecrypt(key, new Blob([source]), aad);
}
const wrong = {
  other_blob: hw.blobAad(a.groupId, a.senderId, 'c'.repeat(32)),
  other_group: hw.blobAad('_-_-_-_-_-_-_-_-_-_-_w', a.senderId, a.blobId),
  other_sender: hw.blobAad(a.groupId, a.senderId + 1, a.blobId),
  message_aad: hw.messageAad(a.groupId, a.senderId),
};
for (const [name, otherAad] of Object.entries(wrong)) {
  out[name] = await t.tryDecrypt(key, bytes, otherAad);
}
const otherKey = await t.groupKey('ff'.repeat(32), a.salt, a.iterations);
out.other_key = await t.tryDecrypt(otherKey, bytes, aad);
return { plainHash: await t.sha256(new Blob([data])), out };
""")


def test_any_change_to_chunks_or_context_fails(page: Page) -> None:
    result = page.evaluate(TAMPER, args(chunk=CHUNK))
    out = result["out"]
    assert out.pop("intact") == {"ok": result["plainHash"]}
    assert len(out) == 22
    succeeded = {name: o for name, o in out.items() if "ok" in o}
    assert succeeded == {}


def test_refusals_name_the_problem_without_plaintext(page: Page) -> None:
    result = page.evaluate(TAMPER, args(chunk=CHUNK))["out"]
    assert result["flipped_magic"]["error"].endswith("wrong magic")
    assert "format version" in result["flipped_version"]["error"]
    assert "cut off" in result["header_only"]["error"]
    assert result["swapped"]["error"].startswith("Error: Decryption failed")


def test_bad_parameters_are_refused(page: Page) -> None:
    result = page.evaluate(
        """async () => {
          const { hw } = await import('/pages/blobtest.js');
          const attempt = (f) => { try { f(); return 'accepted'; }
                                   catch (e) { return e.name; } };
          const g = 'AAECAwQFBgcICQoLDA0ODw';
          return {
            tinyChunk: attempt(() => hw.blobCiphertextSize(10, 512)),
            hugeChunk: attempt(() => hw.blobCiphertextSize(10, 32 * 1024 * 1024)),
            badBlobId: attempt(() => hw.blobAad(g, 1, 'a/b')),
            shortBlobId: attempt(() => hw.blobAad(g, 1, 'abc')),
            pipeInId: attempt(() => hw.blobAad(g, 1, 'a'.repeat(30) + '|x')),
            badSender: attempt(() => hw.blobAad(g, 0, 'a'.repeat(32))),
          };
        }"""
    )
    assert result == {
        "tinyChunk": "RangeError",
        "hugeChunk": "RangeError",
        "badBlobId": "Error",
        "shortBlobId": "Error",
        "pipeInId": "Error",
        "badSender": "Error",
    }
