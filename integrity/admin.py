"""Chain events in the admin, read-only: an operator may look, never edit.

Editing a row would break the chain for every member's browser; the admin
offers no way to, and shows each event's hash as hex so it can be compared
with what ``manage.py verify_chain`` prints.
"""

from django.contrib import admin
from django.http import HttpRequest

from integrity.models import ChainEvent


@admin.register(ChainEvent)
class ChainEventAdmin(admin.ModelAdmin):
    list_display = ("group", "seq", "kind", "actor", "subject", "epoch", "at")
    list_filter = ("kind",)
    search_fields = ("group__id",)
    fields = (
        "group",
        "seq",
        "kind",
        "actor",
        "subject",
        "epoch",
        "at",
        "prev_hash_hex",
        "hash_hex",
    )
    readonly_fields = fields
    ordering = ("group", "seq")

    @admin.display(description="prev hash")
    def prev_hash_hex(self, event: ChainEvent) -> str:
        return bytes(event.prev_hash).hex()

    @admin.display(description="hash")
    def hash_hex(self, event: ChainEvent) -> str:
        return bytes(event.hash).hex()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: ChainEvent | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: ChainEvent | None = None
    ) -> bool:
        return False
