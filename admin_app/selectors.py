"""Reads for the staff: the KPIs (shared by /api/admin/stats and the /admin/ index), the
sessions-per-day series of the chart, and the searchable people and allocation lists.

Each function costs a fixed number of queries, whatever the size of the tables or the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce, ExtractHour, ExtractMinute, TruncDate
from django.utils import timezone

from k12.models import (
    Allocation,
    AllocationStatus,
    Booking,
    BookingStatus,
    Role,
    Student,
    Subject,
    TutorAvailability,
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
    """The staff's KPIs. The four keys clients already read keep their meaning:

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


def admin_tutors(
    *, q: str | None = None, subject: Subject | None = None, student: Student | None = None
) -> QuerySet[User]:
    """Every tutor with the subjects they teach (two queries per page: the page, the subjects),
    searchable by name, email or a subject's name. With ``subject``: ``tutor_matches`` (only the
    active tutors who teach it, best fit first, each with their free time and active
    allocations; ``student`` leaves out that student's current tutor of the subject)."""

    def teaches(word: str) -> Q:
        # A subquery rather than a join: a tutor matching two subjects stays one row.
        return Q(id__in=TutorSubject.objects.filter(subject__name__icontains=word).values("tutor_id"))

    if subject is not None:
        qs = tutor_matches(subject=subject, student=student)
    else:
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


# --- The week timetable --------------------------------------------------------------------


@dataclass(frozen=True)
class TimetableRow:
    tutor: User
    days: list[list[Booking]]  # one list per day, Monday first, each sorted by start


@dataclass(frozen=True)
class Timetable:
    week_start: date  # a Monday
    days: list[date]
    rows: list[TimetableRow]
    sessions: int  # all shown, cancelled ones included

    @property
    def previous_week(self) -> date:
        return self.week_start - timedelta(days=7)

    @property
    def next_week(self) -> date:
        return self.week_start + timedelta(days=7)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_timetable(*, week_start: date, subject: Subject | None = None) -> Timetable:
    """Sessions per tutor per UTC day for the week starting ``week_start`` (moved back to its
    Monday), cancelled ones included (they are shown struck through), optionally of one subject.

    Rows: every active tutor (who teaches ``subject``, when given), so free tutors show as empty
    rows, plus any other tutor with a session that week; ordered by name. Two queries."""
    week_start = monday_of(week_start)
    begin = datetime.combine(week_start, time.min, tzinfo=UTC)
    bookings = Booking.objects.filter(starts_at__gte=begin, starts_at__lt=begin + timedelta(days=7))
    tutors = User.objects.filter(role=Role.TUTOR, is_active=True)
    if subject is not None:
        bookings = bookings.filter(subject=subject)
        tutors = tutors.filter(tutor_subjects__subject=subject)
    bookings = list(bookings.select_related("tutor", "student", "subject").order_by("starts_at", "id"))
    by_tutor: dict = {tutor.pk: tutor for tutor in tutors}
    for booking in bookings:
        by_tutor.setdefault(booking.tutor_id, booking.tutor)
    grid: dict = {pk: [[] for _ in range(7)] for pk in by_tutor}
    for booking in bookings:
        grid[booking.tutor_id][booking.starts_at.astimezone(UTC).weekday()].append(booking)
    ordered = sorted(by_tutor.values(), key=lambda t: (t.first_name.lower(), t.last_name.lower(), t.email))
    return Timetable(
        week_start=week_start,
        days=[week_start + timedelta(days=i) for i in range(7)],
        rows=[TimetableRow(tutor, grid[tutor.pk]) for tutor in ordered],
        sessions=len(bookings),
    )


# --- Tutor matching ------------------------------------------------------------------------


def _minutes_of_day(field: str):
    return ExtractHour(field) * 60 + ExtractMinute(field)


