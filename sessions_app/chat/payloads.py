"""How a message looks on the wire: one shape, the same over REST and both live protocols.

``row_payload`` renders the page selector's rows (``selectors.messages_page``, REST's GET, the
live room's replay and gap fill); ``message_payload`` renders a stored ``SessionMessage`` (a
created message, its broadcast, a moderation answer). Both give the same fields and text."""

from __future__ import annotations

from k12.formats import iso
from k12.models import display_name
from sessions_app.chat.selectors import MessageRow
from sessions_app.models import SessionMessage

__all__ = ["iso", "message_payload", "row_payload"]


def _payload(message_id: str, sender: str, user_id: str, text: str, created_at: str, hidden, staff: bool) -> dict:
    hidden = bool(hidden)
    return {
        "id": message_id,
        "from": sender,
        "user_id": user_id,
        "text": "" if hidden and not staff else text,
        "created_at": created_at,
        "hidden": hidden,
    }


def message_payload(message: SessionMessage, *, staff: bool = False) -> dict:
    """``{id, from, user_id, text, created_at, hidden}``; ``from`` is the sender's display name.

    A message hidden by a moderator keeps its place in the history but, for anyone but staff,
    carries no text: ``{"hidden": true, "text": ""}``."""
    return _payload(
        str(message.id),
        message.user.display_name,
        str(message.user_id),
        message.text,
        iso(message.created_at),
        message.hidden_at is not None,
        staff,
    )


def row_payload(row: MessageRow, *, staff: bool = False) -> dict:
    """The same payload from a page row, which the database already rendered as text."""
    message_id, _seq, text, created_at, user_id, first_name, last_name, hidden = row
    return _payload(message_id, display_name(first_name, last_name), user_id, text, created_at, hidden, staff)
