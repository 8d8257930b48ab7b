"""The chat's part of the demo set (``manage.py seed_demo``): a few messages in parent1's
session, sent through the chat's own service."""

from __future__ import annotations

from k12.models import Booking, User
from sessions_app.chat.services import message_create
from sessions_app.models import SessionMessage

DEMO_MESSAGES = [
    ("tutor1@k12.test", "Hi Sam! Tomorrow we'll go through linear equations."),
    ("student1@k12.test", "Great, I have a few questions from my homework."),
    ("parent1@k12.test", "Thanks Tom, Sam will be ready at four."),
]


def demo_messages_seed(*, users: dict[str, User], bookings: list[Booking]) -> None:
    booking = bookings[0]
    if SessionMessage.objects.filter(session=booking).exists():
        return
    for email, text in DEMO_MESSAGES:
        message_create(booking=booking, sender=users[email], text=text)
