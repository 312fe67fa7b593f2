"""GET /api/groups/<id>/chain: a group's membership chain, for members.

Hashes travel as lowercase hex. Browsers do not trust them: they recompute
every hash from the fields, and compare the result with the head they saw
before. The user names beside the chain are for display only and are not
covered by any hash.
"""

from typing import Any

from django.http import HttpRequest, JsonResponse

from accounts.models import User
from groups.access import group_for_member
from groups.views import current_user
from hashwhisper.api import json_api
from integrity.chain import GENESIS_HASH, format_time
from integrity.models import ChainEvent
from integrity.services import chain_of, recorded_head


def event_json(event: ChainEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "kind": event.kind,
        "actor": event.actor,
        "subject": event.subject,
        "epoch": event.epoch,
        "at": format_time(event.at),
        "prev_hash": bytes(event.prev_hash).hex(),
        "hash": bytes(event.hash).hex(),
    }


def user_names(events: list[ChainEvent]) -> dict[str, str]:
    ids = {e.actor for e in events} | {e.subject for e in events}
    known = [pk for pk in ids if pk is not None]
    rows = User.objects.filter(pk__in=known).values_list("pk", "username")
    return {str(pk): name for pk, name in rows}


@json_api("GET")
def chain(request: HttpRequest, group_id: str) -> JsonResponse:
    user = current_user(request)
    group, _ = group_for_member(user, group_id)
    events = chain_of(group.pk)
    seq, digest = recorded_head(group.pk) or (0, GENESIS_HASH)
    return JsonResponse(
        {
            "group": group.pk,
            "events": [event_json(event) for event in events],
            "head": {"seq": seq, "hash": digest.hex()},
            "users": user_names(events),
        }
    )
