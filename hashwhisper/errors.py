"""Error answers: JSON for the API, short pages for people."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/events/"))


def json_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    message = "CSRF check failed: reload the page and try again."
    if wants_json(request):
        return json_error(403, message)
    return render(request, "error.html", {"message": message}, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_json(request):
        return json_error(404, "Not found.")
    return render(request, "error.html", {"message": "Page not found."}, status=404)


def bad_request(
    request: HttpRequest, exception: Exception | None = None
) -> HttpResponse:
    if wants_json(request):
        return json_error(400, "Bad request.")
    return render(request, "error.html", {"message": "Bad request."}, status=400)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_json(request):
        return json_error(403, "Forbidden.")
    return render(request, "error.html", {"message": "Forbidden."}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    if wants_json(request):
        return json_error(500, "Internal error.")
    return render(
        request, "error.html", {"message": "Something went wrong."}, status=500
    )
