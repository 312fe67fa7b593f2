"""Encrypted pictures, video and voice notes between two people, in Chromium.

Alice sends a picture, a short video (recorded at test time from a canvas
with Chromium's MediaRecorder) and a voice note recorded through Chromium's
fake microphone; Bob sees placeholders, opens them and they play. Upload
progress is watched as it advances. A file whose bytes are not what its
declared type says is offered as a download and never rendered, and a blob
altered on the server's disk shows as damaged. Last, every file in the
blob folder is searched for markers planted in the originals and for pieces
of them, and each stored blob is opened with the Python reference to show
it is exactly the file that was sent, encrypted.

The tests run in file order and share the two signed-up people.
"""

from __future__ import annotations

import base64
import re
import secrets
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e import flows
from tests.e2e.canary import database_cells, find_leaks
from tests.e2e.server import ServerProcess
from tests.media_vault import blobformat
from tests.media_vault.live import database_rows
from tests.support import reference
from tests.support.browser import CHROMIUM_ARGS, CHROMIUM_PATH, chromium_missing_reason

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, FilePayload, Page

pytestmark = pytest.mark.e2e

T = flows.TIMEOUT_MS
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FAKE_MEDIA_ARGS = (
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
)
MARKER = f"HW-MEDIA-MARKER-{secrets.token_hex(8)}".encode()
# Upload speed during the tests, so that progress has time to show.
UPLOAD_BYTES_PER_SECOND = 3 * 1024 * 1024

RECORD_PROGRESS = """() => {
  window.__progress = [];
  const box = document.querySelector('[data-role="uploads"]');
  new MutationObserver((records) => {
    for (const record of records) {
      const bar = record.target;
      if (bar.tagName === 'PROGRESS') {
        const row = bar.closest('[data-phase]');
        window.__progress.push([row ? row.dataset.phase : '', bar.value]);
      }
    }
  }).observe(box, { subtree: true, attributes: true, attributeFilter: ['value'] });
}"""

MAKE_VIDEO = """async () => {
  const canvas = document.createElement('canvas');
  canvas.width = 160;
  canvas.height = 120;
  const g = canvas.getContext('2d');
  const stream = canvas.captureStream(25);
  const recorder = new MediaRecorder(stream, { mimeType: 'video/webm' });
  const parts = [];
  recorder.addEventListener('dataavailable', (e) => parts.push(e.data));
  const done = new Promise((resolve) => recorder.addEventListener('stop', resolve));
  recorder.start(100);
  for (let frame = 0; frame < 30; frame += 1) {
    g.fillStyle = `hsl(${frame * 12}, 80%, 50%)`;
    g.fillRect(0, 0, 160, 120);
    g.fillStyle = '#fff';
    g.fillRect(frame * 4, 40, 30, 30);
    await new Promise((resolve) => requestAnimationFrame(resolve));
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  recorder.stop();
  await done;
  const bytes = new Uint8Array(await new Blob(parts).arrayBuffer());
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}"""


# A file handed over the way the browser does it for drag and drop or paste.
HAND_OVER = """([how, name, type, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  const init = { bubbles: true, cancelable: true };
  if (how === 'paste') {
    const input = document.querySelector('[data-testid=composer]');
    const paste = new ClipboardEvent('paste', { ...init, clipboardData: transfer });
    input.dispatchEvent(paste);
    return;
  }
  const zone = document.querySelector('[data-role="chat"]');
  for (const kind of ['dragenter', 'dragover', 'drop']) {
    zone.dispatchEvent(new DragEvent(kind, { ...init, dataTransfer: transfer }));
  }
}"""


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def picture(width: int = 96, height: int = 64, padding: int = 2 << 20) -> bytes:
    """A PNG with the marker and random filler in a private ancillary chunk.

    Decoders skip the chunk, so the picture still shows; the filler makes
    the upload take long enough for its progress to be seen.
    """
    rgb = b"".join(
        b"\x00" + b"".join(bytes((x * 3 % 256, y * 4 % 256, 160)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    private = MARKER + secrets.token_bytes(padding)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"hwMk", private)
        + png_chunk(b"IDAT", zlib.compress(rgb))
        + png_chunk(b"IEND", b"")
    )


def with_void_marker(webm: bytes) -> bytes:
    """A WebM with the marker appended as an EBML Void element."""
    assert len(MARKER) < 127
    return webm + b"\xec" + bytes([0x80 | len(MARKER)]) + MARKER


@dataclass
class People:
    alice: Page
    bob: Page
    contexts: list[BrowserContext]
    invitation: str
    errors: list[str] = field(default_factory=list)
    sent: dict[str, bytes] = field(default_factory=dict)


@pytest.fixture(scope="module")
def media_browser() -> Iterator[Browser]:
    reason = chromium_missing_reason()
    if reason:
        print(f"skipping media browser tests: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM_PATH),
            args=[*CHROMIUM_ARGS, *FAKE_MEDIA_ARGS],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def people(server: ServerProcess, media_browser: Browser) -> Iterator[People]:
    base = server.base_url
    contexts = [media_browser.new_context() for _ in range(2)]
    alice, bob = (context.new_page() for context in contexts)
    errors: list[str] = []
    for page in (alice, bob):
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console",
            lambda m: errors.append(m.text) if m.type == "error" else None,
        )
    flows.register(alice, base, "alice", "alice-" + secrets.token_urlsafe(12))
    invitation = flows.create_group(alice, "Fotos & Sprachnachrichten 📷")
    bob.goto(invitation)
    bob.wait_for_url(re.compile(r"/accounts/login/"), timeout=T)
    bob.click("text=Create an account")
    flows.fill_registration(bob, "bob", "bob-" + secrets.token_urlsafe(12))
    bob.wait_for_url(re.compile(r"/chat/[\w-]{22}/$"), timeout=T)
    flows.wait_ready(bob)
    try:
        yield People(alice, bob, contexts, invitation, errors)
    finally:
        for context in contexts:
            context.close()


def throttle_uploads(page: Page, speed: int = UPLOAD_BYTES_PER_SECOND) -> None:
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": speed,
        },
    )


