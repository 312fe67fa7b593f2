"""The project's URLs plus one view that fails, for the 500 page tests."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from hashwhisper import urls as project

# Django looks for the error handlers in the root URL module.
handler400 = project.handler400
handler403 = project.handler403
handler404 = project.handler404
handler500 = project.handler500

BOOM_SECRET = "boom-marker-7d1c"


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"forced failure {BOOM_SECRET}")


urlpatterns = [path("boom/", boom), path("api/boom/", boom), *project.urlpatterns]
