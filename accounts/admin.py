"""Accounts in the admin: metadata only, and a lock an operator can turn.

Operators see when someone joined and last signed in, whether a second
factor is confirmed and whether the account is locked. They can lock and
unlock an account and nothing else: no password, no TOTP key, no recovery
code is shown or editable here, and accounts are neither added nor edited.
The figures come from hashwhisper.holdings, the same queries that fill each
user's own "what the server knows about me" page.
"""

import contextlib
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.auth.models import Group as PermissionGroup
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import operator
from accounts.models import User
from hashwhisper import holdings


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists and views, without add, change or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(ReadOnlyAdmin):
    list_display = (
        "username",
        "date_joined",
        "last_login",
        "two_factor",
        "lock",
        "is_staff",
    )
    list_filter = ("is_active", "is_staff")
    search_fields = ("username",)
    ordering = ("-date_joined",)
    fields = (
        "username",
        "date_joined",
        "last_login",
        "two_factor",
        "lock",
        "is_staff",
        "is_superuser",
        "group_count",
        "stored_messages",
        "stored_blobs",
    )
    readonly_fields = fields
    actions = ("lock_accounts", "unlock_accounts")

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return holdings.with_account_flags(super().get_queryset(request))

    @admin.display(description="2FA confirmed", boolean=True)
    def two_factor(self, user: User) -> bool:
        flag = getattr(user, "two_factor", None)
        if flag is None:
            return holdings.confirmed_authenticators(user).exists()
        return bool(flag)

    @admin.display(description="locked")
    def lock(self, user: User) -> str:
        return holdings.lock_state(user)

    @admin.display(description="groups")
    def group_count(self, user: User) -> int:
        return len(holdings.memberships(user))

    @admin.display(description="stored messages")
    def stored_messages(self, user: User) -> str:
        count, size = holdings.totals(holdings.message_holdings(user))
        return f"{count} ({size} bytes)"

    @admin.display(description="stored files")
    def stored_blobs(self, user: User) -> str:
        count, size = holdings.totals(holdings.blob_holdings(user))
        return f"{count} ({size} bytes)"

    @admin.action(description="Lock the selected accounts (ends their sessions)")
    def lock_accounts(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = operator.lock_accounts(queryset, by=request.user)
        self.message_user(request, f"Locked {count} account(s).", messages.SUCCESS)

    @admin.action(description="Unlock the selected accounts")
    def unlock_accounts(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = operator.unlock_accounts(queryset, by=request.user)
        self.message_user(request, f"Unlocked {count} account(s).", messages.SUCCESS)


class DeviceAdmin(ReadOnlyAdmin):
    """Second factors by owner and date; their keys and codes stay hidden."""

    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed",)
    fields = list_display
    readonly_fields = fields


def replace_registration(model: Any, model_admin: type[admin.ModelAdmin]) -> None:
    # django-otp registers admins that show and edit device keys (and a QR
    # code of the TOTP secret); they are swapped for metadata-only views.
    with contextlib.suppress(NotRegistered):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)


replace_registration(TOTPDevice, DeviceAdmin)
replace_registration(StaticDevice, DeviceAdmin)

# Permission groups are not used by HashWhisper; editing them would be a way
# to hand out rights that the operator role is not meant to have.
with contextlib.suppress(NotRegistered):
    admin.site.unregister(PermissionGroup)
