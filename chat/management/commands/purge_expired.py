"""``manage.py purge_expired``: a thin wrapper around chat.retention."""

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from chat import retention

LABELS = {
    "messages": "expired messages",
    "blobs": "expired or orphaned blobs",
    "files": "blob files without a row",
    "events": "stored stream events",
    "sessions": "records of ended sessions",
}


def positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number, got {raw!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class Command(BaseCommand):
    help = (
        "Delete expired messages, shred expired and orphaned blob files and "
        "drop the stored event backlog they appear in. Safe to run while the "
        "chat is in use and while another purge runs."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what has expired and change nothing.",
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=retention.DEFAULT_BATCH_SIZE,
            help="Rows deleted per transaction (default %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = bool(options["dry_run"])
        try:
            counts = retention.purge_expired(
                batch_size=options["batch_size"], dry_run=dry_run
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "would remove" if dry_run else "removed"
        for name, value in counts.as_dict().items():
            self.stdout.write(f"{verb} {value} {LABELS.get(name, name)}")
