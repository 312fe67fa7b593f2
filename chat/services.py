"""Storing and reading encrypted messages."""

import logging
from collections.abc import Sequence
from contextlib import nullcontext, suppress
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from accounts.models import User
from chat.events import publish_to_members
from chat.models import Message
from chat.retention import expiry_for, server_retention_days
from groups.models import Group, Membership
from hashwhisper.crypto import b64encode
from hashwhisper.statements import Columns, written_once
from media_vault.services import attach_blobs

log = logging.getLogger("hashwhisper.chat")


class NonceReused(Exception):
    """The group already holds a message with this nonce."""


class OldEpoch(Exception):
    """The message was sealed for another key epoch than the group's."""

    def __init__(self, stated: int, current: int) -> None:
        super().__init__(f"epoch {stated} is not the current epoch {current}")
        self.stated = stated
        self.current = current


def message_json(message: Message, sender_name: str) -> dict[str, Any]:
    return _message_json(
        message.id,
        message.group_id,
        message.sender_id,
        sender_name,
        message.epoch,
        message.ciphertext,
        message.nonce,
        message.tag,
        message.created_at,
        message.expires_at,
    )


def _message_json(
    message_id: int,
    group_id: str,
    sender_id: int,
    sender_name: str,
    epoch: int,
    ciphertext: bytes | memoryview,
    nonce: bytes | memoryview,
    tag: bytes | memoryview,
    created_at: datetime,
    expires_at: datetime,
) -> dict[str, Any]:
    """A message as the API and the live events show it."""
    return {
        "id": message_id,
        "group": group_id,
        "sender": sender_id,
        "sender_name": sender_name,
        "epoch": epoch,
        "ciphertext": b64encode(ciphertext),
        "nonce": b64encode(nonce),
        "tag": b64encode(tag),
        "created_at": created_at.isoformat(),
        "expires_at": expires_at.isoformat(),
    }


class NotMember(Exception):
    """The sender is not a member of the group, or there is no such group."""


class RosterChanged(Exception):
    """The one-statement post stored nothing: the group's members changed
    between its snapshot and its lock (``_INSERT``)."""


def post_message(
    group_id: str,
    sender: User,
    ciphertext: bytes,
    nonce: bytes,
    tag: bytes,
    *,
    epoch: int,
    blob_ids: Sequence[str] = (),
) -> Message:
    """Store a message the sender sealed with the key of ``epoch``.

    The group row is locked first; the sender's membership, the epoch and
    the live event's recipients are then checked as they are once the lock
    is held. A rotation, a removal and a join take the same lock, so a post
    that started before one of them committed (and then waited for the
    lock) is refused for the old key, is refused if its sender was the one
    removed, and lists exactly the members after the change.

    On PostgreSQL a message without attachments is stored by one statement
    (``_insert_in_one_statement``) unless the members changed while it
    waited; then, and for everything else, the ORM's way through a
    transaction. Both follow the rules above.
    """
    inserted: tuple[Message, list[int]] | None = None
    if not blob_ids and connections[Message.objects.db].vendor == "postgresql":
        # RosterChanged: the statement stored nothing, as the members its
        # snapshot saw are no longer the group's. Done again, under the lock.
        with suppress(RosterChanged):
            inserted = _insert_in_one_statement(
                group_id, sender, ciphertext, nonce, tag, epoch
            )
    if inserted is not None:
        message, recipients = inserted
        publish_to_members(
            group_id,
            "message",
            message_json(message, sender.get_username()),
            recipients,
        )
    else:
        message = _insert_in_transaction(
            group_id, sender, ciphertext, nonce, tag, epoch, blob_ids
        )
    log.info(
        "message stored id=%s group=%s size=%s", message.id, group_id, len(ciphertext)
    )
    return message


