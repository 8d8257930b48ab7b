"""Reads of the core domain that are more than a one-line queryset."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from django.db import connection
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
    qs = permissions.sessions_visible_to(user).select_related("student", "tutor", "subject")
    if status:
        qs = qs.filter(status=status)
    if starts_from:
        qs = qs.filter(starts_at__gte=starts_from)
    if starts_to:
        qs = qs.filter(starts_at__lt=starts_to)
    return qs.order_by("starts_at", "id")


# What the apps built on the core add to each session the API lists or shows (the chat: ``unread``),
# by field name: each app registers its annotation in its AppConfig.ready(), so the core reads the
# field without importing the app.
SessionAnnotation = Callable[[QuerySet[Booking], User], QuerySet[Booking]]
_session_annotations: dict[str, SessionAnnotation] = {}


def session_annotation_register(field: str, annotate: SessionAnnotation) -> None:
    """``annotate(sessions, viewer)`` adds ``field`` to each of ``sessions`` for ``viewer``."""
    _session_annotations[field] = annotate


def sessions_annotated(qs: QuerySet[Booking], user: User) -> QuerySet[Booking]:
    """``qs`` with every registered annotation, in the same query."""
    for annotate in _session_annotations.values():
        qs = annotate(qs, user)
    return qs


def students_visible_to(user: User) -> QuerySet[Student]:
    return permissions.students_visible_to(user).order_by("-created_at", "id")


class ModelRows:
    """Full model objects of several models from one row of hand-written SQL: ``columns()`` is
    what the ORM's compiler would select for each ``(model, table alias)``, ``objects(row)``
    converts the values as it would (``Booking.objects.select_related("student")``, say) and
    builds the objects, None for a model whose primary key came back NULL (an outer join that
    found nothing); the row's further values are returned as they are. For a read the ORM would
    need several queries for, or one whose compilation would cost more than running it."""

    def __init__(self, *models: tuple[type, str]):
        self.models = models
        self._plans: dict[str, tuple] = {}

    def _plan(self) -> tuple:
        plan = self._plans.get(connection.vendor)
        if plan is None:
            columns, shapes, converters = [], [], []
            for model, alias in self.models:
                fields = model._meta.concrete_fields
                shapes.append((model, [f.attname for f in fields]))
                for field in fields:
                    columns.append(f'{alias}."{field.column}"')
                    col = field.get_col(model._meta.db_table)
                    converters.append(
                        (connection.ops.get_db_converters(col) + field.get_db_converters(connection), col)
                    )
            plan = self._plans[connection.vendor] = (", ".join(columns), shapes, converters)
        return plan

    def columns(self) -> str:
        return self._plan()[0]

    def objects(self, row) -> tuple[list, list]:
        """(one object or None per model, the row's values after the models' columns)."""
        _, shapes, converters = self._plan()
        values = list(row)
        for index, (functions, col) in enumerate(converters):
            if values[index] is not None:
                for convert in functions:
                    values[index] = convert(values[index], col, connection)
        objects, start = [], 0
        for model, attnames in shapes:
            chunk = values[start : start + len(attnames)]
            start += len(attnames)
            objects.append(None if chunk[0] is None else model.from_db(connection.alias, attnames, chunk))
        return objects, values[start:]


def db_id(value: uuid.UUID):
    """A UUID as a query parameter of hand-written SQL (SQLite keeps them as 32 hex digits)."""
    return value.hex if connection.vendor == "sqlite" else value


_viewer_booking = ModelRows((User, "u"), (Booking, "b"), (Student, "s"))
_user = ModelRows((User, "u"))


def user_by_id(user_id) -> User | None:
    """The user with this id (a malformed one: none), or None: what every token-authenticated
    request and live socket reads first, without compiling a query each time."""
    pk = permissions.parse_uuid(user_id)
    if pk is None:
        return None
    sql = f"SELECT {_user.columns()} FROM {User._meta.db_table} u WHERE u.id = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [db_id(pk)])
        row = cursor.fetchone()
    return None if row is None else _user.objects(row)[0][0]


def booking_and_viewer(booking_id: uuid.UUID, user_id: uuid.UUID) -> tuple[User | None, Booking | None]:
    """A session with its student, and the user asking for it, read in one query as full model
    objects (every field, converted as ``Booking.objects.select_related("student")`` and
    ``User.objects.get`` would give them). ``(None, None)`` if there is no such user; the
    booking is None if there is no such session."""
    sql = (
        f"SELECT {_viewer_booking.columns()} FROM {User._meta.db_table} u "  # noqa: S608
        f"LEFT JOIN {Booking._meta.db_table} b ON b.id = %s "
        f"LEFT JOIN {Student._meta.db_table} s ON s.id = b.student_id WHERE u.id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [db_id(booking_id), db_id(user_id)])
        row = cursor.fetchone()
    if row is None:
        return None, None
    (user, booking, student), _ = _viewer_booking.objects(row)
    if booking is not None:
        booking.student = student
    return user, booking


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
