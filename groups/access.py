"""One access check per protected object: missing and forbidden look alike."""

from accounts.models import User
from groups.models import GROUP_ID_PATTERN, Group, Membership
from hashwhisper.api import ApiError

NOT_FOUND = "No such group."


def check_group_id(group_id: str) -> None:
    """Refuse, as "no such group", an id that no group can have."""
    if not GROUP_ID_PATTERN.fullmatch(group_id):
        raise ApiError(404, NOT_FOUND)


def group_by_id(group_id: str) -> Group:
    check_group_id(group_id)
    group = Group.objects.filter(pk=group_id).first()
    if group is None:
        raise ApiError(404, NOT_FOUND)
    return group


def group_for_member(user: User, group_id: str) -> tuple[Group, Membership]:
    check_group_id(group_id)
    membership = (
        Membership.objects.select_related("group")
        .filter(group_id=group_id, user=user)
        .first()
    )
    if membership is None:
        raise ApiError(404, NOT_FOUND)
    return membership.group, membership
