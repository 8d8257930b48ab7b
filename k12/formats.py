"""Wire formats shared by the API, the live room and notifications."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(dt: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as DRF renders datetimes."""
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")