def _insert_in_transaction(
    group_id: str,
    sender: User,
    ciphertext: bytes,
    nonce: bytes,
    tag: bytes,
    epoch: int,
    blob_ids: Sequence[str],
) -> Message:
    try:
        with transaction.atomic():
            # The lock first, the membership after it: a query that joined
            # the membership to the locked row would, after waiting for a
            # removal, still see the removed membership (PostgreSQL re-reads
            # only the locked row), and store a removed member's message.
            group = (
                Group.objects.select_for_update(no_key=True).filter(pk=group_id).first()
            )
            if group is None or not is_member(group_id, sender):
                raise NotMember
            if epoch != group.epoch:
                raise OldEpoch(epoch, group.epoch)
            message = Message.objects.create(
                group=group,
                sender=sender,
                epoch=epoch,
                ciphertext=ciphertext,
                nonce=nonce,
                tag=tag,
                expires_at=expiry_for(group),
            )
            attach_blobs(message, sender, blob_ids)
            publish_to_members(
                group.id, "message", message_json(message, sender.get_username())
            )
    except IntegrityError as exc:
        raise NonceReused from exc
    return message


# The lock, the checks, the insert and the live event's recipients in one
# statement, so a post costs the database one round trip instead of five
# (BEGIN, lock, insert, COMMIT, members). The lock is held until the
# statement ends; after waiting for it, PostgreSQL re-reads the locked group
# row, so the epoch compared is the one a rotation just committed. The
# sender's membership and the members, though, are read as the statement's
# snapshot saw them, which may be from before a change that committed while
# the post waited: a removed sender would still pass, and a joined member
# be left out. So the message is only stored when the locked row's roster
# version is still the snapshot's (groups.models.Group.roster_version);
# otherwise nothing is stored and the caller takes the transaction's way.
# The expiry is chat.retention.retention_days() in SQL: the group's choice,
# never past the server's. No row back: not a member (or no such group); a
# row without an id: the epoch was not the group's, or the members changed.
_INSERT = """
WITH chosen AS (
    SELECT g.id, g.epoch, g.retention_days, g.roster_version
    FROM "groups_group" g
    JOIN "groups_membership" m ON m.group_id = g.id AND m.user_id = %(sender)s
    WHERE g.id = %(group)s
    FOR NO KEY UPDATE OF g
), seen AS (
    SELECT chosen.*, chosen.roster_version = (
        SELECT roster_version FROM "groups_group" WHERE id = %(group)s
    ) AS same_roster
    FROM chosen
), stored AS (
    INSERT INTO "chat_message"
        (group_id, sender_id, epoch, ciphertext, nonce, tag, created_at, expires_at)
    SELECT id, %(sender)s, epoch, %(ciphertext)s, %(nonce)s, %(tag)s, %(now)s,
           %(now)s + make_interval(
               days => LEAST(COALESCE(retention_days, %(days)s), %(days)s))
    FROM seen
    WHERE epoch = %(epoch)s AND same_roster
    RETURNING id, expires_at
)
SELECT seen.epoch, seen.same_roster, stored.id, stored.expires_at,
    CASE WHEN stored.id IS NOT NULL THEN ARRAY(
        SELECT user_id FROM "groups_membership" WHERE group_id = %(group)s
    ) END
FROM seen LEFT JOIN stored ON true
"""


def _insert_in_one_statement(
    group_id: str,
    sender: User,
    ciphertext: bytes,
    nonce: bytes,
    tag: bytes,
    epoch: int,
) -> tuple[Message, list[int]]:
    """The stored message and its recipients (see ``_INSERT``); raises
    ``RosterChanged``, having stored nothing, if the members changed while
    the statement waited for the group's lock."""
    now = timezone.now()
    alias = Message.objects.db
    params: dict[str, Any] = {
        "group": group_id,
        "sender": sender.pk,
        "ciphertext": ciphertext,
        "nonce": nonce,
        "tag": tag,
        "now": now,
        "days": server_retention_days(),
        "epoch": epoch,
    }
    connection = connections[alias]
    try:
        # Inside a caller's transaction, a savepoint keeps a refused insert
        # from aborting it; on its own the statement needs none.
        with (
            transaction.atomic(using=alias)
            if connection.in_atomic_block
            else nullcontext(),
            connection.cursor() as cursor,
        ):
            cursor.execute(_INSERT, params)
            found = cursor.fetchone()
    except IntegrityError as exc:
        # Taken for the nonce constraint, as on the transaction's way. Not
        # told apart: a sender deleted at that very moment (the foreign key)
        # would also be answered 409 rather than 404.
        raise NonceReused from exc
    if found is None:
        raise NotMember
    current, same_roster, message_id, expires_at, recipients = found
    if message_id is None:
        if current == epoch and not same_roster:
            raise RosterChanged
        raise OldEpoch(epoch, current)
    message = Message(
        id=message_id,
        group_id=group_id,
        sender=sender,
        epoch=epoch,
        ciphertext=ciphertext,
        nonce=nonce,
        tag=tag,
        created_at=now,
        expires_at=expires_at,
    )
    message._state.adding = False
    message._state.db = alias
    return message, recipients


