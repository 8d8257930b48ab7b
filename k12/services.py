"""Writes of the core domain: one function per action, used by REST, WebSocket and the admin."""

from __future__ import annotations

import logging
import zoneinfo
from datetime import datetime, timedelta

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from k12 import permissions
from k12.access_events import access_changed_announce
from k12.errors import Conflict, Forbidden, field_error
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

logger = logging.getLogger(__name__)

MIN_DURATION_MINUTES = 15
MAX_DURATION_MINUTES = 240


def student_create(*, created_by: User, parent: User, first_name: str, last_name: str = "", grade: int) -> Student:
    """Add a child to a parent. A parent adds only their own children; an admin adds to anyone."""
    if parent.role != Role.PARENT:
        raise field_error("parent_id", "That user is not a parent.")
    if not permissions.can_add_student(created_by, parent):
        raise Forbidden("You can only add your own children.")
    return Student.objects.create(
        parent=parent, first_name=first_name.strip(), last_name=last_name.strip(), grade=grade
    )


def allocation_create(*, created_by: User, student: Student, tutor: User, subject: Subject) -> Allocation:
    """Allocate ``tutor`` to ``student`` for ``subject``.

    Guarantees: only an admin allocates (403); the tutor is an active user with the tutor role
    (400 on ``tutorId``) who teaches the subject (400 on ``subjectId``); a student has at most one
    active allocation per subject (409). The last rule is the database's partial unique constraint,
    not a check-then-insert, so of two concurrent requests exactly one wins. The tutor is notified
    (in-app row now; WebSocket push and email once the row is committed), exactly once.
    """
    if not permissions.can_manage_allocations(created_by):
        raise Forbidden("Only staff can allocate tutors.")
    if tutor.role != Role.TUTOR or not tutor.is_active:
        raise field_error("tutorId", "That user is not an active tutor.")
    if not TutorSubject.objects.filter(tutor=tutor, subject=subject).exists():
        raise field_error("subjectId", "This tutor does not teach that subject.")
    try:
        with transaction.atomic():
            allocation = Allocation.objects.create(student=student, tutor=tutor, subject=subject, created_by=created_by)
            _on_allocation_event(allocation, "allocation_created")
    except IntegrityError:
        # The constraint decided; name the clash only if it is the one-active rule (the insert
        # waited for the concurrent winner to commit, so its row is visible now).
        if Allocation.objects.filter(student=student, subject=subject, status=AllocationStatus.ACTIVE).exists():
            raise Conflict("The student already has an active tutor for that subject.") from None
        raise
    return allocation


def allocation_end(*, allocation: Allocation, ended_by: User) -> Allocation:
    """End an active allocation. Admins only (403); 409 unless it is still active, so two
    concurrent ends produce one. Frees the student and subject for a new allocation and stops
    new sessions with this tutor for it; sessions already scheduled stay (staff cancel them
    separately). The tutor is notified once."""
    if not permissions.can_manage_allocations(ended_by):
        raise Forbidden("Only staff can end allocations.")
    with transaction.atomic():
        updated = Allocation.objects.filter(pk=allocation.pk, status=AllocationStatus.ACTIVE).update(
            status=AllocationStatus.ENDED, ended_at=timezone.now(), ended_by=ended_by
        )
        if not updated:
            raise Conflict("The allocation has already ended.")
        allocation.refresh_from_db()
        _on_allocation_event(allocation, "allocation_ended")
        student = allocation.student
        access_changed_announce(
            user_ids=[allocation.tutor_id, student.parent_id, student.user_id], reason="allocation_ended"
        )
    return allocation


