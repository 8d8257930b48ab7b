"""Reads inside a session."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, IntegerField, Max, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from k12.errors import field_error
from k12.models import Booking
from k12.permissions import parse_uuid
from sessions_app.models import ReadCursor, SessionMessage


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A message as pages read it: plain values, no model instances (a page of 200 messages
    built as model objects cost more than the query itself)."""

    id: uuid.UUID
    seq: int
    text: str
    created_at: datetime
    user_id: uuid.UUID
    first_name: str
    last_name: str
    hidden_at: datetime | None


ROW_FIELDS = ("id", "seq", "text", "created_at", "user_id", "user__first_name", "user__last_name", "hidden_at")


# (id, seq, text, created_at, user_id, first_name, last_name, hidden) with the ids and the time
# already rendered as text by PostgreSQL: what wire_page returns.
WireRow = tuple[str, int, str, str, str, str, str, bool]


@dataclass(frozen=True)
class MessagePage:
    messages: list[MessageRow]  # oldest first
    has_older: bool
    has_newer: bool


def _messages_of(booking: Booking) -> QuerySet[SessionMessage]:
    return SessionMessage.objects.filter(session=booking)


def _rows(qs: QuerySet[SessionMessage]) -> list[MessageRow]:
    return [MessageRow(*values) for values in qs.values_list(*ROW_FIELDS)]


def _cursor_seq(booking: Booking, name: str, message_id) -> int:
    pk = parse_uuid(message_id)
    if pk is None:
        raise field_error(name, "Must be a message id (UUID).")
    # order_by(): a primary-key lookup needs no order, and the model's default one ("session",
    # "seq") would join k12_booking and sort by its starts_at just to pick the one row.
    seq = SessionMessage.objects.filter(session=booking, pk=pk).values_list("seq", flat=True).order_by().first()
    if seq is None:
        raise field_error(name, "No such message in this session.")
    return seq


def messages_page(booking: Booking, *, before=None, after=None, limit: int = 100) -> MessagePage:
    """One page of a session's chat, oldest first.

    No cursor: the newest ``limit`` messages. ``before=<id>``: the ``limit`` messages just older
    than that one. ``after=<id>``: the ``limit`` messages just newer. Each page is one range scan
    of the (session, seq) index, whatever the length of the history; a cursor costs one primary
    key lookup. Unknown or malformed cursors raise a 400 field error.
    """
    if before is not None and after is not None:
        raise field_error("before", "Use either before or after, not both.")
    qs = _messages_of(booking)
    if after is not None:
        seq = _cursor_seq(booking, "after", after)
        rows = _rows(qs.filter(seq__gt=seq).order_by("seq")[: limit + 1])
        has_newer = len(rows) > limit
        return MessagePage(rows[:limit], has_older=True, has_newer=has_newer)
    if before is not None:
        seq = _cursor_seq(booking, "before", before)
        qs = qs.filter(seq__lt=seq)
    rows = _rows(qs.order_by("-seq")[: limit + 1])
    has_older = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    return MessagePage(rows, has_older=has_older, has_newer=before is not None)


def messages_after(booking: Booking, after=None, *, limit: int = 200) -> list[MessageRow]:
    """What a (re)joining live client missed: messages after ``after`` (all recent ones without
    it), oldest first, at most ``limit`` (the client pages on by REST when it gets a full page)."""
    if after is None:
        return messages_page(booking, limit=limit).messages
    return messages_page(booking, after=after, limit=limit).messages


def sessions_with_unread(qs: QuerySet[Booking], user) -> QuerySet[Booking]:
    """Annotate each session with ``unread``: messages from others, not hidden, after the user's
    read cursor. One correlated subquery in the same statement (an index range scan of
    (session, seq) per session): the list stays one query whatever its length."""
    cursor = ReadCursor.objects.filter(session=OuterRef("session"), user=user).values("last_read_seq")[:1]
    unread = (
        SessionMessage.objects.filter(
            session=OuterRef("pk"),
            hidden_at__isnull=True,
            seq__gt=Coalesce(Subquery(cursor), Value(0), output_field=IntegerField()),
        )
        .exclude(user=user)
        .order_by()
        .values("session")
        .annotate(n=Count("*"))
        .values("n")
    )
    return qs.annotate(unread=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)))


def last_committed_seq(booking: Booking) -> int:
    """The seq of the session's newest committed message (0 without any): an index-only look at
    the end of (session, seq). Not ``Booking.last_message_seq``, which also counts messages
    whose transaction has not committed yet."""
    return SessionMessage.objects.filter(session=booking).aggregate(m=Max("seq"))["m"] or 0


def messages_in_range(session_id, *, after_seq: int, upto_seq: int, limit: int = 1000) -> list[MessageRow]:
    """Messages with after_seq < seq <= upto_seq, oldest first (a live room's gap fill)."""
    qs = SessionMessage.objects.filter(session_id=session_id, seq__gt=after_seq, seq__lte=upto_seq)
    return _rows(qs.order_by("seq")[:limit])


def _wire_page_sql(where: str, order: str) -> str:
    messages = SessionMessage._meta.db_table
    users = SessionMessage._meta.get_field("user").related_model._meta.db_table
    return (
        "SELECT m.id::text, m.seq, m.text, "  # noqa: S608
        """to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), """
        "m.user_id::text, u.first_name, u.last_name, m.hidden_at IS NOT NULL "
        f"FROM {messages} m JOIN {users} u ON u.id = m.user_id "
        f"WHERE m.session_id = %s {where} ORDER BY m.seq {order} LIMIT %s"
    )


_WIRE_PAGE_SQL = {
    "newest": _wire_page_sql("", "DESC"),
    "before": _wire_page_sql("AND m.seq < %s", "DESC"),
    "after": _wire_page_sql("AND m.seq > %s", "ASC"),
}


def wire_page(session_id: uuid.UUID, *, before_seq: int | None, after_seq: int | None, limit: int):
    """``messages_page`` for PostgreSQL with the rows rendered as text by the database (no UUID
    or datetime objects built only to be printed again): the REST hot path
    (sessions_app.message_fastpath). Same pages, same order, same index range scan. Returns
    ``(rows oldest first, has_older, has_newer)``; the cursors are seqs, already resolved."""
    from django.db import connection

    if after_seq is not None:
        sql, params = _WIRE_PAGE_SQL["after"], [session_id, after_seq, limit + 1]
    elif before_seq is not None:
        sql, params = _WIRE_PAGE_SQL["before"], [session_id, before_seq, limit + 1]
    else:
        sql, params = _WIRE_PAGE_SQL["newest"], [session_id, limit + 1]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    if after_seq is not None:
        return rows, True, more
    rows.reverse()
    return rows, more, before_seq is not None
