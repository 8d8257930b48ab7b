"""How a message looks on the wire: the guide's shape, the same over REST and WebSocket."""

from __future__ import annotations

from datetime import UTC, datetime

from sessions_app.models import SessionMessage


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message_payload(message: SessionMessage) -> dict:
    """``{id, from, user_id, text, created_at}``; ``from`` is the guide's
    `${first_name} ${last_name || ''}`.trim() (``User.display_name``)."""
    return {
        "id": str(message.id),
        "from": message.user.display_name,
        "user_id": str(message.user_id),
        "text": message.text,
        "created_at": iso(message.created_at),
    }
