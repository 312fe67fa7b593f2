"""What the server holds, as metadata: the one set of queries behind both the
operators' admin and each user's "what the server knows about me" page.

Both views call these functions, so the page a user reads and the pages an
operator reads cannot drift apart. Nothing here returns ciphertext, nonces,
tags, token hashes, session keys or TOTP keys: only ids, names the user
chose, roles, counts, sizes and times.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    Max,
    Min,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Length
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.lockout import locked_until, username_key
from accounts.models import LoginLock, User, UserSession
from accounts.session_tracking import live_sessions
from chat.models import Message, ReadMarker
from chat.retention import retention_days
from groups.models import Group, Membership
from integrity.models import ChainEvent
from media_vault.models import Blob

# Users ---------------------------------------------------------------------


def confirmed_authenticators(user: Any) -> QuerySet[TOTPDevice]:
    """``user`` may be a user or an ``OuterRef`` to one."""
    return TOTPDevice.objects.filter(user=user, confirmed=True)


def with_account_flags(users: QuerySet[User]) -> QuerySet[User]:
    """Annotate ``two_factor``: the user has a confirmed authenticator."""
    return users.annotate(two_factor=Exists(confirmed_authenticators(OuterRef("pk"))))


def lock_state(user: User) -> str:
    """Whether and why the account cannot sign in, in a few words."""
    if not user.is_active:
        return "locked by an operator"
    until = locked_until(username_key(user.get_username()))
    if until is not None:
        return f"locked until {until.isoformat()} after failed sign-ins"
    return "not locked"


def account_facts(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "username": user.get_username(),
        "joined": user.date_joined,
        "last_login": user.last_login,
        "two_factor_confirmed": confirmed_authenticators(user).exists(),
        "lock": lock_state(user),
        "operator": user.is_staff,
    }


def devices(user: User) -> list[dict[str, Any]]:
    """Authenticators and recovery-code sets, without keys or codes."""
    found: list[dict[str, Any]] = [
        {
            "kind": "authenticator app (TOTP)",
            "name": device.name,
            "confirmed": device.confirmed,
            "created": device.created_at,
            "last_used": device.last_used_at,
        }
        for device in TOTPDevice.objects.filter(user=user).order_by("id")
    ]
    found.extend(
        {
            "kind": "recovery codes",
            "name": device.name,
            "confirmed": device.confirmed,
            "created": device.created_at,
            "last_used": device.last_used_at,
            "codes_left": device.codes_left,
        }
        for device in StaticDevice.objects.filter(user=user)
        .annotate(codes_left=Count("token_set"))
        .order_by("id")
    )
    return found


def sign_in_failures(user: User) -> list[dict[str, Any]]:
    """The failed-sign-in counter kept for the user's name, if any."""
    rows = LoginLock.objects.filter(key=username_key(user.get_username()))
    return [
        {
            "failures": row.failures,
            "window_started": row.window_started_at,
            "locked_until": row.locked_until,
            "updated": row.updated_at,
        }
        for row in rows
    ]


def sessions(user: User) -> QuerySet[UserSession]:
    """Sessions still alive by their lifetimes, most recently used first."""
    return live_sessions(user).order_by("-last_seen_at")


# Groups --------------------------------------------------------------------


def _total(rows: QuerySet[Any], value: Any) -> Coalesce:
    """A correlated subquery summing ``value`` over ``rows``; 0 if none."""
    summed = rows.order_by().values("group").annotate(total=Sum(value)).values("total")
    return Coalesce(
        Subquery(summed, output_field=BigIntegerField()),
        Value(0),
        output_field=BigIntegerField(),
    )


