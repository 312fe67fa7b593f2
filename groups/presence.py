"""Who has a chat page open right now, kept in the shared cache.

A browser showing a group asks for its member list every half minute; that
request marks its user as seen. Someone seen within ``ONLINE_SECONDS`` is
shown as online. The cache is Redis when configured, so every worker process
sees the same answer; entries expire by themselves and nothing is stored in
the database.
"""

import logging
from collections.abc import Iterable

from django.core.cache import cache

ONLINE_SECONDS = 75
_PREFIX = "hw:presence:"

log = logging.getLogger("hashwhisper.groups")


def touch(user_id: int) -> None:
    """Mark the user as seen now."""
    try:
        cache.set(f"{_PREFIX}{user_id}", 1, timeout=ONLINE_SECONDS)
    except Exception:
        # Presence is a convenience: a cache outage must not fail the
        # request that lists the members.
        log.warning("presence not recorded: cache unavailable")


def online(user_ids: Iterable[int]) -> set[int]:
    """The users among ``user_ids`` seen within the last ``ONLINE_SECONDS``.

    Nobody is shown online while the cache cannot be read.
    """
    keys = {f"{_PREFIX}{user_id}": user_id for user_id in user_ids}
    try:
        found = cache.get_many(list(keys))
    except Exception:
        log.warning("presence not read: cache unavailable")
        return set()
    return {keys[key] for key in found}
