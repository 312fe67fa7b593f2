"""What an operator may do to accounts: lock and unlock them, nothing more."""

import logging
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from accounts.lockout import clear_failures, username_key
from accounts.models import User, UserSession

log = logging.getLogger("hashwhisper.accounts")


@transaction.atomic
def lock_accounts(users: QuerySet[User], by: Any) -> int:
    """Stop the accounts from signing in and end their sessions.

    An inactive user no longer authenticates on the next request of any
    session (Django's backend refuses inactive users), so the lock takes
    effect at once; the session list is emptied to match.
    """
    ids = list(users.filter(is_active=True).values_list("pk", flat=True))
    User.objects.filter(pk__in=ids).update(is_active=False)
    UserSession.objects.filter(user_id__in=ids).delete()
    for user_id in ids:
        log.info("account locked by operator user_id=%s operator_id=%s", user_id, by.pk)
    return len(ids)


@transaction.atomic
def unlock_accounts(users: QuerySet[User], by: Any) -> int:
    """Let the accounts sign in again and forget their failed attempts."""
    count = 0
    for user in users:
        if not user.is_active:
            User.objects.filter(pk=user.pk).update(is_active=True)
            count += 1
        clear_failures(username_key(user.get_username()))
        log.info(
            "account unlocked by operator user_id=%s operator_id=%s", user.pk, by.pk
        )
    return count
