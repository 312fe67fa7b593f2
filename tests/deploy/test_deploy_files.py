"""The files under deploy/ do what docs/deploy.md says: the exact commands of
the systemd units and the cron line run, the proxies match the app."""

import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
DOCS = REPO_ROOT / "docs" / "deploy.md"
INSTALL_DIR = "/srv/hashwhisper"
ENV_FILE = "/etc/hashwhisper/hashwhisper.env"


def unit(name: str) -> dict[str, list[str]]:
    """The ``Key=value`` settings of a systemd unit file, by key."""
    values: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def cron_line() -> str:
    lines = (DEPLOY / "cron" / "hashwhisper-purge").read_text().splitlines()
    entries = [line for line in lines if line.strip() and not line.startswith("#")]
    assert len(entries) == 1
    return entries[0]


def here(text: str) -> str:
    """A deployed path or command, pointed at this checkout."""
    return text.replace(INSTALL_DIR, str(REPO_ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A production configuration file, as the example describes, whose
    database and folders live in a folder of this module's own."""
    tmp_path = tmp_path_factory.mktemp("site")
    env_file = tmp_path / "hashwhisper.env"
    env_file.write_text(
        "\n".join(
            [
                "HASHWHISPER_SECRET=" + "t" * 60,
                "HASHWHISPER_ALLOWED_HOSTS=127.0.0.1",
                f"HASHWHISPER_SQLITE_PATH={tmp_path / 'db.sqlite3'}",
                f"HASHWHISPER_MEDIA_ROOT={tmp_path / 'blobs'}",
                f"HASHWHISPER_STATIC_ROOT={tmp_path / 'static'}",
                "HASHWHISPER_RETENTION_DAYS=7",
                "",
            ]
        )
    )
    env = base_env(env_file)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    return {"env_file": env_file, "db": tmp_path / "db.sqlite3"}


def base_env(env_file: Path) -> dict[str, str]:
    """The process environment plus the file, read as systemd reads it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHWHISPER_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    for line in env_file.read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    return env


SEED = """
from datetime import timedelta
from django.utils import timezone
from accounts.models import User
from chat.models import Message
from groups.models import Group
user, _ = User.objects.get_or_create(username="seed")
group, _ = Group.objects.get_or_create(
    id="S" * 22,
    defaults=dict(salt=bytes(16), iterations=600000, token_hash=bytes(32),
                  name_ciphertext=b"n", name_nonce=bytes(12), name_tag=bytes(16)),
)
import secrets
Message.objects.create(group=group, sender=user, epoch=1, ciphertext=b"c",
                       nonce=secrets.token_bytes(12), tag=bytes(16),
                       expires_at=timezone.now() - timedelta(minutes=1))
"""


def seed_expired_message(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SEED],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        timeout=120,
    )


def message_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM chat_message").fetchone()[0])


def test_timer_starts_the_purge_service_hourly() -> None:
    timer = unit("hashwhisper-purge.timer")
    assert timer["OnCalendar"] == ["hourly"]
    assert timer["Persistent"] == ["true"]
    assert (DEPLOY / "systemd" / "hashwhisper-purge.service").exists()
    assert "hashwhisper-purge.timer" in DOCS.read_text()


def test_purge_service_and_cron_line_run_their_exact_commands(
    site: dict[str, Path],
) -> None:
    service = unit("hashwhisper-purge.service")
    assert service["EnvironmentFile"] == [ENV_FILE]
    assert service["WorkingDirectory"] == [INSTALL_DIR]
    env = base_env(site["env_file"])
    # A checkout's interpreter stands in for /srv/hashwhisper/.venv.
    command = shlex.split(here(service["ExecStart"][0]))
    assert Path(command[0]).name == "python"
    command[0] = sys.executable
    seed_expired_message(env)

    ran = subprocess.run(
        command,
        cwd=here(service["WorkingDirectory"][0]),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert ran.returncode == 0, ran.stderr
    assert "removed 1 expired messages" in ran.stdout
    assert message_count(site["db"]) == 0

    seed_expired_message(env)
    line = cron_line()
    fields = line.split(None, 6)
    assert fields[:5] == ["17", "*", "*", "*", "*"] and fields[5] == "hashwhisper"
    cron_command = here(fields[6]).replace(ENV_FILE, str(site["env_file"]))
    cron_command = cron_command.replace(".venv/bin/python", sys.executable)
    clean = {k: v for k, v in env.items() if not k.startswith("HASHWHISPER_")}

    ran = subprocess.run(
        ["/bin/sh", "-c", cron_command],
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert ran.returncode == 0, ran.stderr
    assert message_count(site["db"]) == 0


def test_docs_quote_the_cron_line_and_name_every_deploy_file() -> None:
    docs = DOCS.read_text()
    assert cron_line() in docs
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            assert path.name in docs, path


@pytest.fixture
def app_server(site: dict[str, Path]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    service = unit("hashwhisper.service")
    command = shlex.split(here(service["ExecStart"][0]))
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    # Two workers are enough to show several processes serving.
    command[command.index("--workers") + 1] = "2"
    command[0] = str(Path(sys.executable).with_name("uvicorn"))
    process = subprocess.Popen(
        command,
        cwd=here(service["WorkingDirectory"][0]),
        env=base_env(site["env_file"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def fetch(
    url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}


def test_app_unit_serves_behind_the_proxy_with_several_workers(
    app_server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, process = app_server
    deadline = time.monotonic() + 60
    while True:
        try:
            status, headers = fetch(
                f"{base}/api/groups/", {"X-Forwarded-Proto": "https"}
            )
            break
        except OSError:
            assert process.poll() is None, "uvicorn exited"
            assert time.monotonic() < deadline, "uvicorn did not answer"
            time.sleep(0.3)

    # Over "HTTPS" as the proxy reports it, the API answers for itself.
    assert status == 401
    assert headers["strict-transport-security"].startswith("max-age=31536000")
    # Plain HTTP, without the proxy's word, is sent to HTTPS.
    status, headers = fetch(f"{base}/api/groups/")
    assert status == 301
    assert headers["location"].startswith("https://")
    workers = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(process.pid)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert len(workers.stdout.split()) >= 2


def test_proxy_configurations_match_the_app_unit() -> None:
    command = unit("hashwhisper.service")["ExecStart"][0]
    port = re.search(r"--port (\d+)", command)
    assert port is not None
    assert "--no-access-log" in command and "--proxy-headers" in command
    nginx = (DEPLOY / "tls" / "nginx-hashwhisper.conf").read_text()
    caddy = (DEPLOY / "tls" / "Caddyfile").read_text()

    assert f"server 127.0.0.1:{port.group(1)};" in nginx
    assert f"reverse_proxy 127.0.0.1:{port.group(1)}" in caddy
    events = re.search(r"location /events/ \{(.*?)\}", nginx, re.S)
    assert events is not None and "proxy_buffering off;" in events.group(1)
    assert "flush_interval -1" in caddy
    assert "http2 on;" in nginx
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in nginx
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in nginx
    access = re.findall(r"^\s*access_log\s+([^;]+);", nginx, re.M)
    assert access and set(access) == {"off"}
    assert re.search(r"^\s*log\b", caddy, re.M) is None
    body = re.search(r"client_max_body_size (\d+)m;", nginx)
    assert body is not None and int(body.group(1)) * 2**20 > 25 * 2**20
