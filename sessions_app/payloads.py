"""How a message looks on the wire: the guide's shape, the same over REST and WebSocket."""

from __future__ import annotations

from k12.formats import iso
from k12.models import display_name
from sessions_app.models import SessionMessage
from sessions_app.selectors import MessageRow

__all__ = ["iso", "message_payload"]


def message_payload(message: SessionMessage | MessageRow, *, staff: bool = False) -> dict:
    """``{id, from, user_id, text, created_at, hidden}``; ``from`` is the guide's display name.

    A message hidden by a moderator keeps its place in the history but, for anyone but staff,
    carries no text: ``{"hidden": true, "text": ""}``."""
    if isinstance(message, MessageRow):
        sender = display_name(message.first_name, message.last_name)
    else:
        sender = message.user.display_name
    hidden = message.hidden_at is not None
    return {
        "id": str(message.id),
        "from": sender,
        "user_id": str(message.user_id),
        "text": "" if hidden and not staff else message.text,
        "created_at": iso(message.created_at),
        "hidden": hidden,
    }
