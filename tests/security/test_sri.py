"""Subresource Integrity on our own script tags, and pages free of inline
script and style (the strict CSP would refuse them anyway)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hashwhisper import sri
from tests.conftest import SecureClient, verified_client
from tests.security.conftest import Account
from tests.security.observatory import scripts

pytestmark = pytest.mark.django_db

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = REPO_ROOT / "templates"
PUBLIC_PAGES = ["/accounts/login/", "/accounts/register/", "/g/join"]
PRIVATE_PAGES = ["/chat/", "/accounts/security/", "/g/join"]


def sha384(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def body_of(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def check_scripts(client: SecureClient, pages: list[str]) -> int:
    """Every script of every page matches the bytes the server sends."""
    checked = 0
    for path in pages:
        page = client.get(path)
        assert page.status_code == 200, path
        tags = scripts(page.content.decode())
        assert tags, f"{path} has no script"
        for tag in tags:
            assert tag.get("src"), f"inline script on {path}"
            assert tag.get("type") == "module"
            served = client.get(tag["src"])
            assert served.status_code == 200, tag["src"]
            assert tag.get("integrity") == sha384(body_of(served)), (path, tag)
            checked += 1
    return checked


def test_every_script_tag_carries_the_right_hash(alice: Account) -> None:
    assert check_scripts(SecureClient(), PUBLIC_PAGES) >= len(PUBLIC_PAGES)
    assert check_scripts(verified_client(*alice), PRIVATE_PAGES) >= len(PRIVATE_PAGES)


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``collectstatic`` with the production storage (hashed, compressed)."""
    target = tmp_path_factory.mktemp("collected")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HASHWHISPER_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="hashwhisper.settings",
        HASHWHISPER_SECRET=secrets.token_urlsafe(48),
        HASHWHISPER_ALLOWED_HOSTS="testserver",
        HASHWHISPER_STATIC_ROOT=str(target),
        HASHWHISPER_MEDIA_ROOT=str(target.parent / "blobs"),
        HASHWHISPER_SQLITE_PATH=str(target.parent / "db.sqlite3"),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (target / "staticfiles.json").is_file()
    return target


def test_hashes_match_the_stored_files_of_production(
    alice: Account, collected: Path, settings: Any
) -> None:
    settings.STATIC_ROOT = collected
    settings.WHITENOISE_USE_FINDERS = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        },
    }
    assert check_scripts(SecureClient(), PUBLIC_PAGES) >= len(PUBLIC_PAGES)
    assert check_scripts(verified_client(*alice), PRIVATE_PAGES) >= len(PRIVATE_PAGES)
    page = SecureClient().get("/accounts/login/").content.decode()
    assert re.search(r'src="/static/js/theme\.[0-9a-f]{12}\.js"', page)


def test_a_changed_file_gets_a_new_hash(tmp_path: Path, settings: Any) -> None:
    settings.STATICFILES_DIRS = [tmp_path, *settings.STATICFILES_DIRS]
    script = tmp_path / "probe.js"
    script.write_text("export const a = 1;\n")
    first = sri.integrity("probe.js")
    script.write_text("export const a = 22;\n")

    assert sri.integrity("probe.js") == sha384(script.read_bytes()) != first


INLINE = [
    (re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_template_holds_inline_script_or_style() -> None:
    found = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text()
        for pattern, what in INLINE:
            if pattern.search(text):
                found.append(f"{template.relative_to(REPO_ROOT)}: {what}")

    assert found == []