class _PageStatements:
    """A history page's three statements, written out once
    (``hashwhisper.statements``): the newest page, the page before a cursor,
    the page after one.

    Membership is part of the statement (an uncorrelated EXISTS, which
    PostgreSQL evaluates once), and the page is read in id order through an
    index, newest first or oldest first.
    """

    def __init__(self, connection: Any) -> None:
        quote = connection.ops.quote_name
        message = Message._meta
        membership = Membership._meta
        self.columns = Columns(
            connection,
            [
                ("m", Message, PAGE_FIELDS),
                ("u", User, [User.USERNAME_FIELD]),
            ],
        )

        def column(meta: Any, name: str) -> str:
            return quote(meta.get_field(name).column)

        member = quote(membership.db_table)
        # Names from the models' metadata, quoted; values are parameters.
        base = (
            f"SELECT {self.columns.sql}"  # noqa: S608
            f" FROM {quote(message.db_table)} m"
            f" INNER JOIN {quote(User._meta.db_table)} u"
            f" ON u.{quote(User._meta.pk.column)} = m.{column(message, 'sender')}"
            f" WHERE m.{column(message, 'group')} = %s"
            f" AND m.{column(message, 'expires_at')} > %s"
            f" AND EXISTS (SELECT 1 FROM {member}"
            f" WHERE {member}.{column(membership, 'group')} = %s"
            f" AND {member}.{column(membership, 'user')} = %s)"
        )
        message_id = f"m.{quote(message.pk.column)}"
        self.newest = f"{base} ORDER BY {message_id} DESC LIMIT %s"
        self.before = (
            f"{base} AND {message_id} < %s ORDER BY {message_id} DESC LIMIT %s"
        )
        self.after = f"{base} AND {message_id} > %s ORDER BY {message_id} ASC LIMIT %s"


PAGE_FIELDS = [
    "id",
    "group",
    "sender",
    "epoch",
    "ciphertext",
    "nonce",
    "tag",
    "created_at",
    "expires_at",
]


def page_statements(alias: str) -> _PageStatements:
    return written_once("history page", alias, _PageStatements)


def history(
    group_id: str,
    reader: User,
    *,
    before: int | None = None,
    after: int | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """A page of unexpired messages (as ``message_json`` shows them), oldest
    first, and whether more exist.

    ``before`` pages backwards from a cursor (scrolling up); ``after`` reads
    forwards (catching up after a reconnect). Without either, the newest page.

    The reader's membership is part of the page's query, so a page costs one
    query; only an empty page asks again, to tell "no such group, or not
    yours" (``NotMember``) from a group with nothing to show.
    """
    size = settings.HASHWHISPER_PAGE_SIZE
    alias = router.db_for_read(Message)
    connection = connections[alias]
    statements = page_statements(alias)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params: list[Any] = [group_id, now, group_id, reader.pk]
    if after is not None:
        sql, params = statements.after, [*params, after, size + 1]
    elif before is not None:
        sql, params = statements.before, [*params, before, size + 1]
    else:
        sql, params = statements.newest, [*params, size + 1]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows and not is_member(group_id, reader):
        raise NotMember
    more = len(rows) > size
    page = [
        _page_json(statements.columns.convert(row, connection)) for row in rows[:size]
    ]
    return (page if after is not None else page[::-1]), more


def _page_json(values: list[Any]) -> dict[str, Any]:
    message_id, group, sender, epoch, ciphertext, nonce, tag, created, expires, name = (
        values
    )
    return _message_json(
        message_id, group, sender, name, epoch, ciphertext, nonce, tag, created, expires
    )


def is_member(group_id: str, user: User) -> bool:
    return Membership.objects.filter(group_id=group_id, user=user).exists()