ATTACHMENTS = ".hw-msg [data-testid=attachment]"


def choose_file(page: Page, name: str, mime: str, data: bytes) -> None:
    """Pick a file with the attach button's file input."""
    payload: FilePayload = {"name": name, "mimeType": mime, "buffer": data}
    page.set_input_files("[data-testid=attach-input]", files=[payload])


def send_file(page: Page, name: str, mime: str, data: bytes) -> int:
    """Attach a file, wait for its message, return its attachment's index."""
    before = page.locator(ATTACHMENTS).count()
    choose_file(page, name, mime, data)
    attachment_at(page, before)
    return before


def attachment_at(page: Page, index: int) -> Any:
    """The index-th attachment of the conversation, once it is shown."""
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length > n",
        arg=[ATTACHMENTS, index],
        timeout=T,
    )
    return page.locator(ATTACHMENTS).nth(index)


def saved_bytes(page: Page, attachment: Any) -> bytes:
    """Click an attachment's save link and read the file the browser saved."""
    with page.expect_download(timeout=T) as saving:
        attachment.locator("[data-testid=attachment-download]").click()
    return Path(saving.value.path()).read_bytes()


def open_attachment(page: Page, index: int) -> Any:
    """Open (download and decrypt) an attachment and wait until it settles."""
    attachment = attachment_at(page, index)
    attachment.locator("[data-testid=attachment-open]").click()
    page.wait_for_function(
        """([sel, n]) => {
          const state = document.querySelectorAll(sel)[n].dataset.state;
          return state !== 'idle' && state !== 'loading';
        }""",
        arg=[ATTACHMENTS, index],
        timeout=T,
    )
    return attachment


def test_picture_goes_from_alice_to_bob_with_visible_progress(people: People) -> None:
    alice, bob = people.alice, people.bob
    data = picture()
    people.sent["picture"] = data
    throttle_uploads(alice)
    alice.evaluate(RECORD_PROGRESS)

    index = send_file(alice, "Balkon im Mai 🌷.png", "image/png", data)
    progress = alice.evaluate("() => window.__progress")
    uploading = [value for phase, value in progress if phase == "Uploading"]
    # The bar moves through values between empty and full, in order.
    assert len([v for v in uploading if 0 < v < 1]) >= 3, progress
    assert uploading == sorted(uploading)
    # The upload's row goes once the message is stored.
    alice.wait_for_function(
        "() => !document.querySelector('[data-testid=upload]')", timeout=T
    )

    attachment = attachment_at(bob, index)
    assert attachment.get_attribute("data-kind") == "image"
    assert attachment.get_attribute("data-state") == "idle"
    assert "Balkon im Mai 🌷.png" in attachment.inner_text()
    assert "image/png" in attachment.inner_text()
    preview = attachment.locator("img.hw-att-thumb")
    assert preview.get_attribute("src").startswith("blob:")
    bob.wait_for_function(
        "() => document.querySelector('.hw-msg img.hw-att-thumb')?.naturalWidth > 0",
        timeout=T,
    )

    open_attachment(bob, index)
    image = attachment.locator("[data-testid=attachment-image]")
    assert image.get_attribute("src").startswith("blob:")
    bob.wait_for_function(
        """() => {
          const img = document.querySelector('[data-testid=attachment-image]');
          return img && img.complete && img.naturalWidth === 96;
        }""",
        timeout=T,
    )


