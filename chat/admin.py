"""Messages in the admin: ids, sizes and times, never the sealed content.

An operator can see that a message exists, who sent it to which group, how
large it is and when it expires. Ciphertext, nonce and tag are not fields of
this admin at all, and nothing can be added, edited or deleted here: content
leaves by expiry, by its sender, or with its group.
"""

from django.contrib import admin
from django.db.models import QuerySet
from django.db.models.functions import Length
from django.http import HttpRequest

from chat.models import Message


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "group",
        "sender",
        "epoch",
        "size",
        "created_at",
        "expires_at",
    )
    fields = list_display
    readonly_fields = fields
    list_select_related = ("sender",)
    # Counting a table of millions of rows on every page load is wasted work.
    show_full_result_count = False
    search_fields = ("=group__id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        queryset = super().get_queryset(request).defer("ciphertext", "nonce", "tag")
        return queryset.annotate(stored_bytes=Length("ciphertext"))

    @admin.display(description="bytes", ordering="stored_bytes")
    def size(self, message: Message) -> int:
        return int(getattr(message, "stored_bytes", 0))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Message | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: Message | None = None
    ) -> bool:
        return False
