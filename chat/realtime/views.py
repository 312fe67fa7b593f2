"""Presence and typing API.

``POST /api/presence`` records a heartbeat, ``GET
/api/groups/<id>/presence`` reads the members' states, ``POST
/api/groups/<id>/typing`` tells the other members that someone types.
"""

from django.http import HttpRequest, JsonResponse

from chat.realtime import config, presence
from groups.access import group_for_member
from groups.views import current_user
from hashwhisper.api import ApiError, json_api, read_json

UNAVAILABLE = "Live features are unavailable right now; messages still go through."


@json_api("POST")
def heartbeat(request: HttpRequest) -> JsonResponse:
    user = current_user(request)
    state = read_json(request).get("state")
    if state not in presence.HEARTBEAT_STATES:
        raise ApiError(400, "Field state must be online or away.")
    try:
        now = presence.heartbeat(user.pk, state)
    except presence.Unavailable as error:
        raise ApiError(503, UNAVAILABLE) from error
    return JsonResponse({"state": now, "ttl": config.presence_ttl()})


@json_api("GET")
def group_presence(request: HttpRequest, group_id: str) -> JsonResponse:
    user = current_user(request)
    group, _ = group_for_member(user, group_id)
    try:
        states = presence.group_states(group)
    except presence.Unavailable as error:
        raise ApiError(503, UNAVAILABLE) from error
    return JsonResponse(
        {
            "presence": {str(k): v for k, v in states.items()},
            "ttl": config.presence_ttl(),
        }
    )


@json_api("POST")
def typing(request: HttpRequest, group_id: str) -> JsonResponse:
    user = current_user(request)
    group, _ = group_for_member(user, group_id)
    try:
        presence.typing(user.pk, group)
    except presence.TypingTooFast as error:
        raise ApiError(
            429, "Typing notices are limited to one every few seconds."
        ) from error
    except presence.Unavailable as error:
        raise ApiError(503, UNAVAILABLE) from error
    return JsonResponse({"sent": True}, status=202)
