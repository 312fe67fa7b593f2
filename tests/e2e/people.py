"""Signed-up people, each in a browser context of their own.

For browser tests that sign people up once per module (Argon2 and TOTP make
signing up slow) and keep what went wrong on their pages.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.e2e import flows
from tests.e2e.server import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Error,
        Page,
        ViewportSize,
    )

DESKTOP: ViewportSize = {"width": 1280, "height": 800}


@dataclass
class Person:
    context: BrowserContext
    page: Page
    base_url: str
    # Uncaught page errors and console errors, for tests to check.
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def chat(self, group_id: str = "") -> Page:
        """The chat page (of one group), loaded anew: nothing left over of
        the test before."""
        suffix = f"{group_id}/" if group_id else ""
        self.page.goto(f"{self.base_url}/chat/{suffix}")
        flows.wait_ready(self.page)
        return self.page

    def keep_error(self, error: Error) -> None:
        self.errors.append(str(error))

    def keep_console_error(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console.append(message.text)


def sign_up(
    server: ServerProcess,
    browser: Browser,
    name: str,
    permissions: Iterable[str] = (),
) -> Person:
    """A new account named after ``name``, signed in on a page of its own."""
    context = browser.new_context(viewport=DESKTOP)
    try:
        if permissions:
            context.grant_permissions(list(permissions), origin=server.base_url)
        page = context.new_page()
        person = Person(context=context, page=page, base_url=server.base_url)
        page.on("pageerror", person.keep_error)
        page.on("console", person.keep_console_error)
        flows.register(
            page,
            server.base_url,
            f"{name}{secrets.token_hex(3)}",
            secrets.token_urlsafe(18),
        )
    except BaseException:
        context.close()
        raise
    return person


@contextmanager
def signed_up(
    server: ServerProcess,
    browser: Browser,
    *names: str,
    permissions: Iterable[str] = (),
) -> Iterator[dict[str, Person]]:
    """One signed-up person per name; their browser contexts close after."""
    crowd: dict[str, Person] = {}
    try:
        for name in names:
            crowd[name] = sign_up(server, browser, name, permissions)
        yield crowd
    finally:
        for person in crowd.values():
            person.context.close()
