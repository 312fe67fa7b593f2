"""purge_expired removes expired rows and files, and nothing else."""

import io
import logging
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.signals import post_delete, pre_delete
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_eventstream.models import Event as StoredEvent

from accounts.models import User
from chat import retention
from chat.models import Message
from groups.models import Group
from media_vault.models import Blob
from media_vault.signals import expire_blobs_of_deleted_message
from tests.conftest import SecureClient, make_user, verified_client
from tests.retention.conftest import age_file, make_blob, make_messages

REPO_ROOT = Path(__file__).resolve().parents[2]


def new_group(owner: User, group_id: str) -> Group:
    return Group.objects.create(
        id=group_id,
        salt=bytes(16),
        iterations=600_000,
        token_hash=bytes(32),
        name_ciphertext=b"n",
        name_nonce=bytes(12),
        name_tag=bytes(16),
        created_by=owner,
    )


def one_message(group: Group, sender: User, *, expired: bool) -> Message:
    make_messages(group, sender, 1, expired=expired)
    return Message.objects.filter(group=group).order_by("-id")[0]


def run_purge(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("purge_expired", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.mark.django_db(transaction=True)
def test_purge_removes_expired_rows_and_files_and_spares_the_rest(
    blob_root: Path,
) -> None:
    alice, _ = make_user("alice")
    ours, theirs = new_group(alice, "A" * 22), new_group(alice, "B" * 22)
    old = one_message(ours, alice, expired=True)
    old_blob, old_file = make_blob(ours, alice, message=old)
    fresh = one_message(ours, alice, expired=False)
    fresh_blob, fresh_file = make_blob(ours, alice, message=fresh)
    other = one_message(theirs, alice, expired=False)
    other_blob, other_file = make_blob(theirs, alice, message=other)

    lines = run_purge()

    assert lines == [
        "removed 1 expired messages",
        "removed 1 expired or orphaned blobs",
        "removed 0 blob files without a row",
        "removed 0 stored stream events",
        "removed 0 records of ended sessions",
    ]
    assert not Message.objects.filter(pk=old.pk).exists()
    assert not Blob.objects.filter(pk=old_blob.pk).exists()
    assert not old_file.exists()
    assert set(Message.objects.values_list("pk", flat=True)) == {fresh.pk, other.pk}
    assert set(Blob.objects.values_list("pk", flat=True)) == {
        fresh_blob.pk,
        other_blob.pk,
    }
    assert fresh_file.exists() and other_file.exists()
    assert run_purge()[:2] == [
        "removed 0 expired messages",
        "removed 0 expired or orphaned blobs",
    ]


@pytest.mark.django_db(transaction=True)
def test_expired_blob_cannot_be_downloaded_before_purge(blob_root: Path) -> None:
    alice, device = make_user("alice")
    group = new_group(alice, "C" * 22)
    group.memberships.create(user=alice, role="owner")
    message = one_message(group, alice, expired=False)
    blob, path = make_blob(group, alice, message=message)
    client: SecureClient = verified_client(alice, device)
    url = f"/api/groups/{group.pk}/blobs/{blob.pk}"
    assert client.get(url).status_code == 200

    Blob.objects.filter(pk=blob.pk).update(expires_at=timezone.now())

    assert client.get(url).status_code == 404
    assert path.exists(), "no purge has run yet"


@pytest.mark.django_db(transaction=True)
def test_shredding_overwrites_the_file_before_unlinking_it(
    blob_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, _ = make_user("alice")
    group = new_group(alice, "D" * 22)
    message = one_message(group, alice, expired=True)
    _, path = make_blob(group, alice, message=message, size=200_000)
    original = path.read_bytes()
    seen: dict[Path, bytes] = {}
    real_unlink = Path.unlink

    def observing_unlink(self: Path, missing_ok: bool = False) -> None:
        # The moment between overwrite and unlink: read what is on disk.
        if self.exists():
            seen[self] = self.read_bytes()
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", observing_unlink)

    run_purge()

    assert path in seen, "the file was not unlinked through Path.unlink"
    assert len(seen[path]) == len(original)
    assert seen[path] != original
    # Not a single 4 KiB block of the original survives the overwrite.
    blocks = {original[i : i + 4096] for i in range(0, len(original), 4096)}
    assert not any(block in seen[path] for block in blocks)
    assert not path.exists()


@pytest.mark.django_db(transaction=True)
def test_rowless_files_and_fileless_rows_are_cleaned_without_error(
    blob_root: Path,
) -> None:
    alice, _ = make_user("alice")
    group = new_group(alice, "E" * 22)
    message = one_message(group, alice, expired=True)
    gone_blob, gone_file = make_blob(group, alice, message=message)
    gone_file.unlink()
    stray_blob, stray_file = make_blob(group, alice, message=None)
    Blob.objects.filter(pk=stray_blob.pk).delete()
    stray_file.write_bytes(b"left behind by a crash")
    age_file(stray_file, 2 * 3600)
    young_blob, young_file = make_blob(group, alice, message=None)
    Blob.objects.filter(pk=young_blob.pk).delete()
    young_file.write_bytes(b"an upload renamed into place a moment ago")
    foreign = blob_root / "operator-notes.txt"
    foreign.write_text("not a blob file")
    age_file(foreign, 2 * 3600)

    lines = run_purge()

    assert lines == [
        "removed 1 expired messages",
        "removed 1 expired or orphaned blobs",
        "removed 1 blob files without a row",
        "removed 0 stored stream events",
        "removed 0 records of ended sessions",
    ]
    assert not Blob.objects.filter(pk=gone_blob.pk).exists()
    assert not stray_file.exists()
    assert young_file.exists(), "a young file may still be getting its row"
    assert foreign.exists(), "only names the blob store makes are touched"


@pytest.mark.django_db(transaction=True)
def test_orphaned_upload_is_purged_after_its_hour(blob_root: Path) -> None:
    alice, _ = make_user("alice")
    group = new_group(alice, "F" * 22)
    orphan, path = make_blob(
        group, alice, expires_at=timezone.now() - timedelta(seconds=1)
    )
    waiting, waiting_path = make_blob(
        group, alice, expires_at=timezone.now() + timedelta(minutes=30)
    )

    counts = retention.purge_expired()

    assert counts.blobs == 1
    assert not Blob.objects.filter(pk=orphan.pk).exists() and not path.exists()
    assert Blob.objects.filter(pk=waiting.pk).exists() and waiting_path.exists()


@pytest.mark.django_db
def test_dry_run_counts_and_changes_nothing(blob_root: Path) -> None:
    alice, _ = make_user("alice")
    group = new_group(alice, "G" * 22)
    make_messages(group, alice, 3, expired=True)
    make_messages(group, alice, 2, expired=False)
    message = Message.objects.filter(expires_at__lte=timezone.now()).first()
    _, path = make_blob(group, alice, message=message)

    lines = run_purge("--dry-run")

    assert lines == [
        "would remove 3 expired messages",
        "would remove 1 expired or orphaned blobs",
        "would remove 0 blob files without a row",
        "would remove 0 stored stream events",
        "would remove 0 records of ended sessions",
    ]
    assert Message.objects.count() == 5
    assert Blob.objects.count() == 1 and path.exists()


@pytest.mark.django_db
def test_purge_works_in_batches_of_the_given_size(blob_root: Path) -> None:
    alice, _ = make_user("alice")
    group = new_group(alice, "H" * 22)
    make_messages(group, alice, 5, expired=True)
    make_messages(group, alice, 1, expired=False)

    with CaptureQueriesContext(connection) as queries:
        counts = retention.purge_expired(batch_size=2)

    deletes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('DELETE FROM "chat_message"')
    ]
    assert counts.messages == 5
    assert len(deletes) == 3, "five rows in batches of two take three deletes"
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_purge_logs_counts_only(
    blob_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alice, _ = make_user("alice")
    group = new_group(alice, "J" * 22)
    make_messages(group, alice, 2, expired=True)
    caplog.set_level(logging.DEBUG, logger="hashwhisper")

    run_purge()

    purge_lines = [
        r.getMessage() for r in caplog.records if r.name == "hashwhisper.retention"
    ]
    assert purge_lines == [
        "purge finished messages=2 blobs=0 files=0 events=0 sessions=0"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "must be at least 1"),
        (["--batch-size", "many"], "must be a whole number"),
        (["--no-such-option"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_print_a_clear_error_and_exit_non_zero(
    tmp_path: Path, args: list[str], message: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHWHISPER_")}
    env.update(
        HASHWHISPER_DEBUG="1",
        HASHWHISPER_SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        HASHWHISPER_MEDIA_ROOT=str(tmp_path / "blobs"),
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)

    result = subprocess.run(
        [sys.executable, "manage.py", "purge_expired", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def postgres_missing() -> str:
    if connection.vendor != "postgresql":
        return "needs PostgreSQL: set HASHWHISPER_DATABASE_URI (CI does)"
    return ""


@pytest.mark.django_db(transaction=True)
def test_two_purges_at_once_finish_without_double_counting(blob_root: Path) -> None:
    if postgres_missing():
        pytest.skip(postgres_missing())
    alice, _ = make_user("alice")
    group = new_group(alice, "K" * 22)
    make_messages(group, alice, 1500, expired=True)
    make_messages(group, alice, 5, expired=False)
    blob_files = [
        make_blob(group, alice, expires_at=timezone.now() - timedelta(seconds=1))[1]
        for _ in range(60)
    ]
    results: list[retention.PurgeCounts] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def purge() -> None:
        try:
            start.wait()
            results.append(retention.purge_expired(batch_size=7))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=purge) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert len(results) == 2
    assert sum(r.messages for r in results) == 1500
    assert sum(r.blobs for r in results) == 60
    assert all(r.messages > 0 for r in results), "both purges took part"
    assert Message.objects.count() == 5
    assert not any(path.exists() for path in blob_files)


def test_message_purge_knows_every_dependent_of_a_message() -> None:
    """The purge deletes message rows without loading them, doing by hand
    what the one known dependent (media_vault's blob expiry) would do. A new
    relation or delete receiver must be handled there first."""
    relations = {
        (rel.related_model._meta.label, rel.field.name)
        for rel in Message._meta.related_objects
    }
    assert relations == {("media_vault.Blob", "message")}
    pre_delete.disconnect(expire_blobs_of_deleted_message, sender=Message)
    try:
        assert not pre_delete.has_listeners(Message)
        assert not post_delete.has_listeners(Message)
    finally:
        pre_delete.connect(expire_blobs_of_deleted_message, sender=Message)


@pytest.mark.django_db
def test_purged_message_leaves_its_blob_expired_not_attached(blob_root: Path) -> None:
    alice, _ = make_user("alice")
    group = new_group(alice, "L" * 22)
    message = one_message(group, alice, expired=True)
    # A blob that outlives its message (say, expiry moved by hand) must not
    # point at a deleted row, and must go with the next purge.
    blob, _ = make_blob(
        group, alice, message=message, expires_at=timezone.now() + timedelta(days=1)
    )

    retention.delete_message_batch(Message.objects.filter(pk=message.pk), 10)

    blob.refresh_from_db()
    assert blob.message_id is None
    assert blob.expires_at <= timezone.now()


@pytest.mark.django_db
def test_stored_stream_events_older_than_the_retention_are_purged(
    blob_root: Path,
) -> None:
    old = StoredEvent.objects.create(channel="user-1", type="message", data="{}")
    fresh = StoredEvent.objects.create(channel="user-1", type="message", data="{}")
    StoredEvent.objects.filter(pk=old.pk).update(
        created=timezone.now() - timedelta(days=8)
    )

    assert retention.purge_expired(dry_run=True).events == 1
    assert retention.purge_expired().events == 1

    remaining = set(StoredEvent.objects.values_list("pk", flat=True))
    assert old.pk not in remaining and fresh.pk in remaining
