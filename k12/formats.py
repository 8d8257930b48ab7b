"""Wire formats shared by the API, the live room and notifications."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(dt: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` and always six fractional digits (what PostgreSQL's
    ``to_char(..., 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`` prints too: sessions_app.chat.selectors)."""
    return dt.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
