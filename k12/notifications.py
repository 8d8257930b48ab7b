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

from k12.models import Booking, Notification, User

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
        "created_at": notification.created_at.isoformat().replace("+00:00", "Z"),
        "read_at": notification.read_at.isoformat().replace("+00:00", "Z") if notification.read_at else None,
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
