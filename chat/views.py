"""Chat pages and the message API."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.models import User
from chat import limits, services
from groups.access import NOT_FOUND, check_group_id
from groups.views import current_user
from hashwhisper.api import ApiError, int_field, json_api, read_json, sealed_fields
from media_vault.services import read_blob_ids


@require_GET
def home(request: HttpRequest, group_id: str | None = None) -> HttpResponse:
    return render(request, "chat/app.html", {"active_group": group_id or ""})


@require_GET
def join_page(request: HttpRequest) -> HttpResponse:
    """The invitation landing page; the secret stays in the browser."""
    response = render(request, "chat/join.html")
    response["Cache-Control"] = "no-store"
    return response


def cursor(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name)
    if raw is None:
        return None
    # isascii(): str.isdigit() also accepts digits such as "²" that int()
    # refuses.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(400, f"Parameter {name} must be a message id.")
    return int(raw)


@json_api("GET", "POST")
def messages(request: HttpRequest, group_id: str) -> JsonResponse:
    user = current_user(request)
    check_group_id(group_id)
    try:
        if request.method == "POST":
            return post_message(request, group_id, user)
        before, after = cursor(request, "before"), cursor(request, "after")
        if before is not None and after is not None:
            raise ApiError(400, "Give before or after, not both.")
        page, more = services.history(group_id, user, before=before, after=after)
    except services.NotMember as exc:
        raise ApiError(404, NOT_FOUND) from exc
    return JsonResponse({"messages": page, "has_more": more})


def post_message(request: HttpRequest, group_id: str, user: User) -> JsonResponse:
    # Counted before anything else: a script's malformed posts cost us too.
    try:
        limits.count_post(user.pk)
    except limits.TooFast as exc:
        raise limits.refusal(
            exc,
            "You are sending messages faster than anyone types",
            code="too_fast",
            then="send again",
        ) from exc
    data = read_json(request)
    ciphertext, nonce, tag = sealed_fields(data, settings.HASHWHISPER_MAX_MESSAGE_BYTES)
    epoch = int_field(data, "epoch", low=1, high=2**31 - 1)
    blob_ids = read_blob_ids(data)
    try:
        message = services.post_message(
            group_id, user, ciphertext, nonce, tag, epoch=epoch, blob_ids=blob_ids
        )
    except services.NonceReused as exc:
        raise ApiError(
            409, "This nonce was already used in the group.", code="nonce_reused"
        ) from exc
    except services.OldEpoch as exc:
        raise ApiError(
            409,
            f"Old epoch: this message was sealed for key epoch {exc.stated}, "
            f"but the group's key is at epoch {exc.current}. Open the group's "
            "new invitation to write again.",
            code="old_epoch",
        ) from exc
    body = services.message_json(message, user.get_username())
    return JsonResponse(body, status=201)
