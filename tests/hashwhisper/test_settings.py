"""Project settings: start-up checks, database URIs, migrations, response
headers and the log filter that keeps request paths out of the logs."""

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from hashwhisper.logging import RedactRequestFilter
from hashwhisper.settings import database_from_uri
from tests.conftest import SecureClient, verified_client
from tests.hashwhisper.logs import logged_text, project_logs
from tests.hashwhisper.testing import plain_static_storages

REPO = Path(settings.BASE_DIR)
SECRET = "SECRETSECRET"


@pytest.fixture(autouse=True)
def page_settings(settings: Any) -> None:
    # Pages render without collectstatic.
    settings.STORAGES = plain_static_storages()


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment with no HASHWHISPER_* variable but those given."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(tmp_path),
        # Keeps a development start from touching the repository's var/.
        "HASHWHISPER_SQLITE_PATH": str(tmp_path / "db.sqlite3"),
    }
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


IMPORT_SETTINGS = [
    "-c",
    "import os, django; "
    "os.environ['DJANGO_SETTINGS_MODULE'] = 'hashwhisper.settings'; "
    "django.setup()",
]


# Start-up --------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [IMPORT_SETTINGS, ["manage.py", "check"]], ids=["import", "check"]
)
def test_production_without_secret_refuses_to_start_with_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    result = run(command, clean_env(tmp_path))

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "HASHWHISPER_SECRET" in lines[0]


def test_production_with_an_empty_secret_refuses_to_start(tmp_path: Path) -> None:
    result = run(IMPORT_SETTINGS, clean_env(tmp_path, HASHWHISPER_SECRET=""))

    assert result.returncode != 0
    assert "HASHWHISPER_SECRET" in result.stderr


def test_production_with_a_secret_starts(tmp_path: Path) -> None:
    env = clean_env(tmp_path, HASHWHISPER_SECRET="s" * 50)

    result = run(["manage.py", "check"], env)

    assert result.returncode == 0, result.stderr


def test_development_starts_without_a_secret(tmp_path: Path) -> None:
    result = run(["manage.py", "check"], clean_env(tmp_path, HASHWHISPER_DEBUG="1"))

    assert result.returncode == 0, result.stderr
    assert "HASHWHISPER_SECRET" not in result.stderr


def test_migrations_match_the_models(tmp_path: Path) -> None:
    env = clean_env(tmp_path, HASHWHISPER_DEBUG="1")

    result = run(["manage.py", "makemigrations", "--check", "--dry-run"], env)

    assert result.returncode == 0, result.stdout + result.stderr


# Database URIs ---------------------------------------------------------------


@pytest.mark.parametrize(
    "scheme", ["postgresql", "postgresql+psycopg", "postgresql+psycopg2"]
)
def test_database_uri_is_read_in_every_spelling(scheme: str) -> None:
    uri = f"{scheme}://hw%2Duser:p%40ss%2Fw%3Ard%25@db.example:6543/hash%2Dwhisper"

    config = database_from_uri(uri)

    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["USER"] == "hw-user"
    assert config["PASSWORD"] == "p@ss/w:rd%"
    assert config["HOST"] == "db.example"
    assert config["PORT"] == "6543"
    assert config["NAME"] == "hash-whisper"


def test_database_uri_without_port_or_password_leaves_them_empty() -> None:
    config = database_from_uri("postgresql://postgres@127.0.0.1/test")

    assert config["USER"] == "postgres"
    assert config["PASSWORD"] == ""
    assert config["PORT"] == ""
    assert config["NAME"] == "test"


def test_database_uri_query_becomes_options() -> None:
    config = database_from_uri("postgresql://u:p@h:5432/n?sslmode=require")

    assert config["OPTIONS"]["sslmode"] == "require"


@pytest.mark.parametrize(
    "uri",
    ["mysql://u:p@h:3306/n", "sqlite:///tmp/db.sqlite3", "db.example:5432/n"],
)
def test_database_uri_of_another_kind_is_refused(uri: str) -> None:
    with pytest.raises(SystemExit) as stop:
        database_from_uri(uri)

    assert "HASHWHISPER_DATABASE_URI" in str(stop.value.code)


# Response headers ------------------------------------------------------------


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


@pytest.fixture
def page(db: None, client: SecureClient) -> Any:
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    return response


def test_csp_allows_only_this_origin(page: Any) -> None:
    header = page["Content-Security-Policy"]
    directives = csp_directives(header)

    # Everything is refused unless a directive names this origin for it.
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in header
    assert "'unsafe-eval'" not in header


def test_hsts_lasts_a_year_with_subdomains_and_preload(page: Any) -> None:
    parts = {p.strip() for p in page["Strict-Transport-Security"].split(";")}

    assert parts == {"max-age=31536000", "includeSubDomains", "preload"}


