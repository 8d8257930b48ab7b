"""Reads inside a session.

``messages_page`` is the one page selector of the chat: REST's GET and the live room's gap fill
read messages through its query (``room_join_read`` reads the same page together with the
session a socket joins), and ``payloads.row_payload`` renders its rows, once. The rows come out
of the database already as the text that goes on the wire (ids and times are rendered by the
database: no UUID or datetime objects are built only to be printed again), which is what makes
a page cheap whatever its size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from k12.errors import field_error
from k12.models import Booking, Student, User
from k12.permissions import parse_uuid
from k12.selectors import ModelRows, db_id
from sessions_app.models import ReadCursor, SessionMessage

# A message as the page selector returns it: (id, seq, text, created_at, user_id, first_name,
# last_name, hidden), the id, time and user id already text (ISO 8601 UTC with six fractional
# digits and a Z, as k12.formats.iso writes it).
MessageRow = tuple[str, int, str, str, str, str, str, bool]
SEQ, HIDDEN = 1, 7  # the row's seq and hidden columns


@dataclass(frozen=True)
class MessagePage:
    messages: list[MessageRow]  # oldest first
    has_older: bool
    has_newer: bool


# How each database renders a UUID and a time as the wire's text.
_RENDER = {
    "postgresql": {
        "uuid": "{}::text",
        "time": """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""",
    },
    # SQLite keeps a UUID as 32 hex digits and a time as 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC.
    "sqlite": {
        "uuid": "(substr({0},1,8)||'-'||substr({0},9,4)||'-'||substr({0},13,4)||'-'||substr({0},17,4)||'-'"
        "||substr({0},21,12))",
        "time": "(replace({0},' ','T')||CASE WHEN length({0})=19 THEN '.000000' ELSE '' END||'Z')",
    },
}

# The page's shapes: (condition on m, order). %(cursor)s is a message id of the session whose
# seq bounds the page; a cursor that is not a message of the session gives an empty page.
_SHAPES = {
    "newest": ("", "DESC"),
    "before": (
        "AND m.seq < (SELECT c.seq FROM {messages} c WHERE c.id = %(cursor)s AND c.session_id = %(session)s)",
        "DESC",
    ),
    "after": (
        "AND m.seq > (SELECT c.seq FROM {messages} c WHERE c.id = %(cursor)s AND c.session_id = %(session)s)",
        "ASC",
    ),
    "range": ("AND m.seq > %(after_seq)s AND m.seq <= %(upto_seq)s", "ASC"),
}
_SQL: dict[tuple[str, str], str] = {}


def _page_sql(vendor: str, shape: str) -> str:
    sql = _SQL.get((vendor, shape))
    if sql is None:
        render = _RENDER[vendor]
        messages, users = SessionMessage._meta.db_table, User._meta.db_table
        where, order = _SHAPES[shape]
        sql = (
            f"SELECT {render['uuid'].format('m.id')} AS m_id, m.seq AS m_seq, m.text AS m_text, "  # noqa: S608
            f"{render['time'].format('m.created_at')} AS m_created_at, {render['uuid'].format('m.user_id')} AS m_user, "
            "u.first_name AS m_first_name, u.last_name AS m_last_name, m.hidden_at IS NOT NULL AS m_hidden "
            f"FROM {messages} m JOIN {users} u ON u.id = m.user_id "
            f"WHERE m.session_id = %(session)s {where.format(messages=messages)} "
            f"ORDER BY m.seq {order} LIMIT %(limit)s"
        )
        _SQL[(vendor, shape)] = sql
    return sql


# A page as one JSON array of rows (the page query's columns in order), for reading it as a column
# of another query.
_COLUMNS = "p.m_id, p.m_seq, p.m_text, p.m_created_at, p.m_user, p.m_first_name, p.m_last_name, p.m_hidden"
_AGGREGATE = {  # constant text, as every statement here: the values are parameters
    "postgresql": f"(SELECT json_agg(json_build_array({_COLUMNS}))::text FROM ({{page}}) p)",  # noqa: S608
    "sqlite": f"(SELECT json_group_array(json_array({_COLUMNS})) FROM ({{page}}) p)",  # noqa: S608
}
_session_rows = ModelRows((Booking, "b"), (Student, "s"))
_JOIN_SQL: dict[tuple[str, str | None], str] = {}


def _join_sql(vendor: str, shape: str | None) -> str:
    """The session and its student, the newest seq, the cursor's seq (shape "after") and the page
    (None: no page, the cursor is malformed), by ``%(session)s``, ``%(cursor)s``, ``%(limit)s``."""
    sql = _JOIN_SQL.get((vendor, shape))
    if sql is None:
        messages = SessionMessage._meta.db_table
        cursor = f"(SELECT c.seq FROM {messages} c WHERE c.id = %(cursor)s AND c.session_id = b.id)"  # noqa: S608
        page = _AGGREGATE[vendor].format(page=_page_sql(vendor, shape)) if shape else "NULL"
        sql = _JOIN_SQL[(vendor, shape)] = (
            f"SELECT {_session_rows.columns()}, "  # noqa: S608 - constant text; values are parameters
            f"COALESCE((SELECT n.seq FROM {messages} n WHERE n.session_id = b.id ORDER BY n.seq DESC LIMIT 1), 0), "
            f"{cursor if shape == 'after' else 'NULL'}, {page} "
            f"FROM {Booking._meta.db_table} b JOIN {Student._meta.db_table} s ON s.id = b.student_id "
            "WHERE b.id = %(session)s"
        )
    return sql


def _rows(shape: str, **params) -> list[MessageRow]:
    params = {name: db_id(value) if name in ("session", "cursor") else value for name, value in params.items()}
    with connection.cursor() as cursor:
        cursor.execute(_page_sql(connection.vendor, shape), params)
        return cursor.fetchall()


def _cursor_id(booking_id, name: str, message_id):
    pk = parse_uuid(message_id)
    if pk is None:
        raise field_error(name, "Must be a message id (UUID).")
    return pk


def _check_cursor(booking_id, name: str, pk) -> None:
    """A page came back empty: was its cursor a message of this session at all? (Only asked
    then: a full page proves it was.)"""
    if not SessionMessage.objects.filter(session_id=booking_id, pk=pk).order_by().exists():
        raise field_error(name, "No such message in this session.")


def _page(shape: str, rows: list[MessageRow], limit: int) -> MessagePage:
    """The page from the ``limit + 1`` rows its query read (in the query's order)."""
    if shape == "after":
        return MessagePage(rows[:limit], has_older=True, has_newer=len(rows) > limit)
    page = rows[:limit]
    page.reverse()
    return MessagePage(page, has_older=len(rows) > limit, has_newer=shape == "before")


def messages_page(booking_id, *, before=None, after=None, limit: int = 100) -> MessagePage:
    """One page of a session's chat, oldest first.

    No cursor: the newest ``limit`` messages. ``before=<id>``: the ``limit`` messages just older
    than that one. ``after=<id>``: the ``limit`` messages just newer. One query, a range scan of
    the (session, seq) index whatever the length of the history (the cursor's seq is a primary
    key lookup inside it). A malformed cursor, or one that is not a message of this session, is
    a 400 field error.
    """
    if before is not None and after is not None:
        raise field_error("before", "Use either before or after, not both.")
    if after is not None or before is not None:
        shape = "after" if after is not None else "before"
        cursor = _cursor_id(booking_id, shape, after if after is not None else before)
        rows = _rows(shape, session=booking_id, cursor=cursor, limit=limit + 1)
        if not rows:
            _check_cursor(booking_id, shape, cursor)
        return _page(shape, rows, limit)
    return _page("newest", _rows("newest", session=booking_id, limit=limit + 1), limit)


@dataclass(frozen=True)
class RoomJoin:
    """What a socket joining a session's live room reads (``room_join_read``)."""

    booking: Booking | None  # with its student; None: there is no such session
    newest_seq: int  # the newest committed message's seq when the page was read (0: none)
    rows: list[MessageRow] = field(repr=False)
    shape: str
    limit: int
    cursor_error: str | None  # why `after` is not a cursor of this session

    def page(self) -> MessagePage:
        """``messages_page``'s page; its 400 field error for a cursor that is not a message of
        the session (asked only once the access rule has let the user in)."""
        if self.cursor_error is not None:
            raise field_error("after", self.cursor_error)
        return _page(self.shape, self.rows, self.limit)


def room_join_read(session_id, *, after=None, limit: int = 100) -> RoomJoin:
    """The session with what the access rule asks about, ``messages_page``'s page (the newest
    ``limit`` messages, or with ``after`` the ``limit`` just newer than that message) and the
    newest committed message's seq, in one query: one consistent view, and a socket's join (the
    thing a reconnecting room does a thousand times at once) costs one round trip and no query
    compilation."""
    pk = parse_uuid(session_id)
    if pk is None:
        return RoomJoin(None, 0, [], "newest", limit, None)
    shape, cursor, cursor_error = "newest", None, None
    if after is not None:
        shape, cursor = "after", parse_uuid(after)
        if cursor is None:
            cursor_error = "Must be a message id (UUID)."
    params = {"session": db_id(pk), "limit": limit + 1}
    if cursor is not None:
        params["cursor"] = db_id(cursor)
    with connection.cursor() as db:
        db.execute(_join_sql(connection.vendor, None if cursor_error else shape), params)
        row = db.fetchone()
    if row is None:
        return RoomJoin(None, 0, [], shape, limit, None)
    (booking, student), (newest_seq, cursor_seq, page) = _session_rows.objects(row)
    booking.student = student
    if cursor is not None and cursor_seq is None:
        cursor_error = "No such message in this session."
    rows = [tuple(item) for item in json.loads(page or "[]")]
    # the page query's order (an aggregate's is not guaranteed): by seq, newest first for "newest"
    rows.sort(key=lambda item: item[SEQ], reverse=shape == "newest")
    return RoomJoin(booking, newest_seq, rows, shape, limit, cursor_error)


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


def session_unread(booking: Booking, user) -> int:
    """``unread`` of one session for ``user`` (as in the sessions list)."""
    annotated = sessions_with_unread(Booking.objects.filter(pk=booking.pk), user)
    return annotated.values_list("unread", flat=True)[0]


def messages_in_range(session_id, *, after_seq: int, upto_seq: int, limit: int = 1000) -> list[MessageRow]:
    """Messages with after_seq < seq <= upto_seq, oldest first (a live room's gap fill): the
    page selector's rows, bounded by seqs instead of a message id."""
    return _rows("range", session=session_id, after_seq=after_seq, upto_seq=upto_seq, limit=limit)
