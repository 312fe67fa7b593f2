"""API of the chat features that need the server (see chat/features.py)."""

from typing import Any

from django.http import HttpRequest, JsonResponse

from chat import features
from groups.access import group_for_member
from groups.models import Membership
from groups.views import current_user
from hashwhisper.api import ApiError, int_field, json_api, read_json, sealed_fields

MAX_NAME_CIPHERTEXT = 1024
MAX_DESCRIPTION_CIPHERTEXT = 4096
# Larger than any id a BigAutoField hands out in practice, small enough to
# be a plain integer everywhere.
MAX_MESSAGE_ID = 2**62


@json_api("DELETE")
def message_detail(
    request: HttpRequest, group_id: str, message_id: int
) -> JsonResponse:
    user = current_user(request)
    group, _ = group_for_member(user, group_id)
    try:
        deleted = features.delete_message(user, group, message_id)
    except features.NotYours as exc:
        raise ApiError(403, "Only the sender can delete a message.") from exc
    if not deleted:
        raise ApiError(404, "No such message.")
    return JsonResponse({"deleted": message_id})


@json_api("POST")
def read_marker(request: HttpRequest, group_id: str) -> JsonResponse:
    user = current_user(request)
    group, _ = group_for_member(user, group_id)
    data = read_json(request)
    message_id = int_field(data, "message_id", low=0, high=MAX_MESSAGE_ID)
    last = features.mark_read(user, group, message_id)
    return JsonResponse({"group": group.id, "last_read_id": last})


@json_api("GET")
def read_state(request: HttpRequest) -> JsonResponse:
    user = current_user(request)
    items = [
        {"id": s.group_id, "last_read_id": s.last_read_id, "unread": s.unread}
        for s in features.read_states(user)
    ]
    return JsonResponse({"groups": items, "unread_cap": features.UNREAD_CAP})


def sealed_text(
    data: dict[str, Any], name: str, limit: int, *, clearable: bool
) -> features.SealedText | None:
    """Read an optional sealed field; ``null`` clears it where allowed."""
    if name not in data:
        return None
    value = data[name]
    if value is None and clearable:
        return features.SealedText(b"", b"", b"")
    if not isinstance(value, dict):
        raise ApiError(400, f"Field {name} must be a sealed object.")
    return features.SealedText(*sealed_fields(value, limit))


@json_api("PATCH")
def group_info(request: HttpRequest, group_id: str) -> JsonResponse:
    """Replace the encrypted name or description (the owner only)."""
    user = current_user(request)
    group, membership = group_for_member(user, group_id)
    if membership.role != Membership.Role.OWNER:
        raise ApiError(
            403, "Only the group's owner can change its name or description."
        )
    data = read_json(request)
    name = sealed_text(data, "name", MAX_NAME_CIPHERTEXT, clearable=False)
    description = sealed_text(
        data, "description", MAX_DESCRIPTION_CIPHERTEXT, clearable=True
    )
    if name is None and description is None:
        raise ApiError(400, "Send a name, a description, or both.")
    features.update_group_info(group, name=name, description=description)
    return JsonResponse({"id": group.id, "updated": True})
