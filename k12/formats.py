"""Wire formats shared by the API, the live room and notifications."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from k12.models import User


def iso(dt: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` and always six fractional digits (what PostgreSQL's
    ``to_char(..., 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`` prints too: sessions_app.chat.selectors)."""
    return dt.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def me_payload(user: User) -> dict:
    """Who the caller is, as they are told it: GET /api/me and the live room's ``ready`` frame."""
    return {
        "id": str(user.id),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": user.role,
    }
