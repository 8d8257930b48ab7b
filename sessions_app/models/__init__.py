"""What happens inside a session: its chat (messages.py) and its recordings (recordings.py)."""

from sessions_app.models.messages import (
    MessageDigest,
    MessageReport,
    ReadCursor,
    ReportReason,
    ReportStatus,
    SessionMessage,
)
from sessions_app.models.recordings import *  # noqa: F403

__all__ = ["MessageDigest", "MessageReport", "ReadCursor", "ReportReason", "ReportStatus", "SessionMessage"]
