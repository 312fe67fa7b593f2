"""Routes of the unwrapped app: the product's, with the library's stream."""

import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django_eventstream import channel_permission_changed, send_event
from django_eventstream import views as eventstream_views
from django_eventstream.channelmanager import ChannelManagerBase

from accounts.models import User
from groups.models import Membership
from hashwhisper.urls import urlpatterns as product_urlpatterns


class GroupChannels(ChannelManagerBase):
    """The library's documented pattern: a channel per group, for members.

    ``user-<id>`` is the user's own channel; ``group-<id>`` is readable by
    the group's members.
    """

    def get_channels_for_request(self, request: Any, view_kwargs: Any) -> set[str]:
        return set(request.GET.getlist("channel"))

    def can_read_channel(self, user: Any, channel: str) -> bool:
        if user is None:
            return False
        if channel.startswith("user-"):
            return channel == f"user-{user.pk}"
        if channel.startswith("group-"):
            return Membership.objects.filter(
                group_id=channel.removeprefix("group-"), user=user
            ).exists()
        return False

    def is_channel_reliable(self, channel: str) -> bool:
        return True


@csrf_exempt
def publish(request: HttpRequest) -> JsonResponse:
    """``send_event`` as the library documents it, nothing caught."""
    body = json.loads(request.body)
    send_event(body["channel"], body["kind"], body["data"])
    return JsonResponse({"sent": True})


@csrf_exempt
def revoke(request: HttpRequest) -> JsonResponse:
    """End a membership and tell the library, as its documentation says."""
    body = json.loads(request.body)
    user = User.objects.get(pk=body["user"])
    Membership.objects.filter(group_id=body["group"], user=user).delete()
    channel_permission_changed(user, f"group-{body['group']}")
    return JsonResponse({"revoked": True})


urlpatterns = [
    path("events/", eventstream_views.events),
    path("unwrapped/publish", publish),
    path("unwrapped/revoke", revoke),
    *[p for p in product_urlpatterns if str(getattr(p, "pattern", "")) != "events/"],
]
