"""Groups in the admin: metadata only.

Operators see ids, dates, member counts, the key epoch and whether the
membership chain verifies. The salt, token hash and sealed name are neither
shown nor editable: they are of no use to an operator, and the token hash is
what a guessing attack on a group secret would start from.
"""

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from groups.models import Group
from integrity.services import chain_status


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "member_count", "epoch", "chain")
    fields = ("id", "created_at", "created_by", "member_count", "epoch", "chain")
    readonly_fields = fields
    ordering = ("-created_at",)
    search_fields = ("id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Group]:
        queryset = super().get_queryset(request)
        return queryset.annotate(members_total=Count("memberships"))

    @admin.display(description="members", ordering="members_total")
    def member_count(self, group: Group) -> int:
        return int(getattr(group, "members_total", group.memberships.count()))

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
