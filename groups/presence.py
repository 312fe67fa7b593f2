"""Who has a chat page open right now, kept in the shared cache.

A browser showing a group asks for its member list every half minute; that
request marks its user as seen. Someone seen within ``ONLINE_SECONDS`` is
shown as online. The cache is Redis when configured, so every worker process
sees the same answer; entries expire by themselves and nothing is stored in
the database.
"""

from collections.abc import Iterable

from django.core.cache import cache

ONLINE_SECONDS = 75
_PREFIX = "hw:presence:"


def touch(user_id: int) -> None:
    """Mark the user as seen now."""
    cache.set(f"{_PREFIX}{user_id}", 1, timeout=ONLINE_SECONDS)


def online(user_ids: Iterable[int]) -> set[int]:
    """The users among ``user_ids`` seen within the last ``ONLINE_SECONDS``."""
    keys = {f"{_PREFIX}{user_id}": user_id for user_id in user_ids}
    found = cache.get_many(list(keys))
    return {keys[key] for key in found}