def test_short_video_plays_for_bob(people: People) -> None:
    alice, bob = people.alice, people.bob
    video = with_void_marker(base64.b64decode(alice.evaluate(MAKE_VIDEO)))
    people.sent["video"] = video
    index = send_file(alice, "kurzes Video.webm", "video/webm", video)

    attachment = open_attachment(bob, index)
    assert attachment.get_attribute("data-kind") == "video"
    assert attachment.get_attribute("data-state") == "ready"
    bob.wait_for_function(
        """() => {
          const v = document.querySelector('[data-testid=attachment-video]');
          return v && v.readyState >= 1 && v.videoWidth === 160;
        }""",
        timeout=T,
    )


def test_recorded_voice_note_plays_for_bob(people: People) -> None:
    alice, bob = people.alice, people.bob
    alice.click("[data-testid=record-voice]")
    recorder = alice.locator("[data-testid=recorder]")
    recorder.wait_for(state="visible", timeout=T)
    alice.wait_for_function(
        """() => document.querySelector('[data-testid=recorder-time]')
             .textContent === '0:01'""",
        timeout=T,
    )
    index = alice.locator(ATTACHMENTS).count()
    alice.click("[data-testid=voice-send]")
    recorder.wait_for(state="hidden", timeout=T)
    mine = attachment_at(alice, index)
    assert mine.get_attribute("data-kind") == "audio"
    assert re.search(r"voice-note-\d{14}\.webm", mine.inner_text())

    attachment = open_attachment(bob, index)
    assert attachment.get_attribute("data-state") == "ready"
    bob.wait_for_function(
        """() => {
          const a = document.querySelector('[data-testid=attachment-audio]');
          return a && a.readyState >= 1;
        }""",
        timeout=T,
    )
    recorded = saved_bytes(bob, attachment)
    assert recorded[:4] == b"\x1a\x45\xdf\xa3"
    people.sent["voice"] = recorded


def test_cancelled_recording_sends_nothing(people: People) -> None:
    alice = people.alice
    before = alice.locator(ATTACHMENTS).count()
    alice.click("[data-testid=record-voice]")
    alice.locator("[data-testid=recorder]").wait_for(state="visible", timeout=T)
    alice.click("[data-testid=voice-cancel]")
    alice.locator("[data-testid=recorder]").wait_for(state="hidden", timeout=T)
    alice.wait_for_timeout(500)
    assert alice.locator(ATTACHMENTS).count() == before
    assert alice.locator("[data-testid=upload]").count() == 0


@pytest.mark.parametrize("how", ["drop", "paste"])
def test_pictures_arrive_by_drag_and_drop_and_by_paste(
    people: People, how: str
) -> None:
    alice, bob = people.alice, people.bob
    index = alice.locator(ATTACHMENTS).count()
    name = f"{how}.png"
    data = base64.b64encode(picture(padding=1000)).decode()
    alice.evaluate(HAND_OVER, [how, name, "image/png", data])
    assert name in attachment_at(alice, index).inner_text()
    attachment = open_attachment(bob, index)
    assert name in attachment.inner_text()
    assert attachment.locator("[data-testid=attachment-image]").count() == 1


def test_cancelled_upload_leaves_no_message_and_no_blob(
    people: People, server: ServerProcess
) -> None:
    alice = people.alice
    before = alice.locator(ATTACHMENTS).count()
    rows_before = database_rows(server, "SELECT id FROM media_vault_blob")
    throttle_uploads(alice, 256 * 1024)
    try:
        choose_file(alice, "gross.png", "image/png", picture())
        row = alice.locator("[data-testid=upload][data-phase=Uploading]")
        row.wait_for(timeout=T)
        alice.click("[data-testid=upload-cancel]")
        alice.locator("[data-testid=upload]").wait_for(state="detached", timeout=T)
    finally:
        throttle_uploads(alice)
    alice.wait_for_timeout(1000)
    assert alice.locator(ATTACHMENTS).count() == before
    assert database_rows(server, "SELECT id FROM media_vault_blob") == rows_before


