"""Two people sign up, share a group by invitation and chat, in Chromium.

The server is the real ASGI app under uvicorn. Afterwards everything the
server kept (every table and column, every file it wrote, its log) is
searched for the plaintext and the key material, and what it should hold
(ciphertext, nonces, tags, salt, token hash) is checked to be there.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import TYPE_CHECKING

import pytest

from tests.e2e import flows
from tests.e2e.canary import database_cells, find_leaks, server_files
from tests.e2e.server import ServerProcess
from tests.support import reference

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

pytestmark = pytest.mark.e2e

GROUP_NAME = "Küchenrat 🍲 — Ωmega"
FROM_ALICE = "Grüße aus Köln, Bob! 👋🏽 Привет, 世界"
FROM_BOB = "Hallo Alice ✅ ñandú — 日本語も大丈夫 🔐"
SECOND_FROM_ALICE = "Zweite Nachricht: ça marche 🎉"


class PageWatch:
    """Counts navigations and collects console errors of one page."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.navigations = 0
        self.streams = 0
        page.on("console", self._console)
        page.on("request", self._request)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("framenavigated", self._navigated)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _request(self, request: object) -> None:
        if str(getattr(request, "url", "")).endswith("/events/"):
            self.streams += 1

    def _navigated(self, frame: object) -> None:
        if frame is self.page.main_frame:
            self.navigations += 1


def test_two_people_chat_live_and_server_holds_no_plaintext(
    server: ServerProcess, browser: Browser
) -> None:
    base = server.base_url
    alice_password = "alice-" + secrets.token_urlsafe(12)
    bob_password = "bob-" + secrets.token_urlsafe(12)
    alice_ctx = browser.new_context()
    bob_ctx = browser.new_context()
    try:
        alice, bob = alice_ctx.new_page(), bob_ctx.new_page()
        alice_watch, bob_watch = PageWatch(alice), PageWatch(bob)

        flows.register(alice, base, "alice", alice_password)
        invitation = flows.create_group(alice, GROUP_NAME)
        assert re.fullmatch(
            rf"{re.escape(base)}/g/join#v1\.[\w-]{{22}}\.[\w-]+", invitation
        )

        # Bob opens the invitation before he has an account: the fragment
        # must survive registration and enrolment in sessionStorage.
        bob.goto(invitation)
        bob.wait_for_url(re.compile(r"/accounts/login/"), timeout=flows.TIMEOUT_MS)
        assert "#" not in bob.url and "v1." not in bob.url
        bob.click("text=Create an account")
        flows.fill_registration(bob, "bob", bob_password)
        bob.wait_for_url(re.compile(r"/chat/[\w-]{22}/$"), timeout=flows.TIMEOUT_MS)
        flows.wait_ready(bob)
        bob.locator("[data-role=group-name]", has_text=GROUP_NAME).wait_for(
            timeout=flows.TIMEOUT_MS
        )

        before = [(w.navigations, w.streams) for w in (alice_watch, bob_watch)]
        flows.send(alice, FROM_ALICE)
        flows.wait_for_message(bob, FROM_ALICE)
        flows.send(bob, FROM_BOB)
        flows.wait_for_message(alice, FROM_BOB)
        flows.send(alice, SECOND_FROM_ALICE)
        flows.wait_for_message(bob, SECOND_FROM_ALICE)
        # Delivered live: neither page reloaded or had to reopen its stream
        # (a reopened stream would catch up from the history API instead).
        assert [(w.navigations, w.streams) for w in (alice_watch, bob_watch)] == before
        assert alice.locator("[data-failed]").count() == 0
        assert bob.locator("[data-failed]").count() == 0
        assert (alice_watch.errors, bob_watch.errors) == ([], [])
    finally:
        alice_ctx.close()
        bob_ctx.close()

    check_server_holds_only_ciphertext(
        server,
        invitation,
        [FROM_ALICE, FROM_BOB, SECOND_FROM_ALICE],
        [alice_password, bob_password],
    )


def check_server_holds_only_ciphertext(
    server: ServerProcess,
    invitation: str,
    texts: list[str],
    passwords: list[str],
) -> None:
    group_id, secret = reference.parse_invitation(invitation)
    cells = dict(database_cells(server))
    rows = list(database_cells(server))
    salt = next(v for k, v in rows if k == "groups_group.salt")
    iterations = int(next(v for k, v in rows if k == "groups_group.iterations"))
    keys = reference.derive_group_keys(secret, salt, iterations)

    # What must be there: the token's hash, and ciphertext that opens with
    # the key derived independently in Python to exactly the texts sent.
    assert (
        cells["groups_group.token_hash"]
        == hashlib.blake2b(keys.member_token, digest_size=32).digest()
    )
    opened = [
        reference.decrypt_json(
            keys.enc_key,
            {
                "ciphertext": reference.b64encode(ct),
                "nonce": reference.b64encode(nonce),
                "tag": reference.b64encode(tag),
            },
            reference.message_aad(group_id, int(sender)),
        )["body"]
        for ct, nonce, tag, sender in message_rows(rows)
    ]
    assert opened == texts

    canaries: dict[str, bytes | str] = {
        "group secret": secret,
        "encryption key": keys.enc_key,
        "membership token": keys.member_token,
        "group name": GROUP_NAME,
        **{f"password {i}": p for i, p in enumerate(passwords)},
        **{f"message {i}": text for i, text in enumerate(texts)},
        # Fragments of the texts, to catch partial copies too.
        **{f"message {i} start": text[:12] for i, text in enumerate(texts)},
    }
    leaks = find_leaks(canaries, iter(rows))
    leaks += find_leaks(canaries, server_files(server))
    assert leaks == []
    assert server.log_path.stat().st_size > 0


def message_rows(
    rows: list[tuple[str, bytes]],
) -> list[tuple[bytes, bytes, bytes, bytes]]:
    columns: dict[str, list[bytes]] = {}
    for key, value in rows:
        if key.startswith("chat_message."):
            columns.setdefault(key.split(".", 1)[1], []).append(value)
    ordered = sorted(
        zip(
            columns["id"],
            columns["ciphertext"],
            columns["nonce"],
            columns["tag"],
            columns["sender_id"],
            strict=True,
        ),
        key=lambda row: int(row[0]),
    )
    return [(ct, nonce, tag, sender) for _, ct, nonce, tag, sender in ordered]
