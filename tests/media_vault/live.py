"""Talk to the real uvicorn server over HTTP, as a signed-in user.

Only the real ASGI server shows how bodies stream in (chunked bodies without
Content-Length, early answers, concurrent requests), which the Django test
client cannot. Sessions are made inside the server's own database by a
small script, so the tests do not depend on the login pages.
"""

from __future__ import annotations

import http.client
import json
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.e2e.server import REPO_ROOT, ServerProcess

SESSION_SCRIPT = """
import sys
import django
django.setup()
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from accounts.models import User
user = User.objects.create_user(username=sys.argv[1], password=None)
device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
store = import_module(settings.SESSION_ENGINE).SessionStore()
store[SESSION_KEY] = str(user.pk)
store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
store[HASH_SESSION_KEY] = user.get_session_auth_hash()
store["otp_device_id"] = device.persistent_id
store.create()
print(user.pk, store.session_key, settings.SESSION_COOKIE_NAME,
      settings.CSRF_COOKIE_NAME)
"""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LiveUser:
    """A verified session on the live server, and plain HTTP calls with it."""

    server: ServerProcess
    user_id: int
    cookie: str
    csrf: str

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        *,
        chunked: bool = False,
        timeout: float = 60,
    ) -> Answer:
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.server.port, timeout=timeout
        )
        try:
            all_headers = {
                "Cookie": self.cookie,
                "X-CSRFToken": self.csrf,
                "Accept": "application/json",
                **(headers or {}),
            }
            conn.request(
                method, path, body=body, headers=all_headers, encode_chunked=chunked
            )
            response = conn.getresponse()
            return Answer(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            conn.close()

    def post_json(self, path: str, data: dict[str, Any]) -> Answer:
        return self.request(
            "POST",
            path,
            json.dumps(data).encode(),
            {"Content-Type": "application/json"},
        )


def sign_in(server: ServerProcess, username: str) -> LiveUser:
    result = subprocess.run(
        [sys.executable, "-c", SESSION_SCRIPT, username],
        cwd=REPO_ROOT,
        env={**server.env, "DJANGO_SETTINGS_MODULE": "hashwhisper.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    user_id, session_key, session_cookie, csrf_cookie = result.stdout.split()
    # Django accepts its unmasked 32-character secret as the token.
    csrf = secrets.token_hex(16)
    return LiveUser(
        server,
        int(user_id),
        f"{session_cookie}={session_key}; {csrf_cookie}={csrf}",
        csrf,
    )


def database_rows(server: ServerProcess, sql: str) -> list[tuple[Any, ...]]:
    if server.sqlite_path is None:
        import psycopg

        from tests.e2e.server import _pg_uri_with_database

        uri = _pg_uri_with_database(server.pg_admin_uri, server.pg_database)
        uri = uri.replace("+psycopg2", "").replace("+psycopg", "")
        with psycopg.connect(uri) as conn:
            return list(conn.execute(sql))
    lite = sqlite3.connect(server.sqlite_path)
    try:
        return list(lite.execute(sql))
    finally:
        lite.close()


def body_pieces(data: bytes, piece: int = 256 * 1024) -> Iterator[bytes]:
    """A body as many pieces, which http.client sends chunked."""
    for start in range(0, len(data), piece):
        yield data[start : start + piece]
