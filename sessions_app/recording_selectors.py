"""Reads of session recordings."""

from __future__ import annotations

from django.db.models import QuerySet

from k12 import permissions
from k12.models import Booking
from sessions_app.models import SessionRecording


def recordings_of(booking: Booking) -> QuerySet[SessionRecording]:
    """A session's recordings, newest first (one range scan of the (session, created_at) index).
    Every column the list renders is on the row itself: one query per page, however many rows."""
    return SessionRecording.objects.filter(session=booking).order_by("-created_at", "id")


def recordings_visible_to(user, booking: Booking) -> QuerySet[SessionRecording]:
    """What ``user`` (who may view ``booking``) sees: everything for staff; nothing for anyone
    else while the student's parent has not given, or has withdrawn, consent to record."""
    if not permissions.is_admin(user) and not booking.student.recording_consent:
        return SessionRecording.objects.none()
    return recordings_of(booking)
