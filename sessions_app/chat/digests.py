"""Missed-message digests (Zulip's missed-message email).

A participant who had no socket open in the session's room when a message arrived
(``sessions_app.chat.presence``), and has not read it (their read cursor) ``DIGEST_DELAY`` later,
gets one email listing the session's messages they have not read since, never hidden ones; at
most one such email per session per ``DIGEST_MIN_INTERVAL``.

- ``digest_note_missed`` runs on commit of every new message: one statement marks a digest due
  for each absent participant who has none pending (nothing when everyone is in the room). A
  pending digest already covers every message after its first, so while this process knows one
  is pending for a participant (it marked or saw it, and its time has not come), noting a further
  message costs that participant nothing: no presence read, no statement;
- ``digests_send_due`` runs on the beat schedule: each due digest is taken under its row lock
  (``skip_locked``: several workers share the work, two beats cannot both send one), and
  becomes a notification (in-app row, push, email through the email worker), or nothing if
  everything has been read meanwhile.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from k12 import permissions
from k12.models import Booking
from k12.notifications import notification_create
from sessions_app.chat import presence
from sessions_app.models import MessageDigest, ReadCursor, SessionMessage

logger = logging.getLogger(__name__)

DIGEST_DELAY = timedelta(minutes=10)
DIGEST_MIN_INTERVAL = timedelta(hours=1)
DIGEST_MAX_MESSAGES = 50
BATCH = 500
# A pending digest is known to stay pending until its time, less this much: the beat's clock may
# run a little ahead of this process's.
PENDING_MARGIN = timedelta(minutes=1)
PENDING_MAX = 10_000  # remembered (session, user) pairs per process

# (session id, user id) -> the time the pending digest is due, as this process last saw it.
_pending: dict[tuple[str, str], datetime] = {}
_pending_lock = threading.Lock()


def _pending_remember(session_id, due: dict[str, datetime]) -> None:
    with _pending_lock:
        if len(_pending) + len(due) > PENDING_MAX:
            now = timezone.now()
            for key in [key for key, due_at in _pending.items() if due_at - PENDING_MARGIN <= now]:
                del _pending[key]
            if len(_pending) + len(due) > PENDING_MAX:
                _pending.clear()
        for user_id, due_at in due.items():
            _pending[(str(session_id), user_id)] = due_at


def _pending_forget(session_id, user_id) -> None:
    with _pending_lock:  # not while _pending_remember sweeps the entries
        _pending.pop((str(session_id), str(user_id)), None)


def forget_pending() -> None:
    """Forget every digest this process knows to be pending (the next message notes afresh)."""
    with _pending_lock:
        _pending.clear()


def _participant_ids(booking: Booking) -> set[str]:
    student = booking.student
    return {str(pk) for pk in (booking.tutor_id, student.parent_id, student.user_id) if pk is not None}


def digest_note_missed(*, message: SessionMessage, booking: Booking) -> None:
    """Called on commit of a new message: a digest becomes due for every participant (but the
    sender) with no socket in the room now and no digest pending. Never raises: the message is
    stored and delivered whatever happens here."""
    try:
        session_id, now = str(booking.pk), timezone.now()
        absent = {
            user_id
            for user_id in _participant_ids(booking) - {str(message.user_id)}
            if _pending.get((session_id, user_id), now) - PENDING_MARGIN <= now
        }
        if not absent:
            return
        present = presence.users_present(booking.pk)
        absent -= present or set()  # unknown presence: everyone counts as away
        if absent:
            due = _mark_due(booking.pk, sorted(absent), message.seq, message.created_at + DIGEST_DELAY)
            _pending_remember(booking.pk, due)
    except Exception:
        logger.exception("could not note missed message %s for digests", message.pk)


def _mark_due(session_id, user_ids: list[str], seq: int, due_at: datetime) -> dict[str, datetime]:
    """Each of ``user_ids`` gets a digest due at ``due_at`` from message ``seq`` on, unless one is
    pending already (it keeps its first message and time). Returns each user's pending time."""
    if connection.vendor == "postgresql":
        table = MessageDigest._meta.db_table
        rows = ", ".join(["(%s, %s, %s, %s, 0)"] * len(user_ids))
        params = [value for user_id in user_ids for value in (session_id, user_id, seq, due_at)]
        with connection.cursor() as cursor:
            # one statement: a new row, or a row with nothing pending, becomes due; a pending
            # one keeps its first message and time, which it answers with
            cursor.execute(
                f"INSERT INTO {table} AS d (session_id, user_id, first_seq, due_at, last_sent_seq) "  # noqa: S608
                f"VALUES {rows} ON CONFLICT (session_id, user_id) DO UPDATE "
                "SET first_seq = CASE WHEN d.due_at IS NULL THEN EXCLUDED.first_seq ELSE d.first_seq END, "
                "due_at = COALESCE(d.due_at, EXCLUDED.due_at) "
                "RETURNING d.user_id, d.due_at",
                params,
            )
            return {str(user_id): due for user_id, due in cursor.fetchall()}
    with transaction.atomic():
        MessageDigest.objects.bulk_create(
            [MessageDigest(session_id=session_id, user_id=u, first_seq=seq, due_at=due_at) for u in user_ids],
            ignore_conflicts=True,
        )
        pending = MessageDigest.objects.filter(session_id=session_id, user_id__in=user_ids)
        pending.filter(due_at__isnull=True).update(first_seq=seq, due_at=due_at)
        rows = pending.filter(due_at__isnull=False).values_list("user_id", "due_at")
        return {str(user_id): due for user_id, due in rows}


