"""Operators see blob metadata only: never a file, a path or its bytes."""

from django.contrib import admin
from django.http import HttpRequest

from media_vault.models import Blob


@admin.register(Blob)
class BlobAdmin(admin.ModelAdmin):
    list_display = ("id", "group", "uploader", "mime", "size", "state", "expires_at")
    list_filter = ("state", "mime")
    fields = ("id", "group", "uploader", "message", "mime", "size", "state")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Blob | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: Blob | None = None
    ) -> bool:
        # Operators delete whole groups only; a blob goes with its message,
        # its group or its expiry.
        return False
