"""Session reminders: 24 hours and 15 minutes before a scheduled session, its parent, its
student's login and its tutor each get a notification (in-app row, live push, email).

``reminders_send_due`` runs on the beat schedule, every minute. A reminder goes once per
session, lead time and start time: the ``SessionReminder`` row is inserted under the session's
row lock in the same transaction as the notifications, and its unique constraint settles any
race (two beat processes, a redelivered task). Cancelled sessions get none; a moved session gets
them for its new time only, because the session is read again under the lock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from k12.models import Booking, BookingStatus, SessionReminder
from k12.notifications import notification_create
from k12.selectors import session_participants

# Longest first: a lead's reminder is due from (start - lead) until the next shorter lead's
# moment, so a session never gets two reminders in the same minute.
LEADS: dict[str, timedelta] = {"24h": timedelta(hours=24), "15m": timedelta(minutes=15)}
BATCH = 500


def _window(lead: str) -> tuple[timedelta, timedelta]:
    """(lead, the next shorter lead or 0): the reminder is due while lead >= start - now > next."""
    leads = list(LEADS.values())
    index = list(LEADS).index(lead)
    return leads[index], leads[index + 1] if index + 1 < len(leads) else timedelta(0)


def _due(lead: str, now: datetime):
    longest, shortest = _window(lead)
    sent = SessionReminder.objects.filter(session=OuterRef("pk"), lead=lead, starts_at=OuterRef("starts_at"))
    return (
        Booking.objects.filter(
            status=BookingStatus.SCHEDULED,
            starts_at__gt=now + shortest,
            starts_at__lte=now + longest,
            # booked inside the lead time: the booking's own notification said it all
            created_at__lte=F("starts_at") - longest,
        )
        .exclude(Exists(sent))
        .order_by("starts_at")
    )


def reminders_send_due(*, now: datetime | None = None) -> int:
    """Send every reminder that is due and not yet sent. Returns how many sessions were reminded."""
    now = now or timezone.now()
    sent = 0
    for lead in LEADS:
        for booking_id in list(_due(lead, now).values_list("pk", flat=True)[:BATCH]):
            sent += reminder_send(booking_id=booking_id, lead=lead, now=now)
    return sent


def reminder_send(*, booking_id, lead: str, now: datetime | None = None) -> int:
    """Remind the session's participants for ``lead`` if it is still due; 1 if this call did."""
    now = now or timezone.now()
    longest, shortest = _window(lead)
    with transaction.atomic():
        booking = (
            Booking.objects.select_for_update(of=("self",))
            .select_related("student__parent", "student__user", "tutor", "subject")
            .filter(pk=booking_id)
            .first()
        )
        if booking is None or booking.status != BookingStatus.SCHEDULED:
            return 0
        if not now + shortest < booking.starts_at <= now + longest:
            return 0  # moved meanwhile
        _, created = SessionReminder.objects.get_or_create(session=booking, lead=lead, starts_at=booking.starts_at)
        if not created:
            return 0
        when = booking.starts_at.strftime("%Y-%m-%d %H:%M UTC")
        soon = "in 15 minutes" if lead == "15m" else "tomorrow"
        for user in session_participants(booking):
            notification_create(
                user=user,
                kind="session_reminder",
                title=f"Reminder: {booking.subject.name} {soon}, {when}",
                body=(
                    f"{booking.subject.name} with {booking.tutor.display_name} for {booking.student.first_name} "
                    f"starts {when} and lasts {booking.duration_minutes} minutes."
                ),
                data={"sessionId": str(booking.pk), "lead": lead, "startsAt": booking.starts_at.isoformat()},
            )
    return 1
