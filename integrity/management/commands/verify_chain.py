"""manage.py verify_chain [--group ID]: recompute membership chains.

Prints one line per broken link (group, sequence number, what differs) and
exits with status 1 if any link is broken, so a scheduler can alert on it.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from groups.models import GROUP_ID_PATTERN, Group
from integrity.services import verify_groups


class Command(BaseCommand):
    help = "Recompute every group's membership chain and report broken links."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--group", help="check only the group with this id")

    def handle(self, *args: Any, **options: Any) -> None:
        group_id = options["group"]
        if group_id is not None and not (
            GROUP_ID_PATTERN.fullmatch(group_id)
            and Group.objects.filter(pk=group_id).exists()
        ):
            raise CommandError(f"No group with id {group_id!r}.")
        groups = broken = 0
        for report in verify_groups(group_id):
            groups += 1
            for item in report.breaks:
                broken += 1
                self.stdout.write(
                    f"group {report.group_id} seq {item.seq}: {item.problem}"
                )
        if broken:
            raise CommandError(f"{broken} broken link(s) in {groups} group(s).")
        self.stdout.write(f"All chains verify ({groups} group(s)).")
