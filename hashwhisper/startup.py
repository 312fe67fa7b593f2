"""Start-up refusals: settings that would fail later, caught before serving.

The settings module calls these while it loads, so ``manage.py`` commands,
uvicorn workers and the test suite all stop at once with one clear line
instead of failing on the first request (or, worse, serving without blob
storage). Nothing here imports Django: settings are not ready yet.
"""

import sys
import tempfile
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

POSTGRES_SCHEMES = frozenset(
    {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}
)


class StartupRefused(Exception):
    """A setting that would make the server fail or misbehave."""


def refuse(problem: str) -> NoReturn:
    """Stop the process with ``problem`` on standard error and status 1."""
    sys.exit(f"HashWhisper refuses to start: {problem}")


def database_uri_problem(uri: str) -> str:
    """What is wrong with a ``HASHWHISPER_DATABASE_URI``, or ``""``.

    The message names the part that is wrong but never repeats the URI,
    which may carry a password.
    """
    if any(ch.isspace() for ch in uri):
        return "HASHWHISPER_DATABASE_URI contains white space."
    parts = urlsplit(uri)
    if parts.scheme not in POSTGRES_SCHEMES:
        return (
            "HASHWHISPER_DATABASE_URI must start with postgresql:// "
            f"(got scheme {parts.scheme!r})."
        )
    try:
        parts.port  # noqa: B018 - reading it validates it
    except ValueError:
        return "HASHWHISPER_DATABASE_URI has a port that is not a number 1-65535."
    if not parts.hostname:
        return "HASHWHISPER_DATABASE_URI names no database host."
    if not parts.path.lstrip("/"):
        return "HASHWHISPER_DATABASE_URI names no database (add /NAME after the host)."
    if "/" in parts.path.lstrip("/"):
        return "HASHWHISPER_DATABASE_URI has more than one path segment."
    return ""


def check_database_uri(uri: str) -> None:
    problem = database_uri_problem(uri)
    if problem:
        refuse(problem)


def blob_folder_problem(folder: Path) -> str:
    """Why blobs could not be written under ``folder``, or ``""``.

    The folder is created if missing, then a file is really written in it:
    permission bits say nothing about read-only mounts, full disks or a
    process running as root.
    """
    if folder.exists() and not folder.is_dir():
        return f"HASHWHISPER_MEDIA_ROOT={folder} is not a folder."
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        return (
            f"the blob folder HASHWHISPER_MEDIA_ROOT={folder} cannot be created "
            f"({exc.strerror or exc})."
        )
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        return (
            f"the blob folder HASHWHISPER_MEDIA_ROOT={folder} is not writable "
            f"({exc.strerror or exc})."
        )
    return ""


def check_blob_folder(folder: Path) -> None:
    problem = blob_folder_problem(folder)
    if problem:
        refuse(problem)
