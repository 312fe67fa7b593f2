"""Every change to a group's members raises the group's roster version.

Receivers rather than calls in the services, so that every way a
membership goes through the ORM counts: joining, leaving, removal, a
transferred role, a user or group deleted with its memberships, the admin.
"""

from typing import Any

from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from groups.models import Group, Membership


@receiver(post_save, sender=Membership, dispatch_uid="hw-roster-saved")
@receiver(post_delete, sender=Membership, dispatch_uid="hw-roster-deleted")
def roster_changed(sender: type, instance: Membership, **kwargs: Any) -> None:
    Group.objects.filter(pk=instance.group_id).update(
        roster_version=F("roster_version") + 1
    )
