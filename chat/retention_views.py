"""The group retention API: members read it, the owner may shorten it."""

from typing import Any

from django.http import HttpRequest, JsonResponse

from chat import retention
from groups.access import group_for_member
from groups.models import Group, Membership
from groups.views import current_user
from hashwhisper.api import ApiError, json_api, read_json


def retention_json(group: Group, membership: Membership) -> dict[str, Any]:
    return {
        "days": retention.retention_days(group),
        "chosen": group.retention_days,
        "server_days": retention.server_retention_days(),
        "can_change": membership.role == Membership.Role.OWNER,
    }


def requested_days(data: dict[str, Any]) -> int | None:
    if "days" not in data:
        raise ApiError(400, "Missing field: days.")
    days = data["days"]
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int):
        raise ApiError(400, "Field days must be a whole number or null.")
    return days


@json_api("GET", "POST")
def group_retention(request: HttpRequest, group_id: str) -> JsonResponse:
    user = current_user(request)
    group, membership = group_for_member(user, group_id)
    if request.method == "GET":
        return JsonResponse(retention_json(group, membership))

    if membership.role != Membership.Role.OWNER:
        raise ApiError(403, "Only the group's owner can change its retention.")
    days = requested_days(read_json(request))
    try:
        group = retention.set_group_retention(group, days, actor=user)
    except retention.RetentionRefused as exc:
        raise ApiError(400, str(exc)) from exc
    return JsonResponse(retention_json(group, membership))