def tutor_matches(*, subject: Subject, student: Student | None = None, now: datetime | None = None) -> QuerySet[User]:
    """Active tutors who teach ``subject``, best fit first, each annotated with

    - ``free_minutes``: weekly availability less the sessions (not cancelled) booked in the
      coming seven days, in minutes (negative when overbooked);
    - ``active_allocations``: how many students they currently teach, any subject.

    Best fit: the most free time, then the fewest active allocations, then by name. With
    ``student``, the tutor who already teaches that student the subject is left out (a second
    allocation of the pair would be refused). Whole minutes, so the same SQL runs on SQLite and
    PostgreSQL. Two queries: the tutors, their subjects."""
    now = now or timezone.now()
    weekly = (
        TutorAvailability.objects.filter(tutor=OuterRef("pk"))
        .order_by()
        .values("tutor")
        .annotate(total=Sum(_minutes_of_day("end_time") - _minutes_of_day("start_time")))
        .values("total")
    )
    booked = (
        Booking.objects.filter(tutor=OuterRef("pk"), starts_at__gte=now, starts_at__lt=now + timedelta(days=7))
        .exclude(status=BookingStatus.CANCELLED)
        .order_by()
        .values("tutor")
        .annotate(total=Sum("duration_minutes"))
        .values("total")
    )
    allocations = (
        Allocation.objects.filter(tutor=OuterRef("pk"), status=AllocationStatus.ACTIVE)
        .order_by()
        .values("tutor")
        .annotate(n=Count("id"))
        .values("n")
    )
    qs = User.objects.filter(
        role=Role.TUTOR, is_active=True, id__in=TutorSubject.objects.filter(subject=subject).values("tutor_id")
    )
    if student is not None:
        current = Allocation.objects.filter(student=student, subject=subject, status=AllocationStatus.ACTIVE)
        qs = qs.exclude(id__in=current.values("tutor_id"))
    return (
        qs.annotate(
            free_minutes=Coalesce(Subquery(weekly, output_field=IntegerField()), 0)
            - Coalesce(Subquery(booked, output_field=IntegerField()), 0),
            active_allocations=Coalesce(Subquery(allocations), 0),
        )
        .prefetch_related(Prefetch("subjects", queryset=Subject.objects.order_by("name")))
        .order_by("-free_minutes", "active_allocations", "first_name", "last_name", "id")
    )


def free_weekly_hours(tutor: User) -> float:
    """``tutor_matches``' free time in hours, to one decimal."""
    return round(tutor.free_minutes / 60, 1)


# --- The audit trail's targets -------------------------------------------------------------


def _audit_models() -> dict:
    from sessions_app.models import MessageReport, SessionMessage

    return {
        "sessions_app.sessionmessage": SessionMessage.objects.select_related("user"),
        "sessions_app.sessionrecording": SessionRecording.objects.all(),
        "sessions_app.messagereport": MessageReport.objects.select_related("message__user"),
        "k12.allocation": Allocation.objects.select_related("student", "subject", "tutor"),
        "k12.booking": Booking.objects.select_related("student", "subject", "tutor"),
        "k12.student": Student.objects.all(),
        "k12.user": User.objects.all(),
    }


def audit_event_targets(events) -> tuple[dict, dict]:
    """The objects a page of audit events names: ``({(target_type, target_id): object},
    {session_id: Booking})``; missing keys are objects since deleted (or types with no model, such
    as a login). One query per kind of target on the page, and one for the sessions."""
    wanted: dict[str, set] = {}
    for event in events:
        if event.target_id:
            wanted.setdefault(event.target_type, set()).add(event.target_id)
    targets = {}
    querysets = _audit_models()
    for target_type, ids in wanted.items():
        qs = querysets.get(target_type)
        if qs is None:
            continue
        field = qs.model._meta.pk
        valid = set()
        for raw in ids:
            try:
                valid.add(field.to_python(raw))
            except ValidationError:  # a malformed id names nothing
                continue
        for pk, obj in qs.in_bulk(valid).items():
            targets[(target_type, str(pk))] = obj
    session_ids = {event.session_id for event in events if event.session_id}
    sessions = Booking.objects.select_related("subject", "tutor").in_bulk(session_ids) if session_ids else {}
    return targets, sessions
