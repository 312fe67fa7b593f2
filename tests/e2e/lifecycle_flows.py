"""Browser steps of the membership lifecycle, for the e2e tests.

They build on flows.py: the members panel, the safety number, removing a
member, replacing the group key, and reaching into the server's database or
its answers the way a hostile server could.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.e2e import flows
from tests.e2e.server import ServerProcess, _pg_uri_with_database

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

TIMEOUT_MS = flows.TIMEOUT_MS


def group_id_of(page: Page) -> str:
    match = re.search(r"/chat/([\w-]{22})/$", page.url)
    assert match, page.url
    return match.group(1)


def open_invitation(page: Page, link: str) -> None:
    """Open an invitation while logged in, and wait for the group page."""
    page.goto(link)
    page.wait_for_url(re.compile(r"/chat/[\w-]{22}/$"), timeout=TIMEOUT_MS)
    flows.wait_ready(page)


def open_members(page: Page) -> None:
    page.click("[data-testid=members]")
    page.locator("[data-testid=members-dialog]").wait_for(timeout=TIMEOUT_MS)


def close_members(page: Page) -> None:
    page.click("[data-role=members-dialog] [data-action=close-dialog] >> nth=-1")


def safety_number(page: Page, seq: int) -> str:
    """The safety number once the page has verified the chain up to ``seq``."""
    page.wait_for_function(
        """(seq) => {
          const number = document.querySelector('[data-testid=safety-number]');
          return number.dataset.seq === String(seq) && number.dataset.value;
        }""",
        arg=seq,
        timeout=TIMEOUT_MS,
    )
    value: str = (
        page.locator("[data-testid=safety-number]").get_attribute("data-value") or ""
    )
    return value


def member_action(page: Page, username: str, action: str) -> None:
    """Press Remove or Make owner in a member's row, confirming the prompt."""
    row = page.locator("[data-testid=member-list] li", has_text=username)
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator(f"[data-member-action={action}]").click()
    page.locator("[data-testid=member-list] li", has_text=username).locator(
        f"[data-member-action={action}]"
    ).wait_for(state="detached", timeout=TIMEOUT_MS)


def rotate(page: Page) -> str:
    """Replace the group key from the members panel; return the new link."""
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=rotate]")
    link = page.locator("[data-testid=invite-link]")
    link.wait_for(state="visible", timeout=TIMEOUT_MS)
    value = link.input_value()
    page.click("[data-role=invite-dialog] [data-action=close-dialog]")
    return value


def wait_for_text(page: Page, text: str) -> None:
    page.locator(".hw-msg-body", has_text=text).wait_for(timeout=TIMEOUT_MS)


def api_get(page: Page, path: str) -> tuple[int, Any]:
    """GET an API path with the page's session, as its scripts would."""
    origin = "/".join(page.url.split("/", 3)[:3])
    response = page.request.get(origin + path)
    try:
        body = response.json()
    except ValueError:
        body = None
    return response.status, body


def post_from_page(page: Page, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST JSON with the page's CSRF token; return status and body."""
    result: dict[str, Any] = page.evaluate(
        """async ([path, body]) => {
          const token = document.querySelector('meta[name="csrf-token"]').content;
          const response = await fetch(path, {
            method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json', 'X-CSRFToken': token},
            body: JSON.stringify(body),
          });
          return {status: response.status, body: await response.json()};
        }""",
        [path, body],
    )
    return result


def collect_events(page: Page) -> None:
    """Open a second event stream in the page and keep what it receives."""
    page.evaluate(
        """() => {
          window.__collected = [];
          const stream = new EventSource('/events/');
          for (const kind of ['message', 'members']) {
            stream.addEventListener(kind, (event) => {
              window.__collected.push({kind, ...JSON.parse(event.data)});
            });
          }
          window.__collector = stream;
        }"""
    )
    page.wait_for_function(
        "() => window.__collector.readyState === EventSource.OPEN",
        timeout=TIMEOUT_MS,
    )


def collected(page: Page) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = page.evaluate("() => window.__collected")
    return events


def execute_sql(server: ServerProcess, statement: str, params: tuple[Any, ...]) -> int:
    """Change the server's database behind its back; return the row count.

    ``statement`` uses ``%s`` placeholders, as psycopg does.
    """
    if server.sqlite_path is not None:
        return _execute_sqlite(server, statement.replace("%s", "?"), params)
    import psycopg

    uri = _pg_uri_with_database(server.pg_admin_uri, server.pg_database)
    uri = uri.replace("+psycopg2", "").replace("+psycopg", "")
    with psycopg.connect(uri, autocommit=True) as conn:
        return conn.execute(statement, params).rowcount


def _execute_sqlite(
    server: ServerProcess, statement: str, params: tuple[Any, ...]
) -> int:
    assert server.sqlite_path is not None
    conn = sqlite3.connect(server.sqlite_path, timeout=20)
    try:
        count = conn.execute(statement, params).rowcount
        conn.commit()
        return count
    finally:
        conn.close()


def serve_chain_as(page: Page, change: Callable[[dict[str, Any]], None]) -> None:
    """Hand this page a rewritten chain, as a hostile server would.

    End it with ``page.unroute_all(behavior="wait")``: the page may be reading
    its chain again when the test moves on, and a plain unroute leaves that
    handler to fulfil a request Playwright has already let through ("Route is
    already handled!", seen in CI under load).
    """

    def handle(route: Route) -> None:
        response = route.fetch()
        chain = response.json()
        change(chain)
        route.fulfill(response=response, body=json.dumps(chain))

    page.route(re.compile(r"/api/groups/[\w-]{22}/chain$"), handle)