def test_refused_type_is_reported_and_can_be_dismissed(people: People) -> None:
    alice = people.alice
    choose_file(alice, "notes.txt", "text/plain", b"hello")
    row = alice.locator("[data-testid=upload].hw-upload-failed")
    row.wait_for(timeout=T)
    assert "not accepted" in row.inner_text()
    alice.click("[data-testid=upload-cancel]")
    row.wait_for(state="detached", timeout=T)
    # Chromium logs the refused request itself; that one line is expected.
    refused = [e for e in people.errors if "status of 415" in e]
    assert len(refused) == 1
    people.errors.remove(refused[0])


def test_file_that_is_not_its_declared_type_is_only_offered_for_download(
    people: People,
) -> None:
    alice, bob = people.alice, people.bob
    disguised = (
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
        b"<script>alert(2)</script></svg>"
    )
    index = send_file(alice, "harmless.png", "image/png", disguised)
    attachment = open_attachment(bob, index)
    assert attachment.get_attribute("data-state") == "ready"
    assert (
        attachment.locator("img:not(.hw-att-thumb), video, audio, iframe").count() == 0
    )
    link = attachment.locator("[data-testid=attachment-download]")
    assert link.get_attribute("download") == "harmless.png"
    # Following the link saves the file; the page does not navigate to it.
    url = bob.url
    assert saved_bytes(bob, attachment) == disguised
    assert bob.url == url


def test_blob_altered_on_the_server_shows_as_damaged(
    people: People, server: ServerProcess
) -> None:
    alice, bob = people.alice, people.bob
    index = send_file(alice, "zweites Bild.png", "image/png", picture(padding=20_000))
    files = sorted(
        (p for p in (server.workdir / "blobs").rglob("*") if p.is_file()),
        key=lambda p: p.stat().st_mtime,
    )
    newest = files[-1]
    altered = bytearray(newest.read_bytes())
    altered[len(altered) // 2] ^= 0x01
    newest.write_bytes(bytes(altered))

    attachment = open_attachment(bob, index)
    assert attachment.get_attribute("data-state") == "damaged"
    assert "damaged" in attachment.inner_text()
    assert attachment.locator("[data-testid=attachment-image]").count() == 0
    assert attachment.locator("[data-testid=attachment-download]").count() == 0


def test_no_errors_in_either_page(people: People) -> None:
    # Screenshots help to read a failure; test-artifacts/ is not committed.
    ARTIFACTS.mkdir(exist_ok=True)
    people.alice.screenshot(path=ARTIFACTS / "media-alice.png")
    people.bob.screenshot(path=ARTIFACTS / "media-bob.png")
    assert people.errors == []


def test_blob_folder_holds_only_ciphertext_of_the_sent_files(
    people: People, server: ServerProcess
) -> None:
    assert set(people.sent) == {"picture", "video", "voice"}
    stored = {
        str(path.relative_to(server.workdir)): path.read_bytes()
        for path in (server.workdir / "blobs").rglob("*")
        if path.is_file()
    }
    assert len(stored) >= 5

    canaries: dict[str, bytes | str] = {"marker": MARKER}
    for name, data in people.sent.items():
        # Pieces from all over each original, to catch partial copies.
        for offset in range(0, len(data) - 32, max(1, len(data) // 40)):
            canaries[f"{name}@{offset}"] = data[offset : offset + 32]
    assert find_leaks(canaries, iter(stored.items())) == []

    # And what is there is each sent file, encrypted for its blob.
    group_id, secret = reference.parse_invitation(people.invitation)
    cells = list(database_cells(server))
    salt = next(v for k, v in cells if k == "groups_group.salt")
    iterations = int(next(v for k, v in cells if k == "groups_group.iterations"))
    key = reference.derive_group_keys(secret, salt, iterations).enc_key
    rows = blob_rows(cells)
    opened = []
    for blob_id, uploader, name in rows:
        data = (server.workdir / "blobs" / name).read_bytes()
        aad = blobformat.blob_aad(group_id, uploader, blob_id)
        try:
            opened.append(blobformat.decrypt(key, data, aad))
        except Exception:  # the altered blob fails, as it must
            opened.append(b"")
    for name, data in people.sent.items():
        assert data in opened, name


def blob_rows(cells: list[tuple[str, bytes]]) -> list[tuple[str, int, str]]:
    columns: dict[str, list[bytes]] = {}
    for key, value in cells:
        if key.startswith("media_vault_blob."):
            columns.setdefault(key.split(".", 1)[1], []).append(value)
    return [
        (blob_id.decode(), int(uploader), name.decode())
        for blob_id, uploader, name in zip(
            columns["id"], columns["uploader_id"], columns["storage_name"], strict=True
        )
        if name
    ]
