"""Owner actions on a group: remove a member, hand over, rotate the secret.

Members who are not the owner get 403 and nothing changes; people who are
not members get the same 404 as for a group that does not exist.
"""

from django.http import HttpRequest, JsonResponse

from chat.feature_views import MAX_DESCRIPTION_CIPHERTEXT
from groups import services
from groups.access import group_for_member
from groups.views import (
    MAX_ITERATIONS,
    MAX_NAME_CIPHERTEXT,
    MIN_ITERATIONS,
    count_group_change,
    current_user,
    give_back_group_change,
    group_json,
)
from hashwhisper.api import (
    ApiError,
    b64_field,
    int_field,
    json_api,
    object_field,
    read_json,
    sealed_fields,
)
from hashwhisper.crypto import TOKEN_BYTES

# User ids are positive and fit in a signed 64-bit column.
MAX_USER_ID = 2**63 - 1


def _target_user(request: HttpRequest) -> int:
    return int_field(read_json(request), "user", low=1, high=MAX_USER_ID)


def _refused(error: services.LifecycleRefused) -> ApiError:
    return ApiError(error.status, error.message)


@json_api("POST")
def remove(request: HttpRequest, group_id: str) -> JsonResponse:
    user = current_user(request)
    group, _ = group_for_member(user, group_id)
    target = _target_user(request)
    try:
        services.remove_member(user, group, target)
    except services.LifecycleRefused as error:
        raise _refused(error) from error
    return JsonResponse({"removed": target})


@json_api("POST")
def transfer(request: HttpRequest, group_id: str) -> JsonResponse:
    user = current_user(request)
    group, _ = group_for_member(user, group_id)
    target = _target_user(request)
    count_group_change(user)
    try:
        services.transfer_ownership(user, group, target)
    except services.LifecycleRefused as error:
        give_back_group_change(user)
        raise _refused(error) from error
    return JsonResponse({"owner": target})


@json_api("POST")
def rotate(request: HttpRequest, group_id: str) -> JsonResponse:
    user = current_user(request)
    group, membership = group_for_member(user, group_id)
    if membership.role != membership.Role.OWNER:
        # Refused before the body is read, so a member learns nothing more.
        raise ApiError(403, "Only the owner of the group may do this.")
    data = read_json(request)
    name_ct, name_nonce, name_tag = sealed_fields(
        object_field(data, "name"), MAX_NAME_CIPHERTEXT
    )
    description = None
    if data.get("description") is not None:
        description = sealed_fields(
            object_field(data, "description"), MAX_DESCRIPTION_CIPHERTEXT
        )
    spec = services.Rotation(
        epoch=int_field(data, "epoch", low=1, high=2**31 - 1),
        salt=b64_field(data, "salt", min_len=16, max_len=64),
        iterations=int_field(
            data, "iterations", low=MIN_ITERATIONS, high=MAX_ITERATIONS
        ),
        token=b64_field(data, "token", exact=TOKEN_BYTES),
        name_ciphertext=name_ct,
        name_nonce=name_nonce,
        name_tag=name_tag,
        description=description,
    )
    count_group_change(user)
    try:
        rotated = services.rotate_secret(user, group, spec)
    except services.LifecycleRefused as error:
        give_back_group_change(user)
        raise _refused(error) from error
    count = rotated.memberships.count()
    return JsonResponse(group_json(rotated, membership.role, count))
