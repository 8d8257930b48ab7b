"""Writes inside a session. ``message_create`` is the one way a chat message comes to exist:
REST, the WebSocket consumer and anything else call it."""

from __future__ import annotations

import json
import logging
import uuid

from django.db import connection, transaction
from django.utils import timezone

from k12 import permissions, realtime
from k12.errors import Forbidden, NotFound, field_error
from k12.models import Booking, User
from sessions_app.chat import digests, moderation
from sessions_app.chat.payloads import message_payload
from sessions_app.models import ReadCursor, SessionMessage

logger = logging.getLogger(__name__)

# The longest message, in characters after trimming: the one place the limit is stated (the API
# schema, the web client's composer and both live protocols read it from here).
MAX_MESSAGE_LENGTH = 2000


def session_group(session_id) -> str:
    """The live room of a session: its channel-layer group."""
    return f"session-{session_id}"


def validate_message_text(text) -> str:
    """A string of 1..MAX_MESSAGE_LENGTH characters after trimming, storable as text (no NUL,
    valid Unicode)."""
    if text is None:
        raise field_error("text", "This field is required.")
    if not isinstance(text, str):
        raise field_error("text", "Must be a string.")
    text = text.strip()
    if not text:
        raise field_error("text", "May not be blank.")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise field_error("text", f"Ensure this field has no more than {MAX_MESSAGE_LENGTH} characters.")
    if "\x00" in text:
        raise field_error("text", "May not contain NUL characters.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise field_error("text", "Must be valid Unicode.") from None
    return text


def validate_client_id(client_id) -> uuid.UUID | None:
    if client_id is None:
        return None
    if isinstance(client_id, str):
        try:
            return uuid.UUID(client_id)
        except ValueError:
            pass
    raise field_error("client_id", "Must be a UUID.")


def _next_seq(booking: Booking) -> int | None:
    """Bump the session's message counter, holding the session row's lock until commit: a
    session's messages are numbered, and become visible, in one order."""
    table = Booking._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_message_seq = last_message_seq + 1 WHERE id = %s "  # noqa: S608
            "RETURNING last_message_seq",
            [booking.pk.hex if connection.vendor == "sqlite" else booking.pk],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def broadcast_message(message: SessionMessage) -> None:
    """Send a stored message to its session's live room. Never raises: the message is stored and
    clients that miss the broadcast recover it through ``after``."""
    frame = json.dumps(
        {"type": "newMessage", "sessionId": str(message.session_id), "message": message_payload(message)}
    )
    try:
        # The frame is encoded once here, not once per recipient.
        realtime.group_send(
            session_group(message.session_id),
            {"type": "room.frame", "frame": frame, "sessionId": str(message.session_id), "seq": message.seq},
        )
    except Exception:
        logger.exception("broadcast of message %s to %s failed", message.id, session_group(message.session_id))


def message_create(*, booking: Booking, sender: User, text, client_id=None) -> tuple[SessionMessage, bool]:
    """Store a chat message and schedule its broadcast.

    - Access is checked again here (DRF does not check object permissions on create).
    - ``text``: a string, 1..MAX_MESSAGE_LENGTH characters after trimming; stored trimmed.
    - ``client_id``: a retry with the same id from the same sender returns the first message and
      ``created=False``; nothing new is stored or broadcast, also under concurrent retries.
    - The broadcast runs on commit, once per created message; if it fails the message stays
      stored and the call still succeeds.
    - Participants without a socket in the room get a missed-message digest due
      (``digests.digest_note_missed``, one statement on commit).
    - After the broadcast, the message is screened for contact details
      (``moderation.message_screen``): a ``contact_details`` report when it holds any. Delivery
      never waits for it, and a clean message costs no query.
    Returns ``(message, created)``. Raises NotFound if the session no longer exists.
    """
    if not permissions.can_send_message(sender, booking):
        raise Forbidden("Access denied to this session.")
    text = validate_message_text(text)
    client_uuid = validate_client_id(client_id)
    store = _store_one_statement if connection.vendor == "postgresql" else _store_in_transaction
    message = store(booking, sender, text, client_uuid)
    if message is None:  # a retry: the first message with this client_id
        if client_uuid is None:
            raise NotFound("Session not found.")
        existing = (
            SessionMessage.objects.select_related("user")
            .filter(session_id=booking.pk, user_id=sender.pk, client_id=client_uuid)
            .order_by()
            .first()
        )
        if existing is None:
            raise NotFound("Session not found.")
        return existing, False
    message.user = sender
    transaction.on_commit(lambda: _deliver_then_screen(message, booking))
    return message, True


def _deliver_then_screen(message: SessionMessage, booking: Booking) -> None:
    """On commit: the room gets the message first; only then is it screened for contact
    details, so the screening never delays delivery, and noted for the digests of the
    participants who are not in the room."""
    broadcast_message(message)
    moderation.message_screen(message)
    digests.digest_note_missed(message=message, booking=booking)


def _store_one_statement(
    booking: Booking, sender: User, text: str, client_uuid: uuid.UUID | None
) -> SessionMessage | None:
    """PostgreSQL: bump the session's counter and insert the message in one statement, which
    is atomic on its own and holds the session row's lock until it commits (so messages become
    visible in seq order). A retried client_id bumps and inserts nothing and returns None (two
    retries racing: ON CONFLICT on the idempotency index); so does a session that no longer
    exists."""
    message_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_SQL,
            {"session": booking.pk, "user": sender.pk, "client_id": client_uuid, "id": message_id, "text": text},
        )
        row = cursor.fetchone()
    if row is None:
        return None
    seq, created_at = row
    message = SessionMessage(
        id=message_id,
        session_id=booking.pk,
        user_id=sender.pk,
        seq=seq,
        text=text,
        client_id=client_uuid,
        created_at=created_at,
    )
    message._state.adding = False  # stored: a later save() updates this row
    message._state.db = connection.alias
    return message


