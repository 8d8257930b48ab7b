"""Telling open sockets that their user's access changed, so they act at once instead of at
their next periodic re-check.

The event goes through the channel layer to each affected user's own group (``user-<id>``, which
each server process holding a socket of that user is in; the process hands the event to that
user's sockets, whatever their protocol, by its ``userId``):

    {"type": "access.changed", "reason": <one of REASONS>, "userId": "<uuid>",
     "sessionIds": ["<uuid>", ...]}

``sessionIds`` names the sessions the change is about (empty when it is about the user as a
whole, e.g. a deactivation). A socket that receives it re-checks, with k12/permissions.py, that
its user is still active (else it closes, 4403) and may still see each room it is in (else it
leaves the room and says so), then tells its client ``{"type": "accessChanged", "reason",
"sessionIds"}`` so the client re-reads what it may do (the sessions' ``can``).

Sent on commit (a rolled-back change announces nothing), never raising: a broken channel layer is
logged and the sockets still re-check on their own clock (``WS_ACCESS_RECHECK_SECONDS``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from k12 import realtime
from k12.notifications import user_group

logger = logging.getLogger(__name__)

EVENT_TYPE = "access.changed"
REASONS = (
    "allocation_ended",
    "session_cancelled",
    "parent_changed",  # also a child's own login linked or unlinked
    "consent_withdrawn",
    "user_deactivated",
)


def access_changed_announce(*, user_ids: Iterable, reason: str, session_ids: Iterable = ()) -> None:
    """On commit, send ``access.changed`` to every socket of each of ``user_ids``."""
    if reason not in REASONS:
        raise ValueError(f"unknown access change {reason!r}")
    users = sorted({str(user_id) for user_id in user_ids if user_id})
    sessions = sorted({str(session_id) for session_id in session_ids if session_id})
    if users:
        transaction.on_commit(lambda: _send(users, reason, sessions))


def _send(user_ids: list[str], reason: str, session_ids: list[str]) -> None:
    for user_id in user_ids:
        event = {"type": EVENT_TYPE, "reason": reason, "userId": user_id, "sessionIds": session_ids}
        try:
            realtime.group_send(user_group(user_id), event)
        except Exception:
            logger.exception("could not announce %s to the sockets of user %s", reason, user_id)
