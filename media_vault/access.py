"""One access check per blob role: missing and forbidden look alike.

Ids are checked against their exact shape before any query, so path
separators, dots and other characters never reach the database or a path.
"""

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from groups.models import GROUP_ID_PATTERN
from hashwhisper.api import ApiError
from media_vault.models import BLOB_ID_PATTERN, Blob

NOT_FOUND = "No such file."


def member_blobs(user: User, group_id: str, blob_id: str) -> QuerySet[Blob]:
    # fullmatch: match() would pass an id followed by anything (a NUL byte,
    # which PostgreSQL refuses in a query, made that a 500).
    if not (
        GROUP_ID_PATTERN.fullmatch(group_id) and BLOB_ID_PATTERN.fullmatch(blob_id)
    ):
        raise ApiError(404, NOT_FOUND)
    return Blob.objects.filter(
        pk=blob_id,
        group_id=group_id,
        group__memberships__user=user,
        expires_at__gt=timezone.now(),
    )


def blob_for_member(user: User, group_id: str, blob_id: str) -> Blob:
    """A complete, unexpired blob of a group the user belongs to."""
    blob = member_blobs(user, group_id, blob_id).filter(state=Blob.State.STORED).first()
    if blob is None:
        raise ApiError(404, NOT_FOUND)
    return blob


def blob_for_uploader(user: User, group_id: str, blob_id: str) -> Blob:
    """An unexpired blob the user reserved in a group they still belong to."""
    blob = member_blobs(user, group_id, blob_id).filter(uploader=user).first()
    if blob is None:
        raise ApiError(404, NOT_FOUND)
    return blob