def digests_send_due(*, now: datetime | None = None) -> int:
    """Send every digest that is due. Returns how many emails were made."""
    now = now or timezone.now()
    due = MessageDigest.objects.filter(due_at__lte=now).order_by("due_at").values_list("pk", flat=True)
    return sum(digest_send(digest_id=pk, now=now) for pk in list(due[:BATCH]))


def digest_send(*, digest_id, now: datetime | None = None) -> int:
    """Send one due digest (1), or postpone or drop it (0)."""
    now = now or timezone.now()
    with transaction.atomic():
        digest = (
            MessageDigest.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("user", "session__student", "session__subject")
            .filter(pk=digest_id, due_at__lte=now)
            .first()
        )
        if digest is None:
            return 0  # sent, postponed or being sent by someone else
        _pending_forget(digest.session_id, digest.user_id)
        if digest.last_sent_at and now < digest.last_sent_at + DIGEST_MIN_INTERVAL:
            digest.due_at = digest.last_sent_at + DIGEST_MIN_INTERVAL
            digest.save(update_fields=["due_at"])
            return 0
        digest.due_at = None
        user, booking = digest.user, digest.session
        read = (
            ReadCursor.objects.filter(session=booking, user=user).values_list("last_read_seq", flat=True).first() or 0
        )
        unread = (
            SessionMessage.objects.filter(
                session=booking, seq__gt=max(read, digest.last_sent_seq, digest.first_seq - 1), hidden_at__isnull=True
            )
            .exclude(user=user)
            .select_related("user")
            .order_by("seq")
        )
        messages = list(unread[: DIGEST_MAX_MESSAGES + 1])
        if not messages or not user.is_active or not permissions.can_view_booking(user, booking):
            digest.save(update_fields=["due_at"])
            return 0
        shown = messages[:DIGEST_MAX_MESSAGES]
        lines = [f"{m.user.display_name} ({m.created_at:%H:%M} UTC): {m.text}" for m in shown]
        if len(messages) > DIGEST_MAX_MESSAGES:
            lines.append("... and more in the session's chat.")
        subject = booking.subject.name
        when = booking.starts_at.strftime("%Y-%m-%d %H:%M UTC")
        count = f"{len(shown)}{'+' if len(messages) > len(shown) else ''}"
        notification_create(
            user=user,
            kind="messages_missed",
            title=f"{count} unread message{'s' if len(messages) > 1 else ''} in {subject} ({when})",
            body="\n".join(lines),
            data={"sessionId": str(booking.pk), "count": len(shown), "upToSeq": shown[-1].seq},
        )
        digest.last_sent_at = now
        digest.last_sent_seq = messages[-1].seq
        digest.save(update_fields=["due_at", "last_sent_at", "last_sent_seq"])
    return 1