def test_content_type_sniffing_is_off(page: Any) -> None:
    assert page["X-Content-Type-Options"] == "nosniff"


def test_referrer_policy_is_no_referrer(page: Any) -> None:
    assert page["Referrer-Policy"] == "no-referrer"


def test_framing_is_denied(page: Any) -> None:
    assert page["X-Frame-Options"] == "DENY"


def test_permissions_policy_allows_only_camera_and_microphone(page: Any) -> None:
    rules = dict(
        rule.strip().split("=", 1) for rule in page["Permissions-Policy"].split(",")
    )

    assert rules.pop("camera") == "(self)"
    assert rules.pop("microphone") == "(self)"
    assert rules
    assert set(rules.values()) == {"()"}


def test_opener_policy_is_same_origin(page: Any) -> None:
    assert page["Cross-Origin-Opener-Policy"] == "same-origin"


def test_csrf_cookie_is_host_bound_secure_and_strict(page: Any) -> None:
    cookie = page.cookies[settings.CSRF_COOKIE_NAME]

    assert settings.CSRF_COOKIE_NAME.startswith("__Host-")
    assert cookie["secure"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https() -> None:
    response = Client().get("/accounts/login/")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"


@pytest.mark.django_db
def test_api_refusal_carries_the_transport_headers(client: SecureClient) -> None:
    response = client.get("/api/groups/")

    assert response.status_code == 401
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "no-referrer"
    assert "max-age=31536000" in response["Strict-Transport-Security"]


@pytest.mark.parametrize("path", ["/api/groups/", "/chat/"])
@pytest.mark.django_db
def test_refusal_before_login_carries_csp_and_frame_headers(
    client: SecureClient, path: str
) -> None:
    response = client.get(path)

    assert response.status_code in {302, 401}
    assert "default-src 'none'" in response.get("Content-Security-Policy", "")
    assert response.get("X-Frame-Options") == "DENY"


# Keeping request paths out of the logs ---------------------------------------


@pytest.fixture
def console_output() -> Iterator[io.StringIO]:
    """What the configured console handlers write, with their filters."""
    buffer = io.StringIO()
    handlers = {
        handler
        for name in ("django", "hashwhisper", "")
        for handler in logging.getLogger(name).handlers
        if isinstance(handler, logging.StreamHandler)
        and any(isinstance(f, RedactRequestFilter) for f in handler.filters)
    }
    assert handlers, "no console handler carries the redaction filter"
    previous = {handler: handler.setStream(buffer) for handler in handlers}
    try:
        yield buffer
    finally:
        for handler, stream in previous.items():
            handler.setStream(stream)


@pytest.fixture
def alice_client(alice: tuple[User, Any]) -> SecureClient:
    return verified_client(*alice)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/chat/%23v1.AAAAAAAAAAAAAAAAAAAAAA.{SECRET}", 404),
        (f"/api/groups/%23v1.x.{SECRET}/messages", 404),
        (f"/g/join%23v1.x.{SECRET}", 200),
    ],
    ids=["page 404", "api 404", "join page"],
)
def test_secret_in_a_mangled_invitation_path_is_not_logged(
    alice_client: SecureClient,
    caplog: pytest.LogCaptureFixture,
    console_output: io.StringIO,
    path: str,
    status: int,
) -> None:
    with project_logs(caplog):
        response = alice_client.get(path)

    assert response.status_code == status
    assert SECRET not in response.content.decode()
    assert SECRET not in logged_text(caplog)
    assert SECRET not in caplog.text
    assert SECRET not in console_output.getvalue()
    if status >= 400:
        assert str(status) in console_output.getvalue()


@pytest.mark.parametrize(
    "name", ["django.request", "django.security.csrf", "django.server"]
)
def test_redact_filter_rewrites_path_bearing_records(name: str) -> None:
    record = logging.LogRecord(
        name, logging.WARNING, __file__, 1, "Not Found: %s", (f"/g/{SECRET}",), None
    )
    # Django's request loggers pass these two through ``extra``.
    record.__dict__.update(status_code=404, request=object())

    kept = RedactRequestFilter().filter(record)

    assert kept is True
    assert SECRET not in record.getMessage()
    assert "404" in record.getMessage()
    assert record.__dict__["request"] is None


def test_redact_filter_marks_a_missing_status() -> None:
    record = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "%s", (SECRET,), None
    )

    assert RedactRequestFilter().filter(record) is True
    assert SECRET not in record.getMessage()


def test_redact_filter_leaves_project_records_alone() -> None:
    record = logging.LogRecord(
        "hashwhisper.chat", logging.INFO, __file__, 1, "stored id=%s", (7,), None
    )

    assert RedactRequestFilter().filter(record) is True
    assert record.getMessage() == "stored id=7"
