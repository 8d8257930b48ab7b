"""Notifications: the in-app row, the live push to the user's own WebSocket group, an email.

``notification_create`` is the one write path. The push and the email happen once the row is
committed (nobody hears of a row that was rolled back); the email is sent by a background worker
(``k12.tasks.notification_email``), never by the request that caused it:

- each attempt first claims the row (``pending``/``retrying`` -> ``sending``, with a lease), so
  a redelivered or duplicated task sends nothing twice and a second worker waits for the lease
  of one that died mid-send;
- a failed attempt is retried with growing waits (``NOTIFICATION_EMAIL_RETRY_SECONDS``, doubled
  each time) up to ``NOTIFICATION_EMAIL_RETRIES`` times, then recorded as ``failed`` with the
  error, which staff see in the admin;
- ``notification_emails_sweep`` (on the beat schedule) queues again an email whose task was
  lost (the broker was down at commit, a retry was dropped).
Each message carries a Message-ID made from the notification id, so the rare duplicate that a
crash between "the SMTP server accepted it" and "recorded as sent" can cause is recognisable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from k12.formats import iso
from k12.models import Allocation, Booking, EmailStatus, Notification, User
from k12.selectors import session_participants

logger = logging.getLogger(__name__)

UNFINISHED = [EmailStatus.PENDING, EmailStatus.SENDING, EmailStatus.RETRYING]
RETRY_CAP_SECONDS = 600


def user_group(user_id) -> str:
    """The channel-layer group of one user's live events (notifications, access changes): each
    server process with a socket of the user is in it once, and hands an event to the user's
    sockets by its ``userId`` (sessions_app/chat/hub.py)."""
    return f"user-{user_id}"


def notification_payload(notification: Notification) -> dict:
    return {
        "id": str(notification.id),
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data,
        "created_at": iso(notification.created_at),
        "read_at": iso(notification.read_at) if notification.read_at else None,
    }


def _push(notification: Notification) -> None:
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        async_to_sync(layer.group_send)(
            user_group(notification.user_id),
            # userId: a server process takes the user's events once for all the user's sockets
            # (sessions_app/chat/hub.py) and hands them out by it
            {
                "type": "notification.push",
                "userId": str(notification.user_id),
                "notification": notification_payload(notification),
            },
        )
    except Exception:  # the row is stored; a broken channel layer must not lose or fail it
        logger.exception("could not push notification %s", notification.id)


def notification_create(
    *, user: User, kind: str, title: str, body: str = "", data: dict | None = None, email: bool = True
) -> Notification:
    """Store a notification for ``user``; on commit push it to their sockets and, if ``email``
    and they have an address, queue its email. Exactly one row per call."""
    wants_email = bool(email and user.email)
    notification = Notification.objects.create(
        user=user,
        kind=kind,
        title=title,
        body=body,
        data=data or {},
        email_status=EmailStatus.PENDING if wants_email else EmailStatus.NONE,
        email_next_attempt_at=timezone.now() if wants_email else None,
    )
    transaction.on_commit(lambda: _push(notification))
    if wants_email:
        transaction.on_commit(lambda: notification_email_enqueue(notification.pk))
    return notification


def notification_email_enqueue(notification_id) -> None:
    """Hand the email to the workers. Never raises: if the broker cannot be reached the row stays
    ``pending`` and the sweep queues it later."""
    from k12.tasks import notification_email

    try:
        notification_email.delay(str(notification_id))
    except Exception:
        logger.exception("could not queue the email of notification %s; the sweep will", notification_id)


@dataclass(frozen=True)
class EmailAttempt:
    """What one attempt did: ``status`` is the row's email status after it; ``retry_in``
    (seconds) is set when the task should try again."""

    status: str
    retry_in: float | None = None


def _retry_wait(attempts: int) -> float:
    return min(RETRY_CAP_SECONDS, settings.NOTIFICATION_EMAIL_RETRY_SECONDS * 2 ** max(0, attempts - 1))


def _lease_seconds() -> float:
    # every step of an SMTP conversation may take up to EMAIL_TIMEOUT
    return settings.NOTIFICATION_EMAIL_LEASE_SECONDS or 10 * settings.EMAIL_TIMEOUT


def notification_email_send(*, notification_id) -> EmailAttempt:
    """One attempt at a notification's email (the worker's task). Idempotent: it sends only if it
    can claim the row, so a sent, failed or email-less notification is left alone and two
    workers never send the same one at once."""
    now = timezone.now()
    claimable = Q(email_status__in=[EmailStatus.PENDING, EmailStatus.RETRYING]) | Q(
        email_status=EmailStatus.SENDING, email_next_attempt_at__lt=now
    )
    claimed = Notification.objects.filter(claimable, pk=notification_id).update(
        email_status=EmailStatus.SENDING,
        email_next_attempt_at=now + timedelta(seconds=_lease_seconds()),
        email_attempts=F("email_attempts") + 1,
    )
    notification = Notification.objects.select_related("user").filter(pk=notification_id).first()
    if notification is None:
        return EmailAttempt("gone")
    if not claimed:
        if notification.email_status == EmailStatus.SENDING:
            # another worker holds it; should that one have died, its claim lapses and we take over
            wait = (notification.email_next_attempt_at - now).total_seconds()
            return EmailAttempt(EmailStatus.SENDING, retry_in=max(1.0, wait))
        return EmailAttempt(notification.email_status)
    try:
        _email(notification)
    except Exception as exc:
        return _email_failed(notification, exc)
    Notification.objects.filter(pk=notification.pk, email_status=EmailStatus.SENDING).update(
        email_status=EmailStatus.SENT, email_sent_at=timezone.now(), email_next_attempt_at=None, email_error=""
    )
    return EmailAttempt(EmailStatus.SENT)


def _email(notification: Notification) -> None:
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(" >") or "k12"
    EmailMessage(
        subject=notification.title,
        body=notification.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.user.email],
        headers={"Message-ID": f"<notification-{notification.pk}@{domain}>"},
    ).send()


def _email_failed(notification: Notification, exc: Exception) -> EmailAttempt:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    attempts = notification.email_attempts
    if attempts > settings.NOTIFICATION_EMAIL_RETRIES:
        logger.error("email of notification %s failed %d times; giving up: %s", notification.pk, attempts, error)
        Notification.objects.filter(pk=notification.pk, email_status=EmailStatus.SENDING).update(
            email_status=EmailStatus.FAILED, email_next_attempt_at=None, email_error=error
        )
        return EmailAttempt(EmailStatus.FAILED)
    wait = _retry_wait(attempts)
    logger.warning("email of notification %s failed (attempt %d): %s", notification.pk, attempts, error)
    Notification.objects.filter(pk=notification.pk, email_status=EmailStatus.SENDING).update(
        email_status=EmailStatus.RETRYING,
        email_next_attempt_at=timezone.now() + timedelta(seconds=wait),
        email_error=error,
    )
    return EmailAttempt(EmailStatus.RETRYING, retry_in=wait)


def notification_emails_sweep(*, grace: timedelta = timedelta(minutes=5)) -> int:
    """Queue again the emails still unfinished ``grace`` after their attempt was due (their task
    was lost, or a worker died holding one and nothing redelivered it). Returns how many. A
    duplicate of a task still on its way is harmless: only one of them can claim the row."""
    overdue = Notification.objects.filter(
        email_status__in=UNFINISHED, email_next_attempt_at__lt=timezone.now() - grace
    ).values_list("pk", flat=True)
    ids = list(overdue[:1000])
    for notification_id in ids:
        notification_email_enqueue(notification_id)
    return len(ids)


def _when(moment) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_BOOKING_VERBS = {"booking_created": "scheduled", "booking_moved": "moved", "booking_cancelled": "cancelled"}


def notify_booking_event(*, booking: Booking, kind: str, previous_starts_at=None) -> None:
    """The session's parent, the child's login and the tutor hear of every new, moved or
    cancelled session. ``kind``: booking_created, booking_moved (``previous_starts_at`` is the
    old time), booking_cancelled."""
    verb = _BOOKING_VERBS[kind]
    when = _when(booking.starts_at)
    subject = booking.subject.name
    title = f"Session {verb}: {subject} on {when}"
    what = f"{subject} with {booking.tutor.display_name} for {booking.student.first_name}"
    if kind == "booking_moved":
        body = f"{what}, {booking.duration_minutes} minutes, moved from {_when(previous_starts_at)} to {when}."
    else:
        body = f"{what}, {when}, {booking.duration_minutes} minutes, was {verb}."
    data = {"sessionId": str(booking.id)}
    if previous_starts_at is not None:
        data["previousStartsAt"] = iso(previous_starts_at)
    for person in session_participants(booking):
        notification_create(user=person, kind=kind, title=title, body=body, data=data)


def notify_message_hidden(*, message) -> None:
    """Staff hid a message in a child's session: the child's parent and the child's login hear
    of it (never what it said)."""
    booking = message.session
    subject = booking.subject.name
    for person in session_participants(booking):
        if person.pk == booking.tutor_id:
            continue
        notification_create(
            user=person,
            kind="message_hidden",
            title=f"A message was hidden in {booking.student.first_name}'s {subject} session",
            body=(
                f"Staff hid a message in the {subject} session with {booking.tutor.display_name} on "
                f"{_when(booking.starts_at)}. It is kept for the safeguarding record; contact the school "
                "if you have questions."
            ),
            data={"sessionId": str(booking.id), "messageId": str(message.id)},
        )


def notify_allocation_event(*, allocation: Allocation, kind: str) -> None:
    """The tutor hears of every allocation they are given and of its end."""
    student = allocation.student
    name = f"{student.first_name} {student.last_name}".strip()
    subject = allocation.subject.name
    if kind == "allocation_created":
        title = f"New student: {name} for {subject}"
        grade = "kindergarten" if student.grade == 0 else f"grade {student.grade}"
        body = f"You have been assigned {name} ({grade}) for {subject}. Sessions can now be booked with you."
    else:
        title = f"Allocation ended: {name} for {subject}"
        body = f"Your allocation to {name} for {subject} has ended. No new sessions can be booked for it."
    notification_create(
        user=allocation.tutor,
        kind=kind,
        title=title,
        body=body,
        data={
            "allocationId": str(allocation.id),
            "studentId": str(student.id),
            "subjectId": str(allocation.subject_id),
        },
    )


def notification_mark_read(*, notification: Notification) -> Notification:
    """Mark as read. Idempotent: the first read time is kept, and a repeat writes nothing."""
    if notification.read_at is None:
        now = timezone.now()
        # Conditional, so a concurrent mark keeps the earlier time.
        if Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now):
            notification.read_at = now
        else:
            notification.refresh_from_db(fields=["read_at"])
    return notification
