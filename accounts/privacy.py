"""The "what the server knows about me" page, its JSON download, and ending
one's other sessions.

The page shows exactly what hashwhisper.holdings finds, which is also what
the admin shows operators; nothing here reads content or secrets.
"""

import json
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.session_tracking import ROW, end_session
from hashwhisper import holdings
from hashwhisper.errors import error_response

THIS_SESSION = "This is the session you are using. Log out to end it."
NO_SUCH_SESSION = "No such session. It may have ended already."


def signed_in_user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        # RequireVerifiedMiddleware lets only verified users get this far.
        raise PermissionDenied
    return user


def report_for(request: HttpRequest) -> dict[str, Any]:
    report = holdings.user_report(signed_in_user(request))
    current = request.session.get(ROW)
    for session in report["sessions"]:
        session["this_session"] = session["id"] == current
    return report


def no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def my_data(request: HttpRequest) -> HttpResponse:
    report = report_for(request)
    context = {
        "report": report,
        "message_totals": _totals(report["messages"]),
        "blob_totals": _totals(report["blobs"]),
        "ended": request.GET.get("ended") == "1",
    }
    return no_store(render(request, "accounts/my_data.html", context))


def _totals(holdings_rows: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "count": sum(row["count"] for row in holdings_rows),
        "bytes": sum(row["bytes"] for row in holdings_rows),
    }


@require_GET
def my_data_json(request: HttpRequest) -> HttpResponse:
    report = report_for(request)
    body = json.dumps(report, cls=DjangoJSONEncoder, indent=2, sort_keys=True)
    response = HttpResponse(body, content_type="application/json")
    stamp = _stamp(report["generated"])
    response["Content-Disposition"] = (
        f'attachment; filename="hashwhisper-my-data-{stamp}.json"'
    )
    return no_store(response)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%d-%H%M%S")


@require_POST
def end_other_session(request: HttpRequest, row_id: int) -> HttpResponse:
    user = signed_in_user(request)
    # Ending the current session is what "Log out" is for.
    if row_id == request.session.get(ROW):
        return error_response(request, 400, THIS_SESSION)
    # Someone else's session is answered like one that does not exist.
    if not end_session(user, row_id):
        return error_response(request, 404, NO_SUCH_SESSION)
    return redirect(reverse("privacy:page") + "?ended=1")


urlpatterns = [
    path("", my_data, name="page"),
    path("download.json", my_data_json, name="download"),
    path("sessions/<int:row_id>/end", end_other_session, name="end-session"),
]