def _store_in_transaction(
    booking: Booking, sender: User, text: str, client_uuid: uuid.UUID | None
) -> SessionMessage | None:
    """Any other database: the same steps in a transaction (the counter's row lock is held to
    the commit)."""
    with transaction.atomic():
        seq = _next_seq(booking)
        if seq is None:
            return None
        if client_uuid is not None:
            exists = SessionMessage.objects.filter(session=booking, user=sender, client_id=client_uuid).exists()
            if exists:
                transaction.set_rollback(True)  # a retry takes no number
                return None
        return SessionMessage.objects.create(
            session_id=booking.pk, user=sender, seq=seq, text=text, client_id=client_uuid
        )


def _insert_sql() -> str:
    booking_table = Booking._meta.db_table
    table = SessionMessage._meta.db_table
    # clock_timestamp(): when the row is made, i.e. after the session's lock was granted, so
    # created_at follows seq as closely as the clock allows
    return (
        f"WITH bumped AS (UPDATE {booking_table} SET last_message_seq = last_message_seq + 1 "  # noqa: S608
        # a retry takes no number (no gap for every socket to fill); ON CONFLICT stays the
        # backstop for two retries racing
        f"WHERE id = %(session)s AND NOT EXISTS (SELECT 1 FROM {table} WHERE session_id = %(session)s "
        "AND user_id = %(user)s AND client_id = %(client_id)s) RETURNING last_message_seq) "
        f"INSERT INTO {table} (id, session_id, user_id, seq, text, client_id, created_at, hidden_reason) "
        "SELECT %(id)s, %(session)s, %(user)s, last_message_seq, %(text)s, %(client_id)s, clock_timestamp(), '' "
        "FROM bumped "
        "ON CONFLICT (session_id, user_id, client_id) WHERE client_id IS NOT NULL DO NOTHING "
        "RETURNING seq, created_at"
    )


_INSERT_SQL = _insert_sql()


def read_cursor_advance(*, booking: Booking, user: User, up_to) -> int:
    """Mark the session's chat read up to message ``up_to`` (a message id of this session).
    The cursor only moves forward: marking an older message read changes nothing, so two
    devices reporting out of order cannot make read messages unread again. Returns the cursor's
    seq."""
    if not permissions.can_view_booking(user, booking):
        raise Forbidden("Access denied to this session.")
    pk = permissions.parse_uuid(up_to)
    if pk is None:
        raise field_error("up_to", "Must be a message id (UUID).")
    seq = SessionMessage.objects.filter(session=booking, pk=pk).values_list("seq", flat=True).first()
    if seq is None:
        raise field_error("up_to", "No such message in this session.")
    with transaction.atomic():
        cursor, _ = ReadCursor.objects.select_for_update().get_or_create(session=booking, user=user)
        if seq > cursor.last_read_seq:
            cursor.last_read_seq = seq
            cursor.updated_at = timezone.now()
            cursor.save(update_fields=["last_read_seq", "updated_at"])
    return cursor.last_read_seq
