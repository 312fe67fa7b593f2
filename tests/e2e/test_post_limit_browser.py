"""The posting limit as a person meets it, in Chromium.

The server allows three messages a minute here. The fourth is refused: the
page says why and for how long, keeps the draft in the composer, shows no
bubble for it, and the server stores nothing of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.e2e import flows
from tests.e2e import lifecycle_flows as life
from tests.e2e.people import signed_up
from tests.e2e.server import ServerProcess, start_server, stop_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e

LIMIT = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = start_server(
        tmp_path_factory.mktemp("server"),
        HASHWHISPER_MESSAGES_PER_MINUTE=str(LIMIT),
    )
    try:
        yield process
    finally:
        stop_server(process)


def test_a_message_past_the_limit_keeps_its_draft_and_says_why(
    server: ServerProcess, browser: Browser
) -> None:
    with signed_up(server, browser, "quick") as people:
        page = people["quick"].page
        flows.create_group(page, "Quick fingers")
        group_id = life.group_id_of(page)
        for number in range(LIMIT):
            flows.send(page, f"note {number}")

        draft = "one message too many"
        page.fill("[data-testid=composer]", draft)
        page.click("[data-testid=send]")

        error = page.locator("[data-role=send-error]")
        error.filter(has_text="faster than anyone types").wait_for(
            timeout=flows.TIMEOUT_MS
        )
        assert "Wait" in (error.text_content() or "")
        assert page.locator("[data-testid=composer]").input_value() == draft
        assert page.locator(".hw-msg-body", has_text=draft).count() == 0
        # An UPDATE that changes nothing, for its row count (SQLite gives
        # none for a SELECT).
        stored = life.execute_sql(
            server,
            "UPDATE chat_message SET expires_at = expires_at WHERE group_id = %s",
            (group_id,),
        )
        assert stored == LIMIT
