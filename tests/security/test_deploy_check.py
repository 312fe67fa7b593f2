"""``manage.py check --deploy --fail-level WARNING`` passes with the
production settings, with and without Redis configured."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from accounts.checks import csrf_middleware_installed

REPO_ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HASHWHISPER_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="hashwhisper.settings",
        HASHWHISPER_SECRET=secrets.token_urlsafe(48),
        HASHWHISPER_ALLOWED_HOSTS="example.org",
        HASHWHISPER_SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        HASHWHISPER_MEDIA_ROOT=str(tmp_path / "blobs"),
        HASHWHISPER_STATIC_ROOT=str(tmp_path / "static"),
    )
    env.update(extra)
    return env


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_check_passes_with_production_settings(tmp_path: Path) -> None:
    result = deploy_check(production_env(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_passes_with_redis_configured(tmp_path: Path) -> None:
    env = production_env(tmp_path, HASHWHISPER_REDIS_URL="redis://127.0.0.1:6379/15")

    result = deploy_check(env)

    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_check_fails_in_debug_mode(tmp_path: Path) -> None:
    # The check is able to fail: debug mode turns off HSTS, secure cookies
    # and the HTTPS redirect.
    result = deploy_check(production_env(tmp_path, HASHWHISPER_DEBUG="1"))

    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout


@pytest.mark.parametrize("secret", ["short", "x" * 60])
def test_deploy_check_refuses_a_weak_secret(tmp_path: Path, secret: str) -> None:
    result = deploy_check(production_env(tmp_path, HASHWHISPER_SECRET=secret))

    assert result.returncode != 0
    assert "security.W009" in result.stderr + result.stdout


def test_the_csrf_middleware_check_catches_a_missing_middleware() -> None:
    assert csrf_middleware_installed() == []
    without = [m for m in settings.MIDDLEWARE if "Csrf" not in m]
    with override_settings(MIDDLEWARE=without):
        assert [e.id for e in csrf_middleware_installed()] == ["hashwhisper.E001"]
