"""How a message looks on the wire: the guide's shape, the same over REST and WebSocket."""

from __future__ import annotations

from k12.formats import iso
from k12.models import display_name
from sessions_app.models import SessionMessage
from sessions_app.selectors import MessageRow, WireRow

__all__ = ["iso", "message_payload", "wire_payload"]


def _payload(message_id: str, sender: str, user_id: str, text: str, created_at: str, hidden: bool, staff: bool) -> dict:
    return {
        "id": message_id,
        "from": sender,
        "user_id": user_id,
        "text": "" if hidden and not staff else text,
        "created_at": created_at,
        "hidden": hidden,
    }


def message_payload(message: SessionMessage | MessageRow, *, staff: bool = False) -> dict:
    """``{id, from, user_id, text, created_at, hidden}``; ``from`` is the guide's display name.

    A message hidden by a moderator keeps its place in the history but, for anyone but staff,
    carries no text: ``{"hidden": true, "text": ""}``."""
    if isinstance(message, MessageRow):
        sender = display_name(message.first_name, message.last_name)
    else:
        sender = message.user.display_name
    return _payload(
        str(message.id),
        sender,
        str(message.user_id),
        message.text,
        iso(message.created_at),
        message.hidden_at is not None,
        staff,
    )


def wire_payload(row: WireRow, *, staff: bool = False) -> dict:
    """The same payload from a row the database already rendered as text (the REST hot path)."""
    message_id, _seq, text, created_at, user_id, first_name, last_name, hidden = row
    return _payload(message_id, display_name(first_name, last_name), user_id, text, created_at, hidden, staff)
