"""Small helpers for the JSON API: typed input checks and error answers.

Every refusal is an ``ApiError`` that the ``json_api`` decorator turns into a
4xx JSON answer, raised before anything is written.
"""

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from hashwhisper.crypto import b64decode_strict

log = logging.getLogger("hashwhisper.api")

View = TypeVar("View", bound=Callable[..., HttpResponse])


class ApiError(Exception):
    """A refusal answered as JSON: ``{"error": message}``, plus ``"code"``
    where a client must tell this refusal from others of the same status."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        if self.code:
            return {"error": self.message, "code": self.code}
        return {"error": self.message}


def json_api(*methods: str) -> Callable[[View], View]:
    """Answer JSON for every refusal, and 405 for other methods."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response: HttpResponse = JsonResponse(
                    {"error": f"Method {request.method} not allowed."}, status=405
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                response = view(request, *args, **kwargs)
            except ApiError as error:
                response = JsonResponse(
                    error.body(), status=error.status, headers=error.headers
                )
            response["Cache-Control"] = "no-store"
            return response

        return wrapper  # type: ignore[return-value]

    return decorate


def read_json(request: HttpRequest) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(415, "Send a JSON body (Content-Type: application/json).")
    try:
        body = request.body
    except RequestDataTooBig as exc:
        raise ApiError(413, "Request body too large.") from exc
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        # RecursionError: deeply nested arrays exhaust the parser's stack.
        raise ApiError(400, "The body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return data


def b64_field(
    data: dict[str, Any],
    name: str,
    *,
    exact: int | None = None,
    min_len: int = 0,
    max_len: int | None = None,
) -> bytes:
    """Decode a base64 field and check its decoded length."""
    if name not in data:
        raise ApiError(400, f"Missing field: {name}.")
    try:
        raw = b64decode_strict(data[name])
    except ValueError as exc:
        raise ApiError(400, f"Field {name} is not valid base64.") from exc
    if exact is not None and len(raw) != exact:
        raise ApiError(400, f"Field {name} must be {exact} bytes.")
    if len(raw) < min_len:
        raise ApiError(400, f"Field {name} must be at least {min_len} bytes.")
    if max_len is not None and len(raw) > max_len:
        raise ApiError(413, f"Field {name} is larger than {max_len} bytes.")
    return raw


def int_field(data: dict[str, Any], name: str, *, low: int, high: int) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"Field {name} must be a whole number.")
    if not low <= value <= high:
        raise ApiError(400, f"Field {name} must be between {low} and {high}.")
    return value


def object_field(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise ApiError(400, f"Field {name} must be a JSON object.")
    return value


NONCE_BYTES = 12
TAG_BYTES = 16


def sealed_fields(
    data: dict[str, Any], max_ciphertext: int
) -> tuple[bytes, bytes, bytes]:
    """Read ``ciphertext``, ``nonce`` (12 bytes) and ``tag`` (16 bytes)."""
    ciphertext = b64_field(data, "ciphertext", min_len=1, max_len=max_ciphertext)
    nonce = b64_field(data, "nonce", exact=NONCE_BYTES)
    tag = b64_field(data, "tag", exact=TAG_BYTES)
    return ciphertext, nonce, tag
