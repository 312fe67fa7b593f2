"""A URL conf for the handler's tests: one streaming answer and one
failure, besides the site's own URLs.

Under a public prefix (``accounts.middleware.PUBLIC_PREFIXES``), so no
sign-in is needed to reach them.
"""

from collections.abc import AsyncIterator

from django.http import HttpRequest, StreamingHttpResponse
from django.urls import include, path


async def chunks() -> AsyncIterator[bytes]:
    yield b"first"
    yield b"second"


def streamed(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(chunks(), content_type="text/plain")


def failing(request: HttpRequest) -> StreamingHttpResponse:
    raise RuntimeError("the view failed")


urlpatterns = [
    path("accounts/login/streamed", streamed),
    path("accounts/login/failing", failing),
    # The site's own pages, which the error page links to.
    path("", include("hashwhisper.urls")),
]
