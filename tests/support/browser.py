"""Shared helpers for browser tests: a Chromium launcher and a static server.

Chromium is Debian's build at ``/usr/bin/chromium``, driven by Playwright for
Python; Playwright's own browser downloads are never used. Tests that need it
call ``chromium_missing_reason()`` first and skip with that reason.

Playwright's sync API allows one running instance per thread at a time, so a
suite should start it in a fixture that ends before another suite starts its
own (module scope does that), or share one fixture.

``StaticServer`` serves fixed folders on 127.0.0.1 and an ephemeral port,
under the same strict Content Security Policy as the product, so a harness page
proves that the code it loads needs no inline script and no eval.
"""

from __future__ import annotations

import contextlib
import importlib.util
import mimetypes
import threading
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from playwright.sync_api import Browser

REPO_ROOT = Path(__file__).resolve().parents[2]
STATIC_ROOT = REPO_ROOT / "static"
CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
STRICT_CSP = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}


def chromium_missing_reason() -> str | None:
    """Say why browser tests cannot run here, or return None when they can."""
    if not CHROMIUM_PATH.is_file():
        return f"Chromium is not installed at {CHROMIUM_PATH}"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed"
    return None


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Start Playwright and a headless Chromium; stop both on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM_PATH), args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


class _StaticHandler(BaseHTTPRequestHandler):
    """Serves GET and HEAD for files under the server's mounts only."""

    server: _StaticHTTPServer

    def do_GET(self) -> None:
        self._respond(with_body=True)

    def do_HEAD(self) -> None:
        self._respond(with_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: request lines would only clutter test output."""

    def _respond(self, *, with_body: bool) -> None:
        target = self.server.resolve(unquote(urlsplit(self.path).path))
        if target is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        body = target.read_bytes()
        content_type = _CONTENT_TYPES.get(target.suffix) or (
            mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        )
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", self.server.csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if with_body:
            self.wfile.write(body)


class _StaticHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mounts: Mapping[str, Path], csp: str) -> None:
        super().__init__(("127.0.0.1", 0), _StaticHandler)
        self.mounts = {
            "/" + prefix.strip("/") + "/": root.resolve()
            for prefix, root in mounts.items()
        }
        self.csp = csp

    def resolve(self, url_path: str) -> Path | None:
        """Map a URL path to a file inside one mount, refusing any escape."""
        for prefix, root in self.mounts.items():
            if url_path.startswith(prefix):
                candidate = (root / url_path[len(prefix) :]).resolve()
                if candidate.is_relative_to(root) and candidate.is_file():
                    return candidate
        return None


class StaticServer:
    """A static file server on 127.0.0.1 and a free port, run in a thread.

    ``mounts`` maps URL prefixes to folders, for example
    ``{"/static": STATIC_ROOT, "/pages": Path("tests/crypto/pages")}``.
    Use it as a context manager, or call ``start`` and ``stop``.
    """

    def __init__(self, mounts: Mapping[str, Path], csp: str = STRICT_CSP) -> None:
        self._server = _StaticHTTPServer(mounts, csp)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="static-server", daemon=True
        )

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, a secure context for WebCrypto."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        """Absolute URL of a path on this server."""
        return self.base_url + "/" + path.lstrip("/")

    def start(self) -> StaticServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StaticServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
