"""Reads of session recordings."""

from __future__ import annotations

from django.db.models import QuerySet

from k12.models import Booking
from sessions_app.models import SessionRecording


def recordings_of(booking: Booking) -> QuerySet[SessionRecording]:
    """A session's recordings, newest first (one range scan of the (session, created_at) index).
    Every column the list renders is on the row itself: one query per page, however many rows."""
    return SessionRecording.objects.filter(session=booking).order_by("-created_at", "id")
