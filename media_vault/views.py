"""Blob API: reserve an upload, upload its ciphertext, download, cancel.

POST   /api/groups/<group>/blobs          {type, size} -> 201 {id, ...}
PUT    /api/groups/<group>/blobs/<blob>   raw ciphertext (octet-stream)
GET    /api/groups/<group>/blobs/<blob>   the ciphertext, as an attachment
DELETE /api/groups/<group>/blobs/<blob>   drop an upload no message uses
"""

from collections.abc import AsyncIterator, Callable
from functools import wraps
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)

from accounts.models import User
from groups.access import group_for_member
from groups.views import current_user
from hashwhisper.api import ApiError, json_api, read_json
from hashwhisper.asgi_limits import body_limit, body_too_large
from media_vault import access, services, storage
from media_vault.models import Blob

# The name every download is saved under: the real name is inside the
# encrypted message, and the bytes are ciphertext anyway.
DOWNLOAD_NAME = "hashwhisper-encrypted.bin"


class StreamedFileResponse(FileResponse):
    """A file response that an ASGI server sends piece by piece.

    Django's ASGI handler consumes a response that offers only a synchronous
    iterator by reading all of it into a list first, which would hold a
    whole blob in memory (bench/media_upload_memory.py measured the growth).
    Reading in pieces on a worker thread keeps one piece in memory at a
    time; the ASGI handler sets the piece size (64 KiB).
    """

    async def __aiter__(self) -> AsyncIterator[bytes]:
        source = self.file_to_stream
        if source is None:
            async for part in super().__aiter__():
                yield part
            return
        read = sync_to_async(source.read, thread_sensitive=False)
        while piece := await read(self.block_size):
            yield piece


def blob_json(blob: Blob) -> dict[str, Any]:
    return {
        "id": blob.id,
        "group": blob.group_id,
        "type": blob.mime,
        "size": blob.size,
        "state": blob.state,
        "expires_at": blob.expires_at.isoformat(),
    }


def max_upload() -> int:
    return int(settings.HASHWHISPER_MAX_UPLOAD)


def blob_api(
    *methods: str,
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Like ``json_api``, for a view that may also stream a file.

    Neither shared nor private caches may keep a blob or an answer about it.
    """

    def decorate(
        view: Callable[..., HttpResponseBase],
    ) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapper(
            request: HttpRequest, *args: Any, **kwargs: Any
        ) -> HttpResponseBase:
            response: HttpResponseBase
            if request.method not in methods:
                response = JsonResponse({"error": "Method not allowed."}, status=405)
                response["Allow"] = ", ".join(methods)
            else:
                try:
                    response = view(request, *args, **kwargs)
                except ApiError as error:
                    response = JsonResponse(
                        {"error": error.message}, status=error.status
                    )
            response["Cache-Control"] = "private, no-store"
            return response

        return wrapper

    return decorate


@json_api("POST")
def blobs(request: HttpRequest, group_id: str) -> JsonResponse:
    user = current_user(request)
    group, _ = group_for_member(user, group_id)
    data = read_json(request)
    blob = services.reserve_blob(group, user, data.get("type"), data.get("size"))
    return JsonResponse(blob_json(blob), status=201)


@body_limit(max_upload, handles_oversized=True)
@blob_api("GET", "PUT", "DELETE")
def blob(request: HttpRequest, group_id: str, blob_id: str) -> HttpResponseBase:
    user = current_user(request)
    if request.method == "GET":
        return download(user, group_id, blob_id)
    if request.method == "DELETE":
        services.cancel_upload(access.blob_for_uploader(user, group_id, blob_id))
        return HttpResponse(status=204)
    return upload(request, user, group_id, blob_id)


def upload(
    request: HttpRequest, user: User, group_id: str, blob_id: str
) -> HttpResponse:
    blob = access.blob_for_uploader(user, group_id, blob_id)
    if blob.state != Blob.State.PENDING:
        raise ApiError(409, "This file was already uploaded or is being uploaded.")
    if body_too_large(request):
        # The body was cut off while streaming in; the reservation goes too,
        # so a refused upload leaves neither a file nor a row.
        services.discard(blob)
        services.security_log.info("upload refused: over cap id=%s", blob.id)
        raise services.too_large()
    if request.content_type != "application/octet-stream":
        raise ApiError(415, "Send the encrypted file as application/octet-stream.")
    try:
        stored = services.store_upload(blob, request.read)
    except services.StorageFull as exc:
        raise ApiError(507, "The server is out of storage space; try later.") from exc
    except services.StorageFailed as exc:
        raise ApiError(500, "The server could not store the file (I/O error).") from exc
    return JsonResponse(blob_json(stored), status=201)


def download(user: User, group_id: str, blob_id: str) -> HttpResponseBase:
    blob = access.blob_for_member(user, group_id, blob_id)
    try:
        handle = storage.open_stored(blob.storage_name)
    except (OSError, ValueError) as exc:
        services.log.error("blob file missing id=%s", blob.id)
        raise ApiError(404, access.NOT_FOUND) from exc
    services.log.info("blob served id=%s size=%s", blob.id, blob.size)
    response = StreamedFileResponse(
        handle,
        content_type="application/octet-stream",
        as_attachment=True,
        filename=DOWNLOAD_NAME,
    )
    # Object-store files cannot always tell their length; the row can.
    response["Content-Length"] = str(blob.size)
    return response
