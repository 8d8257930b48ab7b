"""Shared fixtures: one user per role, a small world of students, allocations and sessions,
and API clients that authenticate the way the frontend does (a Bearer access JWT)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from k12.models import (
    Allocation,
    Booking,
    Role,
    Student,
    Subject,
    TutorAvailability,
    TutorSubject,
    User,
)

PASSWORD = "test-pass-123"


@pytest.fixture(autouse=True)
def _throttle_clock(monkeypatch):
    """The rate limits count in fixed windows of the wall clock: a test that ran across the end
    of a window would count its last requests in a fresh one. In this process the throttles'
    clock stands still, 30 s into a minute and into an hour (servers a test starts keep theirs)."""
    monkeypatch.setattr("k12.throttling.time", SimpleNamespace(time=lambda: 1_800_000_030.0))


def make_user(email: str, role: str, first: str = "Test", last: str = "User", **extra) -> User:
    return User.objects.create_user(email, PASSWORD, first_name=first, last_name=last, role=role, **extra)


def next_slot(days: int = 3, hour: int = 10) -> datetime:
    """A future time inside the test tutors' availability (08:00-20:00 UTC, every day)."""
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    return datetime.combine(day, time(hour, 0), tzinfo=UTC)


@dataclass
class World:
    admin: User
    parent: User
    other_parent: User
    student_user: User
    other_student_user: User
    tutor: User
    other_tutor: User
    child: Student
    other_child: Student
    math: Subject
    physics: Subject
    english: Subject
    booking: Booking
    other_booking: Booking

    def user(self, role: str) -> User | None:
        return None if role == "anonymous" else getattr(self, role)


# The role table's row "read session, messages, recordings": participants and admin 200.
VIEW_ACCESS = {
    "anonymous": 401,
    "admin": 200,
    "parent": 200,
    "student_user": 200,
    "tutor": 200,
    "other_parent": 403,
    "other_student_user": 403,
    "other_tutor": 403,
}

ROLES = ["anonymous", "admin", "parent", "other_parent", "student_user", "other_student_user", "tutor", "other_tutor"]
PARTICIPANTS = {"parent", "student_user", "tutor"}


def book(student, tutor, subject, starts_at, minutes=60, created_by=None) -> Booking:
    return Booking.objects.create(
        student=student,
        tutor=tutor,
        subject=subject,
        starts_at=starts_at,
        duration_minutes=minutes,
        ends_at=starts_at + timedelta(minutes=minutes),
        created_by=created_by,
    )


@pytest.fixture
def world(db) -> World:
    admin = make_user("admin@example.test", Role.ADMIN, "Ada", "Admin")
    parent = make_user("parent@example.test", Role.PARENT, "Paula", "Parker")
    other_parent = make_user("other.parent@example.test", Role.PARENT, "Peter", "Quinn")
    student_user = make_user("student@example.test", Role.STUDENT, "Sam", "Parker")
    other_student_user = make_user("other.student@example.test", Role.STUDENT, "Mia", "Quinn")
    tutor = make_user("tutor@example.test", Role.TUTOR, "Tom", "")
    other_tutor = make_user("other.tutor@example.test", Role.TUTOR, "Emma", "Austen")
    math, physics, english = (Subject.objects.create(name=n) for n in ("Math", "Physics", "English"))
    TutorSubject.objects.create(tutor=tutor, subject=math)
    TutorSubject.objects.create(tutor=tutor, subject=physics)
    TutorSubject.objects.create(tutor=other_tutor, subject=english)
    for t in (tutor, other_tutor):
        for day in range(7):
            TutorAvailability.objects.create(tutor=t, weekday=day, start_time=time(8), end_time=time(20))
    # both parents have consented to recording (tests of consent itself withdraw it)
    child = Student.objects.create(
        parent=parent, user=student_user, first_name="Sam", last_name="Parker", grade=7, recording_consent=True
    )
    other_child = Student.objects.create(
        parent=other_parent,
        user=other_student_user,
        first_name="Mia",
        last_name="Quinn",
        grade=5,
        recording_consent=True,
    )
    Allocation.objects.create(student=child, tutor=tutor, subject=math, created_by=admin)
    Allocation.objects.create(student=other_child, tutor=other_tutor, subject=english, created_by=admin)
    booking = book(child, tutor, math, next_slot(1, 16), created_by=parent)
    other_booking = book(other_child, other_tutor, english, next_slot(2, 15), created_by=other_parent)
    return World(
        admin,
        parent,
        other_parent,
        student_user,
        other_student_user,
        tutor,
        other_tutor,
        child,
        other_child,
        math,
        physics,
        english,
        booking,
        other_booking,
    )


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def api():
    return client_for
