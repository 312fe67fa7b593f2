"""Our CSP middleware sets what django-csp's would, building it once."""

from typing import Any

import pytest
from csp.constants import HEADER, HEADER_REPORT_ONLY, NONCE, NONE, SELF
from csp.middleware import CSPMiddleware
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import RequestFactory

from hashwhisper.middleware import ContentSecurityPolicyMiddleware


def answer(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True})


def through(
    middleware_class: type[CSPMiddleware],
    response: HttpResponse | None = None,
    *,
    nonce: bool = False,
) -> HttpResponse:
    request = RequestFactory().get("/api/groups/")
    middleware = middleware_class(lambda r: response or answer(r))
    middleware.process_request(request)
    if nonce:
        str(request.csp_nonce)  # type: ignore[attr-defined]
    result = middleware.process_response(request, response or answer(request))
    assert isinstance(result, HttpResponse)
    return result


def headers(response: HttpResponse) -> dict[str, str | None]:
    return {name: response.get(name) for name in (HEADER, HEADER_REPORT_ONLY)}


def test_the_header_is_django_csps() -> None:
    ours = through(ContentSecurityPolicyMiddleware)
    assert headers(ours) == headers(through(CSPMiddleware))
    assert "default-src 'none'" in ours[HEADER]


def test_a_settings_change_is_seen(settings: Any) -> None:
    through(ContentSecurityPolicyMiddleware)
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": [SELF]}}
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {
        "DIRECTIVES": {"default-src": [NONE]}
    }
    ours = through(ContentSecurityPolicyMiddleware)
    assert ours[HEADER] == "default-src 'self'"
    assert headers(ours) == headers(through(CSPMiddleware))


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("_csp_update", {"img-src": ["https://example.test"]}),
        ("_csp_replace", {"script-src": [NONE]}),
        ("_csp_exempt", True),
    ],
)
def test_a_view_of_its_own_goes_through_django_csp(attribute: str, value: Any) -> None:
    def response() -> HttpResponse:
        made = JsonResponse({})
        setattr(made, attribute, value)
        return made

    ours = through(ContentSecurityPolicyMiddleware, response())
    assert headers(ours) == headers(through(CSPMiddleware, response()))
    assert headers(ours) != headers(through(ContentSecurityPolicyMiddleware))


def test_a_nonce_asked_for_is_in_the_header(settings: Any) -> None:
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"script-src": [SELF, NONCE]}}
    assert "'nonce-" not in through(ContentSecurityPolicyMiddleware)[HEADER]
    assert "'nonce-" in through(ContentSecurityPolicyMiddleware, nonce=True)[HEADER]


def test_a_nonce_asked_for_too_late_raises() -> None:
    from csp.exceptions import CSPNonceError

    request = RequestFactory().get("/")
    middleware = ContentSecurityPolicyMiddleware(answer)
    middleware.process_request(request)
    middleware.process_response(request, answer(request))
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)  # type: ignore[attr-defined]
