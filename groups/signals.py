"""Every change to a group's members raises the group's roster version.

Receivers rather than calls in the services, so that every way a
membership goes through the ORM counts: joining, leaving, removal, a
transferred role, a user or group deleted with its memberships, the admin.
``members.add()`` makes its rows with bulk_create, which sends no post_save:
its own signal counts too. (``remove()`` and ``clear()`` delete through a
queryset, which sends post_delete for each row.) A membership saved with
another group or user leaves the group (or user) it had: the group it had
counts too (``previous``). ``QuerySet.update()`` sends no signal at all: a
change of a membership's group or user made that way must raise the
versions itself, like raw SQL.
"""

from typing import Any

from django.db.models import F
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver

from groups.models import Group, Membership

# Where pre_save keeps the (group, user) a saved membership had before.
_PREVIOUS = "_hw_previous_member"
_WHO = frozenset({"group", "group_id", "user", "user_id"})


@receiver(pre_save, sender=Membership, dispatch_uid="hw-roster-saving")
def remember_previous(
    sender: type,
    instance: Membership,
    update_fields: frozenset[str] | None,
    using: str,
    **kwargs: Any,
) -> None:
    """Read the group and user a membership about to be saved had, when the
    save may change them: not for a row without an id yet, nor a save of
    other fields only."""
    was: tuple[str, int] | None = None
    if instance.pk is not None and (update_fields is None or update_fields & _WHO):
        was = (
            Membership.objects.using(using)
            .filter(pk=instance.pk)
            .values_list("group_id", "user_id")
            .first()
        )
    vars(instance)[_PREVIOUS] = was


def previous(instance: Membership) -> tuple[str, int] | None:
    """The (group, user) a membership just saved had before, if that save
    changed either; None for a new one or an unchanged one."""
    was: tuple[str, int] | None = vars(instance).get(_PREVIOUS)
    if was is None or was == (instance.group_id, instance.user_id):
        return None
    return was


@receiver(post_save, sender=Membership, dispatch_uid="hw-roster-saved")
def roster_saved(sender: type, instance: Membership, **kwargs: Any) -> None:
    was = previous(instance)
    # One group at a time, in id order, as other changes of several groups
    # take their locks.
    for group in sorted({instance.group_id, *([was[0]] if was else [])}):
        Group.objects.filter(pk=group).update(roster_version=F("roster_version") + 1)


@receiver(post_delete, sender=Membership, dispatch_uid="hw-roster-deleted")
def roster_changed(sender: type, instance: Membership, **kwargs: Any) -> None:
    Group.objects.filter(pk=instance.group_id).update(
        roster_version=F("roster_version") + 1
    )


def added_by_manager(
    instance: Any, action: str, reverse: bool, pk_set: set[Any] | None, **_: Any
) -> list[tuple[int, str]]:
    """The (user, group) memberships a ``members.add()`` made, from its
    m2m_changed signal; none for any other action."""
    if action != "post_add" or not pk_set:
        return []
    if reverse:  # user.chat_groups.add(group, ...)
        return [(instance.pk, group) for group in sorted(pk_set)]
    return [(user, instance.pk) for user in sorted(pk_set)]


@receiver(m2m_changed, sender=Group.members.through, dispatch_uid="hw-roster-added")
def roster_added(sender: type, **kwargs: Any) -> None:
    # One group at a time, in id order, as other changes of several groups
    # take their locks.
    for group in sorted({group for _, group in added_by_manager(**kwargs)}):
        Group.objects.filter(pk=group).update(roster_version=F("roster_version") + 1)
