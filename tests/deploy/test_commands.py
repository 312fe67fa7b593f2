"""Every management command of the project refuses bad arguments clearly:
a message on standard error, no traceback, a non-zero exit status."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import find_commands

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT_APPS = ("accounts", "groups", "chat", "media_vault", "integrity")


def project_commands() -> list[str]:
    found = []
    for app in PROJECT_APPS:
        found += find_commands(str(REPO_ROOT / app / "management"))
    return sorted(found)


def test_the_purge_command_is_among_them() -> None:
    assert "purge_expired" in project_commands()


@pytest.mark.parametrize("command", project_commands())
def test_unknown_option_is_refused_with_a_message(command: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHWHISPER_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        HASHWHISPER_DEBUG="1",
        HASHWHISPER_SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        HASHWHISPER_MEDIA_ROOT=str(tmp_path / "blobs"),
    )

    result = subprocess.run(
        [sys.executable, "manage.py", command, "--no-such-option"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "unrecognized arguments: --no-such-option" in result.stderr
    assert "Traceback" not in result.stderr
