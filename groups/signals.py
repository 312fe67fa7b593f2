"""Every change to a group's members raises the group's roster version.

Receivers rather than calls in the services, so that every way a
membership goes through the ORM counts: joining, leaving, removal, a
transferred role, a user or group deleted with its memberships, the admin.
``members.add()`` makes its rows with bulk_create, which sends no post_save:
its own signal counts too. (``remove()`` and ``clear()`` delete through a
queryset, which sends post_delete for each row.)
"""

from typing import Any

from django.db.models import F
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from groups.models import Group, Membership


@receiver(post_save, sender=Membership, dispatch_uid="hw-roster-saved")
@receiver(post_delete, sender=Membership, dispatch_uid="hw-roster-deleted")
def roster_changed(sender: type, instance: Membership, **kwargs: Any) -> None:
    Group.objects.filter(pk=instance.group_id).update(
        roster_version=F("roster_version") + 1
    )


@receiver(m2m_changed, sender=Group.members.through, dispatch_uid="hw-roster-added")
def roster_added(
    sender: type,
    instance: Any,
    action: str,
    reverse: bool,
    pk_set: set[Any] | None,
    **kwargs: Any,
) -> None:
    if action != "post_add" or not pk_set:
        return
    # Forward (group.members.add(user)): the one group. Reverse
    # (user.chat_groups.add(group)): the groups added.
    groups = pk_set if reverse else {instance.pk}
    Group.objects.filter(pk__in=groups).update(roster_version=F("roster_version") + 1)
