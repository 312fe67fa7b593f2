"""Production refuses to start on a missing secret, a malformed database URI
or a blob folder it cannot write, each with a message that says so."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hashwhisper import startup
from hashwhisper.settings import database_from_uri

REPO_ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHWHISPER_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        HASHWHISPER_SECRET="s" * 60,
        HASHWHISPER_ALLOWED_HOSTS="chat.example.org",
        HASHWHISPER_SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        HASHWHISPER_MEDIA_ROOT=str(tmp_path / "blobs"),
        HASHWHISPER_STATIC_ROOT=str(tmp_path / "static"),
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v != "<unset>"}


def load_settings(
    env: dict[str, str], *command: str
) -> subprocess.CompletedProcess[str]:
    args = list(command) or ["-c", "import hashwhisper.settings"]
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "HashWhisper refuses to start" in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_production_settings_load_when_everything_is_in_order(tmp_path: Path) -> None:
    result = load_settings(production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "blobs").is_dir(), "the blob folder is made if missing"


def test_missing_secret_is_refused(tmp_path: Path) -> None:
    env = production_env(tmp_path, HASHWHISPER_SECRET="<unset>")
    result = load_settings(env, "manage.py", "check")
    assert_refused(result, "set HASHWHISPER_SECRET")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("mysql://db.internal/chat", "must start with postgresql://"),
        ("postgresql://user:pw@db.internal:54x2/chat", "port that is not a number"),
        ("postgresql://user:pw@db.internal:5432", "names no database"),
        ("postgresql:///chat", "names no database host"),
        ("postgresql://db.internal/chat/extra", "more than one path segment"),
        ("postgresql://db.internal/ chat", "white space"),
    ],
)
def test_malformed_database_uri_is_explained(uri: str, message: str) -> None:
    assert message in startup.database_uri_problem(uri)


def test_malformed_database_uri_stops_the_process_without_echoing_it(
    tmp_path: Path,
) -> None:
    uri = "postgresql://hw:hunter2hunter2@db.internal:54x2/chat"
    result = load_settings(production_env(tmp_path, HASHWHISPER_DATABASE_URI=uri))
    assert_refused(result, "port that is not a number")
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    "scheme", ["postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"]
)
def test_postgres_uri_spellings_are_accepted(scheme: str) -> None:
    uri = f"{scheme}://hw:p%40ss@db.internal:5433/chat?sslmode=require"
    assert startup.database_uri_problem(uri) == ""
    settings = database_from_uri(uri)
    assert settings["ENGINE"] == "django.db.backends.postgresql"
    assert (settings["HOST"], settings["PORT"], settings["NAME"]) == (
        "db.internal",
        "5433",
        "chat",
    )
    assert settings["PASSWORD"] == "p@ss"
    assert settings["OPTIONS"]["sslmode"] == "require"


def test_blob_folder_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    # A regular file where a folder should be stops even root, unlike
    # permission bits.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    env = production_env(tmp_path, HASHWHISPER_MEDIA_ROOT=str(blocker / "blobs"))
    result = load_settings(env)
    assert_refused(result, "cannot be created")


def test_blob_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "blobs-file"
    blocker.write_text("not a folder")
    assert "is not a folder" in startup.blob_folder_problem(blocker)


def test_read_only_blob_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "blobs"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            # Root writes through permission bits; /proc is read-only for all.
            folder = Path("/proc/self")
        assert "is not writable" in startup.blob_folder_problem(folder)
    finally:
        (tmp_path / "blobs").chmod(0o700)


def test_debug_mode_skips_the_blob_folder_check(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    env = production_env(
        tmp_path, HASHWHISPER_DEBUG="1", HASHWHISPER_MEDIA_ROOT=str(blocker / "b")
    )
    assert load_settings(env).returncode == 0
