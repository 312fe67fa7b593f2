"""Groups in the admin: metadata only.

Operators see ids, dates, member and message counts, bytes stored, the
retention, the key epoch and whether the membership chain verifies, and may
delete a group, which shreds its files (chat.retention.delete_group). The
salt, token hash and sealed name are neither shown nor editable: they are
of no use to an operator, and the token hash is what a guessing attack on a
group secret would start from.
"""

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from chat import retention
from groups.models import Group
from hashwhisper import holdings
from integrity.services import chain_status


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "member_count",
        "message_count",
        "bytes_stored",
        "retention",
        "epoch",
        "chain",
    )
    fields = (
        "id",
        "created_at",
        "created_by",
        "member_count",
        "message_count",
        "bytes_stored",
        "retention",
        "epoch",
        "chain",
    )
    readonly_fields = fields
    ordering = ("-created_at",)
    search_fields = ("id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Group]:
        queryset = super().get_queryset(request)
        queryset = queryset.annotate(members_total=Count("memberships"))
        return holdings.with_group_totals(queryset)

    @admin.display(description="members", ordering="members_total")
    def member_count(self, group: Group) -> int:
        return int(getattr(group, "members_total", group.memberships.count()))

    @admin.display(description="messages", ordering="message_total")
    def message_count(self, group: Group) -> int:
        return int(getattr(group, "message_total", 0))

    @admin.display(description="bytes stored")
    def bytes_stored(self, group: Group) -> int:
        # Message ciphertext plus blob files, as the owner's data page adds.
        return int(getattr(group, "message_bytes", 0)) + int(
            getattr(group, "blob_bytes", 0)
        )

    @admin.display(description="retention")
    def retention(self, group: Group) -> str:
        return holdings.group_retention_text(group)

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[str], dict[str, int], set[str], list[str]]:
        # Django would list every related row (millions of messages) and
        # ask for delete rights on each related model, which the metadata
        # admins refuse on purpose. Operators confirm counts instead.
        groups = holdings.with_group_totals(
            Group.objects.filter(pk__in=[g.pk for g in objs])
        )
        summary = [
            f"group {g.pk}: {getattr(g, 'member_total', 0)} memberships, "
            f"{getattr(g, 'message_total', 0)} messages and "
            f"{getattr(g, 'blob_total', 0)} files (shredded)"
            for g in groups
        ]
        return summary, {"groups": len(summary)}, set(), []

    def delete_model(self, request: HttpRequest, obj: Group) -> None:
        retention.delete_group(obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Group]) -> None:
        for group_id in queryset.values_list("pk", flat=True):
            retention.delete_group(group_id)

    @admin.display(description="chain")
    def chain(self, group: Group) -> str:
        return chain_status(group.pk)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Groups are made in a browser, which alone holds the secret.
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Group | None = None
    ) -> bool:
        return False