def with_group_totals(groups: QuerySet[Group]) -> QuerySet[Group]:
    """Annotate member, message and blob counts and bytes stored per group.

    Each figure is its own subquery: joining members, messages and blobs at
    once would multiply the rows and inflate every sum.
    """
    messages = Message.objects.filter(group=OuterRef("pk"))
    blobs = Blob.objects.filter(group=OuterRef("pk"))
    members = Membership.objects.filter(group=OuterRef("pk"))
    return groups.annotate(
        member_total=_total(members, Value(1)),
        message_total=_total(messages, Value(1)),
        message_bytes=_total(messages, Length("ciphertext")),
        blob_total=_total(blobs, Value(1)),
        blob_bytes=_total(blobs, "size"),
    )


def group_retention_text(group: Group) -> str:
    days = retention_days(group)
    source = "chosen by the owner" if group.retention_days else "server default"
    return f"{days} days ({source})"


def memberships(user: User) -> list[dict[str, Any]]:
    rows = (
        Membership.objects.filter(user=user)
        .select_related("group")
        .order_by("joined_at")
    )
    return [
        {
            "group": row.group_id,
            "role": row.role,
            "joined": row.joined_at,
            "group_created": row.group.created_at,
            "created_by_you": row.group.created_by_id == user.pk,
            "retention": group_retention_text(row.group),
        }
        for row in rows
    ]


def read_markers(user: User) -> list[dict[str, Any]]:
    rows = ReadMarker.objects.filter(user=user).order_by("group_id")
    return [{"group": r.group_id, "last_read_message": r.last_read_id} for r in rows]


# Stored content ------------------------------------------------------------


@dataclass(frozen=True)
class Holding:
    """How much of one kind of content a user has stored in one group."""

    group: str
    count: int
    bytes: int
    first_expiry: datetime | None
    last_expiry: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "count": self.count,
            "bytes": self.bytes,
            "first_expiry": self.first_expiry,
            "last_expiry": self.last_expiry,
        }


def _holdings(rows: QuerySet[Any], size: Any) -> list[Holding]:
    grouped = (
        rows.order_by()
        .values("group_id")
        .annotate(
            n=Count("pk"),
            size=Coalesce(Sum(size), Value(0)),
            first=Min("expires_at"),
            last=Max("expires_at"),
        )
        .order_by("group_id")
    )
    return [
        Holding(row["group_id"], row["n"], row["size"], row["first"], row["last"])
        for row in grouped
    ]


def message_holdings(user: User) -> list[Holding]:
    """Messages the user sent that are still stored, per group."""
    return _holdings(Message.objects.filter(sender=user), Length("ciphertext"))


def blob_holdings(user: User) -> list[Holding]:
    """Files the user uploaded that are still stored, per group."""
    return _holdings(Blob.objects.filter(uploader=user), "size")


def totals(holdings: list[Holding]) -> tuple[int, int]:
    return sum(h.count for h in holdings), sum(h.bytes for h in holdings)


def chain_events(user: User) -> list[dict[str, Any]]:
    """Membership-chain events in which the user acted or was acted on."""
    rows = ChainEvent.objects.filter(actor=user.pk) | ChainEvent.objects.filter(
        subject=user.pk
    )
    return [
        {
            "group": event.group_id,
            "seq": event.seq,
            "kind": event.kind,
            "you_acted": event.actor == user.pk,
            "about_you": event.subject == user.pk,
            "epoch": event.epoch,
            "at": event.at,
        }
        for event in rows.order_by("group_id", "seq")
    ]


def user_report(user: User) -> dict[str, Any]:
    """Everything the server holds about ``user``, as plain data."""
    return {
        "generated": timezone.now(),
        "account": account_facts(user),
        "devices": devices(user),
        "sign_in_failures": sign_in_failures(user),
        "sessions": [
            {
                "id": row.pk,
                "created": row.created_at,
                "last_seen": row.last_seen_at,
                "client": row.client,
            }
            for row in sessions(user)
        ],
        "groups": memberships(user),
        "read_markers": read_markers(user),
        "messages": [h.as_dict() for h in message_holdings(user)],
        "blobs": [h.as_dict() for h in blob_holdings(user)],
        "chain_events": chain_events(user),
    }