def _tutor_available(tutor: User, starts_at: datetime, ends_at: datetime) -> bool:
    """True when [starts_at, ends_at) lies inside one of the tutor's weekly windows,
    each read in its own time zone."""
    for window in TutorAvailability.objects.filter(tutor=tutor):
        try:
            tz = zoneinfo.ZoneInfo(window.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            logger.warning("availability %s has an unknown time zone %r", window.pk, window.timezone)
            continue
        local_start = starts_at.astimezone(tz)
        local_end = ends_at.astimezone(tz)
        if local_start.weekday() != window.weekday or local_start.date() != local_end.date():
            continue
        if window.start_time <= local_start.time() and local_end.time() <= window.end_time:
            return True
    return False


def _lock_people(*users_and_students) -> None:
    """Lock the rows the overlap rule is about, in a stable order, so that two concurrent
    bookings for the same tutor or student run one after the other."""
    user_ids = sorted(str(o.pk) for o in users_and_students if isinstance(o, User))
    student_ids = sorted(str(o.pk) for o in users_and_students if isinstance(o, Student))
    list(User.objects.select_for_update().filter(pk__in=user_ids).order_by("pk").values_list("pk"))
    list(Student.objects.select_for_update().filter(pk__in=student_ids).order_by("pk").values_list("pk"))


def _overlapping(qs, starts_at: datetime, ends_at: datetime):
    return qs.filter(status=BookingStatus.SCHEDULED, starts_at__lt=ends_at, ends_at__gt=starts_at)


def booking_create(
    *,
    created_by: User,
    student: Student,
    tutor: User,
    subject: Subject,
    starts_at: datetime,
    duration_minutes: int,
) -> Booking:
    """Schedule a session.

    Guarantees: only the student's parent or an admin books; the tutor teaches the subject,
    is actively allocated to the student for it, and is available for the whole slot; and
    neither the tutor nor the student has another scheduled session overlapping it, even
    under concurrent requests (row locks, plus an exclusion constraint on PostgreSQL).
    Raises Invalid (400), Forbidden (403) or Conflict (409).
    """
    if not permissions.can_book_for_student(created_by, student):
        raise Forbidden("Only the student's parent or an admin can book a session.")
    if tutor.role != Role.TUTOR or not tutor.is_active:
        raise field_error("tutor_id", "That user is not an active tutor.")
    if not TutorSubject.objects.filter(tutor=tutor, subject=subject).exists():
        raise field_error("subject_id", "This tutor does not teach that subject.")
    ends_at = _check_slot(
        student=student, tutor=tutor, subject=subject, starts_at=starts_at, duration_minutes=duration_minutes
    )
    try:
        with transaction.atomic():
            _lock_people(tutor, student)
            _refuse_overlaps(tutor, student, starts_at, ends_at)
            booking = Booking.objects.create(
                student=student,
                tutor=tutor,
                subject=subject,
                starts_at=starts_at,
                ends_at=ends_at,
                duration_minutes=duration_minutes,
                created_by=created_by,
            )
            _on_booking_event(booking, "booking_created")
    except IntegrityError as exc:  # the PostgreSQL exclusion constraint, should a lock be bypassed
        _overlap_conflict(exc)
    return booking


def booking_reschedule(
    *, booking: Booking, changed_by: User, starts_at: datetime, duration_minutes: int | None = None
) -> Booking:
    """Move a scheduled session to another time (and length; the same by default): the student's
    parent or an admin (403); 409 unless it is still scheduled. The new slot obeys the booking
    rules (allocation, availability, no overlap for the tutor or the student, the session's own
    old slot aside). The session's parent, child's login and tutor are notified
    (``booking_moved``, with the old time)."""
    if not permissions.can_reschedule_booking(changed_by, booking):
        raise Forbidden("Only the student's parent or an admin can move a session.")
    duration_minutes = booking.duration_minutes if duration_minutes is None else duration_minutes
    ends_at = _check_slot(
        student=booking.student,
        tutor=booking.tutor,
        subject=booking.subject,
        starts_at=starts_at,
        duration_minutes=duration_minutes,
    )
    try:
        with transaction.atomic():
            _lock_people(booking.tutor, booking.student)
            locked = (
                Booking.objects.select_for_update(of=("self",))
                .select_related("student", "tutor", "subject")
                .get(pk=booking.pk)
            )
            if locked.status != BookingStatus.SCHEDULED:
                raise Conflict(f"The session is already {locked.status}.")
            _refuse_overlaps(locked.tutor, locked.student, starts_at, ends_at, exclude=locked.pk)
            previous = locked.starts_at
            locked.starts_at, locked.ends_at, locked.duration_minutes = starts_at, ends_at, duration_minutes
            locked.save(update_fields=["starts_at", "ends_at", "duration_minutes"])
            _on_booking_event(locked, "booking_moved", previous_starts_at=previous)
    except IntegrityError as exc:
        _overlap_conflict(exc)
    return locked


def _check_slot(*, student: Student, tutor: User, subject: Subject, starts_at: datetime, duration_minutes: int):
    """The booking rules a slot must meet before any lock is taken (400 on the field at fault).
    Returns when it ends."""
    if not Allocation.objects.filter(
        student=student, tutor=tutor, subject=subject, status=AllocationStatus.ACTIVE
    ).exists():
        raise field_error("tutor_id", "This tutor is not allocated to the student for that subject.")
    if not MIN_DURATION_MINUTES <= duration_minutes <= MAX_DURATION_MINUTES:
        raise field_error(
            "duration_minutes",
            f"Must be between {MIN_DURATION_MINUTES} and {MAX_DURATION_MINUTES} minutes.",
        )
    if starts_at <= timezone.now():
        raise field_error("starts_at", "A session must start in the future.")
    ends_at = starts_at + timedelta(minutes=duration_minutes)
    if not _tutor_available(tutor, starts_at, ends_at):
        raise field_error("starts_at", "The tutor is not available at that time.")
    return ends_at


def _refuse_overlaps(tutor: User, student: Student, starts_at: datetime, ends_at: datetime, exclude=None) -> None:
    """409 when the tutor or the student has another scheduled session in the slot (the caller
    holds both rows' locks)."""
    for field, label in ((tutor, "tutor"), (student, "student")):
        others = Booking.objects.filter(**{label: field}).exclude(pk=exclude)
        if _overlapping(others, starts_at, ends_at).exists():
            raise Conflict(f"The {label} already has a session at that time.")


def _overlap_conflict(exc: IntegrityError):
    if "booking_no_overlap" in str(exc):
        raise Conflict("The tutor or the student already has a session at that time.") from exc
    raise exc


def booking_cancel(*, booking: Booking, cancelled_by: User, reason: str = "") -> Booking:
    """Cancel a scheduled session. The session's parent or tutor, or an admin; 409 unless it is
    still scheduled. Frees the slot for new bookings."""
    if not permissions.can_cancel_booking(cancelled_by, booking):
        raise Forbidden("Only the session's parent or tutor can cancel it.")
    with transaction.atomic():
        updated = Booking.objects.filter(pk=booking.pk, status=BookingStatus.SCHEDULED).update(
            status=BookingStatus.CANCELLED,
            cancelled_by=cancelled_by,
            cancelled_at=timezone.now(),
            cancel_reason=reason.strip()[:500],
        )
        if not updated:
            booking.refresh_from_db(fields=["status"])
            raise Conflict(f"The session is already {booking.status}.")
        booking.refresh_from_db()
        _on_booking_event(booking, "booking_cancelled")
        access_changed_announce(
            user_ids=[booking.tutor_id, booking.student.parent_id, booking.student.user_id],
            reason="session_cancelled",
            session_ids=[booking.pk],
        )
    return booking


def bookings_complete_past(*, now: datetime | None = None) -> int:
    """Mark scheduled sessions that have ended as completed. Returns how many."""
    now = now or timezone.now()
    return Booking.objects.filter(status=BookingStatus.SCHEDULED, ends_at__lte=now).update(
        status=BookingStatus.COMPLETED
    )


def _on_booking_event(booking: Booking, kind: str, *, previous_starts_at=None) -> None:
    """Tell the session's people about a new, moved or cancelled session."""
    from k12 import notifications

    notifications.notify_booking_event(booking=booking, kind=kind, previous_starts_at=previous_starts_at)


def recording_consent_set(*, student: Student, changed_by: User, granted: bool, request=None) -> Student:
    """The parent grants or withdraws consent to record their child. Without consent, uploads
    for the child's sessions are refused (409) and existing recordings are hidden from everyone
    but staff until consent is given again. Audited; a repeat of the current state changes
    nothing and records nothing."""
    from k12.audit import audit_record
    from k12.models import AuditAction

    if not permissions.can_set_recording_consent(changed_by, student):
        raise Forbidden("Only the child's parent can change consent to record.")
    if not isinstance(granted, bool):
        raise field_error("granted", "Must be true or false.")
    with transaction.atomic():
        locked = Student.objects.select_for_update().get(pk=student.pk)
        if locked.recording_consent != granted:
            locked.recording_consent = granted
            locked.recording_consent_changed_at = timezone.now()
            locked.recording_consent_changed_by = changed_by
            locked.save(
                update_fields=["recording_consent", "recording_consent_changed_at", "recording_consent_changed_by"]
            )
            audit_record(
                action=AuditAction.CONSENT_GRANTED if granted else AuditAction.CONSENT_WITHDRAWN,
                actor=changed_by,
                target=locked,
                request=request,
            )
            if not granted:
                # everyone who could watch the child's recordings: the family and the tutors
                tutors = Allocation.objects.filter(student=locked, status=AllocationStatus.ACTIVE).values_list(
                    "tutor_id", flat=True
                )
                access_changed_announce(
                    user_ids=[locked.parent_id, locked.user_id, *tutors], reason="consent_withdrawn"
                )
    return locked


def student_parent_set(*, student: Student, changed_by: User, parent: User, request=None) -> Student:
    """Staff move a child to another parent account (a mistaken link, a custody change). The new
    parent must be an active user with the parent role (400 on ``parentId``). Audited with both
    parents; the old parent's open sockets leave the child's rooms at once. Setting the current
    parent changes nothing and records nothing."""
    from k12.audit import audit_record
    from k12.models import AuditAction

    if not permissions.can_relink_student(changed_by):
        raise Forbidden("Only staff can move a child to another parent.")
    if parent.role != Role.PARENT or not parent.is_active:
        raise field_error("parentId", "That user is not an active parent.")
    with transaction.atomic():
        locked = Student.objects.select_for_update().get(pk=student.pk)
        previous = locked.parent_id
        if previous != parent.pk:
            locked.parent = parent
            locked.save(update_fields=["parent"])
            audit_record(
                action=AuditAction.STUDENT_PARENT_CHANGED,
                actor=changed_by,
                target=locked,
                data={"from": str(previous), "to": str(parent.pk)},
                request=request,
            )
            access_changed_announce(
                user_ids=[previous, parent.pk, locked.user_id],
                reason="parent_changed",
                session_ids=Booking.objects.filter(student=locked).values_list("pk", flat=True),
            )
    return locked


def student_login_set(*, student: Student, changed_by: User, login: User | None, request=None) -> Student:
    """Staff link a child to its own login (role student, active, not another child's), or unlink
    it (``login=None``). Audited; the previous login's open sockets leave the child's rooms at
    once."""
    from k12.audit import audit_record
    from k12.models import AuditAction

    if not permissions.can_relink_student(changed_by):
        raise Forbidden("Only staff can link a child's login.")
    if login is not None and (login.role != Role.STUDENT or not login.is_active):
        raise field_error("userId", "That user is not an active student login.")
    with transaction.atomic():
        locked = Student.objects.select_for_update().get(pk=student.pk)
        previous = locked.user_id
        new = login.pk if login is not None else None
        if previous != new:
            if new is not None and Student.objects.filter(user_id=new).exclude(pk=locked.pk).exists():
                raise field_error("userId", "That login belongs to another child.")
            locked.user = login
            locked.save(update_fields=["user"])
            audit_record(
                action=AuditAction.STUDENT_LOGIN_CHANGED,
                actor=changed_by,
                target=locked,
                data={"from": str(previous) if previous else None, "to": str(new) if new else None},
                request=request,
            )
            access_changed_announce(
                user_ids=[previous, new],
                reason="parent_changed",
                session_ids=Booking.objects.filter(student=locked).values_list("pk", flat=True),
            )
    return locked


def _flag_set(
    instance: models.Model, field: str, value: bool, *, action: str, changed_by: User, session_id=None, request=None
) -> bool:
    """Set the yes/no ``field`` of ``instance``'s row to ``value`` and audit ``action``, in the
    caller's transaction: one UPDATE that matches the row only where the field differs, so
    repeating the current state changes nothing and records nothing. Whether it changed."""
    from k12.audit import audit_record

    updated = type(instance).objects.filter(pk=instance.pk).exclude(**{field: value}).update(**{field: value})
    if updated:
        audit_record(action=action, actor=changed_by, target=instance, session_id=session_id, request=request)
    return bool(updated)


def user_set_active(*, user: User, changed_by: User, active: bool, request=None) -> User:
    """Staff deactivate an account (or reactivate it). Accounts are deactivated, never deleted:
    a user's messages, recordings and sessions stay. A deactivated user cannot log in, their
    refresh tokens are revoked, and their open sockets close at once (4403). Audited; staff cannot
    deactivate themselves. Repeating the current state changes nothing and records nothing."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    from k12.models import AuditAction

    if not permissions.can_manage_users(changed_by):
        raise Forbidden("Only staff can deactivate accounts.")
    if not active and user.pk == changed_by.pk:
        raise Conflict("You cannot deactivate your own account.")
    with transaction.atomic():
        action = AuditAction.USER_REACTIVATED if active else AuditAction.USER_DEACTIVATED
        changed = _flag_set(user, "is_active", active, action=action, changed_by=changed_by, request=request)
        if changed and not active:
            outstanding = OutstandingToken.objects.filter(user_id=user.pk, blacklistedtoken__isnull=True)
            BlacklistedToken.objects.bulk_create(
                [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
            )
            access_changed_announce(user_ids=[user.pk], reason="user_deactivated")
    user.refresh_from_db(fields=["is_active"])
    return user


def booking_set_legal_hold(*, booking: Booking, changed_by: User, hold: bool, request=None) -> Booking:
    """Staff put a session under legal hold (its messages and recordings outlive retention) or
    release it. Audited."""
    from k12.models import AuditAction

    if not permissions.can_moderate(changed_by):
        raise Forbidden("Only staff can set a legal hold.")
    with transaction.atomic():
        action = AuditAction.LEGAL_HOLD_SET if hold else AuditAction.LEGAL_HOLD_CLEARED
        _flag_set(
            booking, "legal_hold", hold, action=action, changed_by=changed_by, session_id=booking.pk, request=request
        )
    booking.refresh_from_db(fields=["legal_hold"])
    return booking


def _on_allocation_event(allocation: Allocation, kind: str) -> None:
    """Record the allocation in the audit trail and tell the tutor about it (inside the caller's
    transaction: both happen exactly when the allocation does)."""
    from k12 import notifications
    from k12.audit import audit_record
    from k12.models import AuditAction

    created = kind == "allocation_created"
    audit_record(
        action=AuditAction.ALLOCATION_CREATED if created else AuditAction.ALLOCATION_ENDED,
        actor=allocation.created_by if created else allocation.ended_by,
        target=allocation,
        data={
            "student": str(allocation.student_id),
            "tutor": str(allocation.tutor_id),
            "subject": str(allocation.subject_id),
        },
    )
    notifications.notify_allocation_event(allocation=allocation, kind=kind)
