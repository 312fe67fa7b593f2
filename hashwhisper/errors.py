"""Error answers: JSON for the API, short pages of our own for people.

The pages name the problem in one sentence and nothing else: no traceback,
no setting, no echo of the path (which may hold an invitation secret).
"""

from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.template import loader

MESSAGES = {
    400: "Bad request.",
    403: "Forbidden.",
    404: "Page not found.",
    429: "Too many requests. Wait a moment, then try again.",
    500: "Something went wrong.",
    503: "The service is unavailable for a moment. Try again shortly.",
}


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/events/"))


def json_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def error_response(
    request: HttpRequest, status: int, message: str | None = None
) -> HttpResponse:
    """The JSON or page answer for ``status``, with an optional message."""
    text = message or MESSAGES[status]
    if wants_json(request):
        return json_error(status, text)
    return render(request, f"{status}.html", {"message": text}, status=status)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    # Django's reason names the failed check; it stays out of the answer.
    return error_response(
        request, 403, "CSRF check failed: reload the page and try again."
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_json(request):
        return json_error(404, "Not found.")
    return error_response(request, 404)


# Bodies Django refuses to read, named in the answer: "Bad request." alone
# does not tell a person that the form, not the server, was the trouble.
UNREADABLE_BODIES: tuple[tuple[type[Exception], str], ...] = (
    (RequestDataTooBig, "The form sent more data than this server accepts."),
    (TooManyFieldsSent, "The form sent more fields than this server accepts."),
    (TooManyFilesSent, "The form sent more files than this server accepts."),
    (MultiPartParserError, "The form data could not be read."),
)


def bad_request(
    request: HttpRequest, exception: Exception | None = None
) -> HttpResponse:
    message = next(
        (text for kind, text in UNREADABLE_BODIES if isinstance(exception, kind)),
        None,
    )
    return error_response(request, 400, message)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(request, 403)


def server_error(request: HttpRequest) -> HttpResponse:
    if wants_json(request):
        return json_error(500, "Internal error.")
    # Rendered without the request: context processors would read the
    # session and the user, and whatever just failed may fail again.
    body = loader.render_to_string("500.html", {"message": MESSAGES[500]})
    return HttpResponse(body, status=500)
