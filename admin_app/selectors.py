"""Reads for the staff: the KPIs (shared by /api/admin/stats and the /admin/ index), the
sessions-per-day series of the chart, and the searchable people and allocation lists.

Each function costs a fixed number of queries, whatever the size of the tables or the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from k12.models import (
    Allocation,
    AllocationStatus,
    Booking,
    BookingStatus,
    Role,
    Student,
    Subject,
    TutorSubject,
    User,
)
from sessions_app.models.recordings import RecordingStatus, SessionRecording

# Search terms longer than this are cut: nobody types more, and it bounds the LIKE patterns.
MAX_SEARCH_LENGTH = 100
CHART_DAYS = 28


def week_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The calendar week (Monday 00:00 to the next Monday 00:00, UTC) that contains ``now``."""
    today = now.astimezone(UTC).date()
    monday = datetime.combine(today - timedelta(days=today.weekday()), time.min, tzinfo=UTC)
    return monday, monday + timedelta(days=7)


def dashboard_stats(*, now: datetime | None = None) -> dict[str, int]:
    """The staff's KPIs. The guide's four keys keep their meaning:

    - ``students``: all students; ``parents`` / ``tutors``: users with that role;
    - ``upcomingSessions``: scheduled sessions that have not started yet;

    and what staff need at a glance:

    - ``sessionsThisWeek``: sessions starting this calendar week (Monday to Sunday, UTC) that
      were not cancelled, past ones included;
    - ``activeAllocations``; ``studentsWithoutTutor``: students with no active allocation at all;
    - ``recordingsStored``: recordings stored and playable (status ready; not those still
      uploading or processing, nor failed ones, whose bytes are gone).

    Five queries: one aggregate per table.
    """
    now = now or timezone.now()
    week_start, week_end = week_bounds(now)
    people = User.objects.aggregate(
        parents=Count("id", filter=Q(role=Role.PARENT)),
        tutors=Count("id", filter=Q(role=Role.TUTOR)),
    )
    has_tutor = Allocation.objects.filter(student=OuterRef("pk"), status=AllocationStatus.ACTIVE)
    students = Student.objects.aggregate(
        students=Count("id"),
        without=Count("id", filter=~Q(Exists(has_tutor))),
    )
    # Both figures start at or after the week's start: past weeks are never counted.
    sessions = Booking.objects.filter(starts_at__gte=week_start).aggregate(
        upcoming=Count("id", filter=Q(status=BookingStatus.SCHEDULED, starts_at__gt=now)),
        this_week=Count("id", filter=Q(starts_at__lt=week_end) & ~Q(status=BookingStatus.CANCELLED)),
    )
    return {
        "students": students["students"],
        "parents": people["parents"],
        "tutors": people["tutors"],
        "upcomingSessions": sessions["upcoming"],
        "sessionsThisWeek": sessions["this_week"],
        "activeAllocations": Allocation.objects.filter(status=AllocationStatus.ACTIVE).count(),
        "studentsWithoutTutor": students["without"],
        "recordingsStored": SessionRecording.objects.filter(status=RecordingStatus.READY).count(),
    }


@dataclass(frozen=True)
class DayCount:
    day: date
    sessions: int


def sessions_per_day(*, start: date | None = None, days: int = CHART_DAYS) -> list[DayCount]:
    """Sessions that are not cancelled, per UTC day, for ``days`` days from ``start`` (today by
    default); days without sessions are present with 0. One query."""
    start = start or timezone.now().astimezone(UTC).date()
    begin = datetime.combine(start, time.min, tzinfo=UTC)
    rows = (
        Booking.objects.filter(starts_at__gte=begin, starts_at__lt=begin + timedelta(days=days))
        .exclude(status=BookingStatus.CANCELLED)
        .annotate(day=TruncDate("starts_at", tzinfo=UTC))
        .order_by()
        .values("day")
        .annotate(n=Count("id"))
    )
    counts = {row["day"]: row["n"] for row in rows}
    return [DayCount(day, counts.get(day, 0)) for day in (start + timedelta(days=i) for i in range(days))]


def _search(qs: QuerySet, q: str | None, fields: list[str], extra=None) -> QuerySet:
    """Every whitespace-separated word must match one of ``fields`` (case-insensitive, like the
    Django admin's search), or ``extra(word)`` when given."""
    for word in (q or "")[:MAX_SEARCH_LENGTH].split():
        match = Q()
        for field in fields:
            match |= Q(**{f"{field}__icontains": word})
        if extra is not None:
            match |= extra(word)
        qs = qs.filter(match)
    return qs


def admin_students(*, q: str | None = None) -> QuerySet[Student]:
    """Every student with their parent's email (one query per page), searchable by the
    student's name, the parent's email and the student's own login."""
    qs = Student.objects.select_related("parent")
    return _search(qs, q, ["first_name", "last_name", "parent__email", "user__email"])


def admin_tutors(*, q: str | None = None) -> QuerySet[User]:
    """Every tutor with the subjects they teach (two queries per page: the page, the subjects),
    searchable by name, email or a subject's name."""

    def teaches(word: str) -> Q:
        # A subquery rather than a join: a tutor matching two subjects stays one row.
        return Q(id__in=TutorSubject.objects.filter(subject__name__icontains=word).values("tutor_id"))

    qs = User.objects.filter(role=Role.TUTOR).prefetch_related(
        Prefetch("subjects", queryset=Subject.objects.order_by("name"))
    )
    return _search(qs, q, ["first_name", "last_name", "email"], extra=teaches)


def admin_allocations(
    *,
    status: str | None = None,
    student_id=None,
    tutor_id=None,
    subject_id=None,
) -> QuerySet[Allocation]:
    """Allocations, newest first, with what the list renders joined in (one query per page)."""
    qs = Allocation.objects.select_related("student", "tutor", "subject")
    if status:
        qs = qs.filter(status=status)
    if student_id:
        qs = qs.filter(student_id=student_id)
    if tutor_id:
        qs = qs.filter(tutor_id=tutor_id)
    if subject_id:
        qs = qs.filter(subject_id=subject_id)
    return qs
