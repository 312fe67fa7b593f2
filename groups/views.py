"""Group API: create, list, read join parameters, join, leave, members."""

from typing import Any

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, JsonResponse

from accounts.models import User
from chat import limits
from chat.events import publish_to_members
from chat.realtime import presence
from groups import services
from groups.access import NOT_FOUND, group_by_id, group_for_member
from groups.models import GROUP_ID_PATTERN, Group, Membership
from hashwhisper.api import (
    ApiError,
    b64_field,
    int_field,
    json_api,
    object_field,
    read_json,
    sealed_fields,
)
from hashwhisper.crypto import TOKEN_BYTES, b64encode

MIN_ITERATIONS = 120_000
MAX_ITERATIONS = 10_000_000
MAX_NAME_CIPHERTEXT = 1024
# The per-user count of new groups (chat.limits) and its period.
NEW_GROUPS = "new-groups"
NEW_GROUPS_WINDOW_SECONDS = 3600
# The per-user count of changes that add a row to a group's chain and can be
# repeated without end: joins, hand-overs and rotations. Leaving and removals
# are not counted (never refused): each undoes a counted join or creation.
GROUP_CHANGES = "group-changes"
GROUP_CHANGES_WINDOW_SECONDS = 3600


def group_json(
    group: Group, role: str, member_count: int | None = None
) -> dict[str, Any]:
    return {
        "id": group.id,
        "salt": b64encode(group.salt),
        "iterations": group.iterations,
        "epoch": group.epoch,
        "role": role,
        "member_count": member_count,
        "name": {
            "ciphertext": b64encode(group.name_ciphertext),
            "nonce": b64encode(group.name_nonce),
            "tag": b64encode(group.name_tag),
        },
        # Absent until the owner writes one; sealed like the name.
        "description": {
            "ciphertext": b64encode(group.description_ciphertext),
            "nonce": b64encode(group.description_nonce),
            "tag": b64encode(group.description_tag),
        }
        if group.description_nonce
        else None,
        "created_at": group.created_at.isoformat(),
    }


def current_user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        # RequireVerifiedMiddleware lets no anonymous request reach the API.
        raise ApiError(401, "Log in first.")
    return user


@json_api("GET", "POST")
def groups_collection(request: HttpRequest) -> JsonResponse:
    user = current_user(request)
    if request.method == "POST":
        return create_group(request, user)
    memberships = (
        Membership.objects.filter(user=user)
        .select_related("group")
        .annotate(count=Count("group__memberships"))
        .order_by("-group__created_at")
    )
    items = [group_json(m.group, m.role, m.count) for m in memberships]
    return JsonResponse({"groups": items})


def count_new_group(user: User) -> None:
    """Count a group the user is about to create; refuse past the allowance.

    Groups are kept until their last member leaves, so a script could add
    rows without end. While Redis is away each process counts on its own
    (chat.limits).
    """
    limits.spend_or_refuse(
        NEW_GROUPS,
        user.pk,
        limit=settings.HASHWHISPER_GROUPS_PER_HOUR,
        window=NEW_GROUPS_WINDOW_SECONDS,
        doing="You have created more groups than anyone does by hand",
    )


def count_group_change(user: User) -> None:
    """Count a join, hand-over or rotation; refuse past the allowance.

    Each adds a row to the group's chain, which every member's browser
    loads and checks: a member's join-and-leave script added 240 000 rows an
    hour. While Redis is away each process counts on its own (chat.limits):
    rotating a secret or handing over must work in an outage too.
    """
    limits.spend_or_refuse(
        GROUP_CHANGES,
        user.pk,
        limit=settings.HASHWHISPER_GROUP_CHANGES_PER_HOUR,
        window=GROUP_CHANGES_WINDOW_SECONDS,
        doing="You have changed group memberships more often than anyone does by hand",
    )


def give_back_group_change(user: User) -> None:
    """Return the count of a change that was refused after counting."""
    limits.give_back(GROUP_CHANGES, user.pk)


def create_group(request: HttpRequest, user: User) -> JsonResponse:
    data = read_json(request)
    group_id = data.get("id")
    if not isinstance(group_id, str) or not GROUP_ID_PATTERN.fullmatch(group_id):
        raise ApiError(400, "Field id must be 22 base64url characters.")
    name = object_field(data, "name")
    name_ct, name_nonce, name_tag = sealed_fields(name, MAX_NAME_CIPHERTEXT)
    spec = services.NewGroup(
        id=group_id,
        salt=b64_field(data, "salt", min_len=16, max_len=64),
        iterations=int_field(
            data, "iterations", low=MIN_ITERATIONS, high=MAX_ITERATIONS
        ),
        token=b64_field(data, "token", exact=TOKEN_BYTES),
        name_ciphertext=name_ct,
        name_nonce=name_nonce,
        name_tag=name_tag,
    )
    count_new_group(user)
    try:
        group = services.create_group(user, spec)
    except services.GroupExists as exc:
        limits.give_back(NEW_GROUPS, user.pk)
        raise ApiError(409, "A group with that id exists; pick another id.") from exc
    return JsonResponse(group_json(group, Membership.Role.OWNER, 1), status=201)


@json_api("GET")
def join_params(request: HttpRequest, group_id: str) -> JsonResponse:
    """What a browser holding an invitation needs to derive the token."""
    group = group_by_id(group_id)
    return JsonResponse(
        {
            "id": group.id,
            "salt": b64encode(group.salt),
            "iterations": group.iterations,
            # The key an invitation opens belongs to this epoch.
            "epoch": group.epoch,
        }
    )


@json_api("POST")
def join(request: HttpRequest, group_id: str) -> JsonResponse:
    user = current_user(request)
    data = read_json(request)
    token = b64_field(data, "token", exact=TOKEN_BYTES)
    group = group_by_id(group_id)
    # Joining again with a rotated secret adds no row, so it is not counted.
    counted = not Membership.objects.filter(group=group, user=user).exists()
    if counted:
        count_group_change(user)
    membership = services.join_group(user, group, token)
    if membership is None:
        if counted:
            give_back_group_change(user)
        # Same answer as a missing group, so ids cannot be probed.
        raise ApiError(404, NOT_FOUND)
    publish_to_members(group.id, "members", {"group": group.id})
    count = Membership.objects.filter(group=group).count()
    return JsonResponse(group_json(group, membership.role, count))


@json_api("POST")
def leave(request: HttpRequest, group_id: str) -> JsonResponse:
    user = current_user(request)
    group, _ = group_for_member(user, group_id)
    try:
        services.leave_group(user, group)
    except services.LifecycleRefused as error:
        raise ApiError(error.status, error.message) from error
    return JsonResponse({"left": group.id})


@json_api("GET")
def members(request: HttpRequest, group_id: str) -> JsonResponse:
    user = current_user(request)
    group, _ = group_for_member(user, group_id)
    rows = list(
        Membership.objects.filter(group=group)
        .select_related("user")
        .order_by("joined_at")
    )
    # The same presence as the live indicators (heartbeats, chat.realtime).
    try:
        states = presence.states_of([m.user_id for m in rows])
    except presence.Unavailable:
        # The list matters more than the dots: everyone shows offline.
        states = {}
    items = [
        {
            "id": m.user_id,
            "username": m.user.get_username(),
            "role": m.role,
            "joined_at": m.joined_at.isoformat(),
            "presence": states.get(m.user_id, presence.OFFLINE),
            "online": states.get(m.user_id) == presence.ONLINE,
        }
        for m in rows
    ]
    return JsonResponse({"members": items, "epoch": group.epoch})
