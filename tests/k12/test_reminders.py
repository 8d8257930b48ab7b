"""Session reminders, 24 hours and 15 minutes ahead, for the parent, the student's login and the
tutor: once each, also when two beat ticks race; none for cancelled sessions; a moved session is
reminded for its new time only. Time moves with time-machine."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection

from k12 import reminders
from k12.models import Booking, BookingStatus, Notification, SessionReminder
from tests.conftest import next_slot


def reminded(world, lead: str) -> list:
    return sorted(
        (str(n.user_id), n.data["sessionId"])
        for n in Notification.objects.filter(kind="session_reminder")
        if n.data["lead"] == lead
    )


def everyone(world, booking) -> list:
    return sorted((str(u.id), str(booking.id)) for u in (world.parent, world.student_user, world.tutor))


def tick(at) -> int:
    with time_machine.travel(at, tick=False):
        return reminders.reminders_send_due()


@pytest.fixture
def session(world) -> Booking:
    """world.booking, starting three days from now (and the other session out of the way)."""
    Booking.objects.filter(pk=world.booking.pk).update(starts_at=next_slot(3, 10), ends_at=next_slot(3, 11))
    Booking.objects.filter(pk=world.other_booking.pk).update(starts_at=next_slot(30, 10), ends_at=next_slot(30, 11))
    world.booking.refresh_from_db()
    return world.booking


@pytest.mark.django_db
def test_24_hours_and_15_minutes_ahead_each_participant_once(
    world, session, mailoutbox, django_capture_on_commit_callbacks
):
    start = session.starts_at
    with django_capture_on_commit_callbacks(execute=True):
        tick(start - timedelta(hours=23, minutes=59, seconds=30))
        tick(start - timedelta(minutes=14, seconds=30))
    assert sorted(m.to[0] for m in mailoutbox) == sorted(
        [world.parent.email, world.student_user.email, world.tutor.email] * 2
    )
    Notification.objects.all().delete()
    SessionReminder.objects.all().delete()
    assert tick(start - timedelta(hours=24, minutes=1)) == 0
    assert tick(start - timedelta(hours=23, minutes=59)) == 1
    assert reminded(world, "24h") == everyone(world, session)
    assert tick(start - timedelta(hours=23, minutes=58)) == 0  # the next minute: nothing again
    assert tick(start - timedelta(minutes=16)) == 0
    assert tick(start - timedelta(minutes=14)) == 1
    assert reminded(world, "15m") == everyone(world, session)
    assert tick(start - timedelta(minutes=1)) == 0
    assert tick(start + timedelta(minutes=1)) == 0
    assert Notification.objects.filter(kind="session_reminder").count() == 6
    note = Notification.objects.filter(kind="session_reminder", user=world.parent).order_by("created_at").first()
    assert note.title.startswith("Reminder: Math tomorrow")


@pytest.mark.django_db
def test_a_late_tick_sends_only_the_reminder_still_ahead(world, session):
    # the beat was down for the whole 24 h window: only the 15 min reminder is still worth sending
    assert tick(session.starts_at - timedelta(minutes=10)) == 1
    assert reminded(world, "24h") == [] and reminded(world, "15m") == everyone(world, session)


@pytest.mark.django_db
def test_a_cancelled_session_gets_none(world, session):
    Booking.objects.filter(pk=session.pk).update(status=BookingStatus.CANCELLED, cancelled_at=session.created_at)
    assert tick(session.starts_at - timedelta(hours=23)) == 0
    assert tick(session.starts_at - timedelta(minutes=10)) == 0
    assert not Notification.objects.filter(kind="session_reminder").exists()


@pytest.mark.django_db
def test_a_moved_session_is_reminded_for_its_new_time_only(world, session):
    old = session.starts_at
    assert tick(old - timedelta(hours=23)) == 1
    new = old + timedelta(days=2)
    Booking.objects.filter(pk=session.pk).update(starts_at=new, ends_at=new + timedelta(hours=1))
    assert tick(old - timedelta(minutes=10)) == 0  # the old time: nothing
    assert tick(new - timedelta(hours=23)) == 1
    assert tick(new - timedelta(minutes=10)) == 1
    starts = sorted({n.data["startsAt"] for n in Notification.objects.filter(kind="session_reminder")})
    assert starts == [old.isoformat(), new.isoformat()]
    assert len(reminded(world, "24h")) == 6 and len(reminded(world, "15m")) == 3


@pytest.mark.django_db
def test_a_session_moved_between_the_scan_and_the_send_is_not_reminded(world, session):
    due_at = session.starts_at - timedelta(hours=23)
    with time_machine.travel(due_at, tick=False):
        [booking_id] = reminders._due("24h", due_at).values_list("pk", flat=True)
        moved = session.starts_at + timedelta(days=5)
        Booking.objects.filter(pk=session.pk).update(starts_at=moved, ends_at=moved + timedelta(hours=1))
        assert reminders.reminder_send(booking_id=booking_id, lead="24h") == 0
    assert not Notification.objects.filter(kind="session_reminder").exists()


@pytest.mark.django_db(transaction=True)
def test_two_beat_ticks_racing_send_one_reminder(world, session):
    due_at = session.starts_at - timedelta(hours=23)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def beat():
        try:
            with time_machine.travel(due_at, tick=False):
                barrier.wait(10)
                results.append(reminders.reminders_send_due())
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(results) == [0, 1]
    assert reminded(world, "24h") == everyone(world, session)
