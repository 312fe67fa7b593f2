from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from django_otp.admin import OTPAdminSite

from accounts import privacy
from chat import feature_views
from chat import views as chat_views
from chat.realtime import stream as realtime_stream
from chat.realtime import views as realtime_views
from chat.retention_views import group_retention
from groups import lifecycle_views
from groups import views as group_views
from integrity import views as integrity_views
from media_vault.urls import urlpatterns as media_urls

# Operators must pass the same TOTP check as everyone else.
admin.site.__class__ = OTPAdminSite

api = [
    path("groups/", group_views.groups_collection, name="groups"),
    path("groups/<str:group_id>/params", group_views.join_params, name="group-params"),
    path("groups/<str:group_id>/join", group_views.join, name="group-join"),
    path("groups/<str:group_id>/leave", group_views.leave, name="group-leave"),
    path("groups/<str:group_id>/members", group_views.members, name="group-members"),
    path("groups/<str:group_id>/remove", lifecycle_views.remove, name="group-remove"),
    path("groups/<str:group_id>/owner", lifecycle_views.transfer, name="group-owner"),
    path("groups/<str:group_id>/rotate", lifecycle_views.rotate, name="group-rotate"),
    path("groups/<str:group_id>/chain", integrity_views.chain, name="group-chain"),
    path("groups/<str:group_id>/messages", chat_views.messages, name="messages"),
    *media_urls,
    path(
        "groups/<str:group_id>/retention",
        group_retention,
        name="group-retention",
    ),
    path(
        "groups/<str:group_id>/messages/<int:message_id>",
        feature_views.message_detail,
        name="message-detail",
    ),
    path("groups/<str:group_id>/read", feature_views.read_marker, name="read-marker"),
    path("groups/<str:group_id>/info", feature_views.group_info, name="group-info"),
    path("read-state/", feature_views.read_state, name="read-state"),
    path("presence", realtime_views.heartbeat, name="presence"),
    path(
        "groups/<str:group_id>/presence",
        realtime_views.group_presence,
        name="group-presence",
    ),
    path("groups/<str:group_id>/typing", realtime_views.typing, name="group-typing"),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="chat:home"), name="root"),
    path("accounts/my-data/", include((privacy.urlpatterns, "privacy"))),
    path("accounts/", include("accounts.urls")),
    path("api/", include((api, "api"))),
    path("events/", realtime_stream.events, name="events"),
    # Under a path the operator picks; OTPAdminSite demands a verified code.
    path(settings.HASHWHISPER_ADMIN_PATH, admin.site.urls),
    path("", include("chat.urls")),
]

handler400 = "hashwhisper.errors.bad_request"
handler403 = "hashwhisper.errors.forbidden"
handler404 = "hashwhisper.errors.not_found"
handler500 = "hashwhisper.errors.server_error"
