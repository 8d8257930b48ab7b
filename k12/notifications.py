"""Notifications: the in-app row, the live push to the user's own WebSocket group, an email.

``notification_create`` is the one write path. The push and the email happen in
``transaction.on_commit``: nobody hears of a row that was rolled back.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from k12.formats import iso
from k12.models import Allocation, Booking, Notification, User

logger = logging.getLogger(__name__)


def user_group(user_id) -> str:
    """The WebSocket group every socket of one user joins (notifications go there)."""
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
            {"type": "notification.push", "notification": notification_payload(notification)},
        )
    except Exception:  # the row is stored; a broken channel layer must not lose or fail it
        logger.exception("could not push notification %s", notification.id)


def _email(notification: Notification, address: str) -> None:
    try:
        send_mail(
            subject=notification.title,
            message=notification.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[address],
        )
    except Exception:
        logger.exception("could not email notification %s", notification.id)


def notification_create(
    *, user: User, kind: str, title: str, body: str = "", data: dict | None = None, email: bool = True
) -> Notification:
    """Store a notification for ``user``; on commit push it to their sockets and, if ``email``,
    send it to their address. Exactly one row per call."""
    notification = Notification.objects.create(user=user, kind=kind, title=title, body=body, data=data or {})
    transaction.on_commit(lambda: _push(notification))
    if email and user.email:
        address = user.email
        transaction.on_commit(lambda: _email(notification, address))
    return notification


def notify_booking_event(*, booking: Booking, kind: str) -> None:
    """The parent hears of every new or cancelled session of their child."""
    parent = booking.student.parent
    when = booking.starts_at.strftime("%Y-%m-%d %H:%M UTC")
    verb = "scheduled" if kind == "booking_created" else "cancelled"
    notification_create(
        user=parent,
        kind=kind,
        title=f"Session {verb}: {booking.subject.name} on {when}",
        body=(
            f"{booking.subject.name} with {booking.tutor.display_name} for "
            f"{booking.student.first_name}, {when}, {booking.duration_minutes} minutes, was {verb}."
        ),
        data={"sessionId": str(booking.id)},
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
