"""Reads of the core domain that are more than a one-line queryset."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, QuerySet

from k12 import permissions
from k12.models import Allocation, AllocationStatus, Booking, Student, TutorAvailability, User


def sessions_visible_to(
    user: User,
    *,
    status: str | None = None,
    starts_from: datetime | None = None,
    starts_to: datetime | None = None,
) -> QuerySet[Booking]:
    """The user's sessions (all for an admin), soonest first, with what the list renders
    joined in: one query whatever the page size."""
    qs = permissions.bookings_visible_to(user).select_related("student", "tutor", "subject")
    if status:
        qs = qs.filter(status=status)
    if starts_from:
        qs = qs.filter(starts_at__gte=starts_from)
    if starts_to:
        qs = qs.filter(starts_at__lt=starts_to)
    return qs.order_by("starts_at", "id")


def students_visible_to(user: User) -> QuerySet[Student]:
    return permissions.students_visible_to(user).order_by("-created_at", "id")


def session_participants(booking: Booking) -> list[User]:
    """The session's parent, its student's login (if any) and its tutor: who hears of it."""
    student = booking.student
    people = [student.parent, student.user, booking.tutor]
    return [user for user in people if user is not None and user.is_active]


def student_tutors(student: Student) -> QuerySet[Allocation]:
    """The student's active allocations (a tutor and a subject each), with each tutor's weekly
    availability: what a parent books from. Two queries."""
    return (
        Allocation.objects.filter(student=student, status=AllocationStatus.ACTIVE)
        .select_related("tutor", "subject")
        .prefetch_related(
            Prefetch("tutor__availability", queryset=TutorAvailability.objects.order_by("weekday", "start_time"))
        )
        .order_by("subject__name", "tutor__first_name", "id")
    )
