"""The one access rule: who may do what, for every role.

Every REST view, the WebSocket consumer, the signed-URL view and the Django admin ask
these functions; none keeps a copy of the rule.

- predicates ``can_*(user, obj) -> bool``
- queryset scopes ``*_visible_to(user) -> QuerySet``
- guarded fetches ``access_*(user, id, action=...)`` raising ``NotFound`` when the object
  does not exist (or the id is malformed) and ``Forbidden`` when it exists but
  the user may not do that: the API's 404/403.
"""

from __future__ import annotations

import uuid
from typing import Literal, TypeVar

from django.db.models import Model, Q, QuerySet
from rest_framework.permissions import BasePermission, IsAuthenticated

from k12.errors import Forbidden, NotFound
from k12.models import Allocation, AllocationStatus, Booking, BookingStatus, Notification, Role, Student, User

BookingAction = Literal["view", "message", "upload_recording", "cancel", "reschedule"]
R = TypeVar("R", bound=Model)


def _authenticated(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def is_admin(user) -> bool:
    return _authenticated(user) and user.role == Role.ADMIN


def is_participant(user, booking: Booking) -> bool:
    """The session's tutor, the student's parent, or the student's own login."""
    if not _authenticated(user):
        return False
    return user.id in (booking.tutor_id, booking.student.parent_id, booking.student.user_id)


def can_view_booking(user, booking: Booking) -> bool:
    """Read the session, its messages and its recordings."""
    return is_admin(user) or is_participant(user, booking)


def can_send_message(user, booking: Booking) -> bool:
    return can_view_booking(user, booking)


def can_upload_recording(user, booking: Booking) -> bool:
    """Who may upload to the session: its tutor or an admin. Whether anything may be recorded
    at all is the child's consent (``recording_consent_missing``), a 409, not a 403."""
    return is_admin(user) or (_authenticated(user) and booking.tutor_id == user.id)


# --- Recording consent: one rule for the list, playback, uploads and links ---------------------


def recording_consent_missing(booking: Booking) -> bool:
    """The child's parent has not given (or has withdrawn) consent to record: nothing may be
    uploaded for the session, and its recordings are for staff's eyes only."""
    return not booking.student.recording_consent


def can_see_recordings(user, booking: Booking) -> bool:
    """List and play the session's recordings: anyone who may view the session while consent
    stands; staff also without it (a safeguarding review)."""
    return can_view_booking(user, booking) and (is_admin(user) or not recording_consent_missing(booking))


PlaybackScope = Literal["p", "s"]
PARTICIPANT_PLAYBACK: PlaybackScope = "p"
STAFF_PLAYBACK: PlaybackScope = "s"


def playback_scope_for(user) -> PlaybackScope:
    """The scope of a playback link minted for ``user``: a staff link keeps playing without
    consent; a participant's stops the moment consent is withdrawn."""
    return STAFF_PLAYBACK if is_admin(user) else PARTICIPANT_PLAYBACK


def can_play_with_link(scope: str, recording) -> bool:
    """A signed link's holder may play ``recording``: a staff link always, a participant's
    while the child's consent stands."""
    if scope == STAFF_PLAYBACK:
        return True
    return scope == PARTICIPANT_PLAYBACK and not recording_consent_missing(recording.session)


def sees_hidden_text(user) -> bool:
    """Staff read the text of messages they hid; everyone else gets a placeholder."""
    return is_admin(user)


def can_cancel_booking(user, booking: Booking) -> bool:
    """The session's parent or tutor, or an admin. A student login may not cancel."""
    if is_admin(user):
        return True
    return _authenticated(user) and user.id in (booking.tutor_id, booking.student.parent_id)


def can_reschedule_booking(user, booking: Booking) -> bool:
    """Move a session to another time: who may book for its student (its parent, an admin)."""
    return can_book_for_student(user, booking.student)


def can_delete_recording(user, recording) -> bool:
    return is_admin(user) or (_authenticated(user) and recording.uploaded_by_id == user.id)


def can_manage_upload(user, recording) -> bool:
    """Complete or abort a direct-to-storage upload in progress: whoever started it (or an
    admin), and only while they may still upload to that session."""
    return can_upload_recording(user, recording.session) and (is_admin(user) or recording.uploaded_by_id == user.id)


def can_book_for_student(user, student: Student) -> bool:
    """Create a session for this student: its parent or an admin."""
    return is_admin(user) or (_authenticated(user) and student.parent_id == user.id)


def can_add_student(user, parent: User) -> bool:
    """A parent adds their own child; an admin adds a child to any parent."""
    return is_admin(user) or (_authenticated(user) and user.role == Role.PARENT and parent.id == user.id)


def adds_own_children(user) -> bool:
    """A parent who adds a child without naming a parent adds their own."""
    return _authenticated(user) and user.role == Role.PARENT


def can_revoke_refresh_token(user, token_user_id) -> bool:
    """Log a refresh token out (blacklist it): its owner, or an admin. Holding someone else's
    token is not enough: that would let anyone who saw one end another person's login."""
    if not _authenticated(user):
        return False
    return str(user.pk) == str(token_user_id) or is_admin(user)


def can_manage_allocations(user) -> bool:
    """Allocate a tutor to a student, or end an allocation: staff only (as all of /api/admin/*)."""
    return is_admin(user)


def can_manage_users(user) -> bool:
    """Deactivate or reactivate accounts: staff."""
    return is_admin(user)


def can_relink_student(user) -> bool:
    """Move a child to another parent, link or unlink a child's own login: staff."""
    return is_admin(user)


def can_use_staff_desk(user) -> bool:
    """Enter the Django admin at /admin/, the staff's desk, and use each of its pages as far as
    the page allows anyone to: the same people as /api/admin/* (``is_admin``). Django's own
    ``is_staff`` flag and per-model permission rows decide nothing here."""
    return is_admin(user)


def is_staff_role(role: str) -> bool:
    """The value Django's ``is_staff`` flag is kept at for a user of ``role`` (it decides no
    access; third-party code that reads it sees the same answer as the desk)."""
    return role == Role.ADMIN


def can_read_notification(user, notification: Notification) -> bool:
    """A notification is its recipient's alone: not even an admin reads or marks another's."""
    return _authenticated(user) and notification.user_id == user.id


_BOOKING_PREDICATES = {
    "view": can_view_booking,
    "message": can_send_message,
    "upload_recording": can_upload_recording,
    "cancel": can_cancel_booking,
    "reschedule": can_reschedule_booking,
}

_DENIED_MESSAGES = {
    "view": "Access denied to this session.",
    "message": "Access denied to this session.",
    "upload_recording": "Only the session's tutor can upload recordings.",
    "cancel": "Only the session's parent or tutor can cancel it.",
    "reschedule": "Only the student's parent or an admin can move a session.",
}


def sessions_visible_to(user) -> QuerySet[Booking]:
    """Sessions the user takes part in; every session for an admin; none for anyone else."""
    qs = Booking.objects.all()
    if is_admin(user):
        return qs
    if not _authenticated(user):
        return qs.none()
    return qs.filter(Q(tutor_id=user.id) | Q(student__parent_id=user.id) | Q(student__user_id=user.id))


def students_visible_to(user) -> QuerySet[Student]:
    """Parent: own children. Tutor: students actively allocated to them. Student: themself."""
    qs = Student.objects.all()
    if is_admin(user):
        return qs
    if not _authenticated(user):
        return qs.none()
    if user.role == Role.PARENT:
        return qs.filter(parent_id=user.id)
    if user.role == Role.TUTOR:
        return qs.filter(
            id__in=Student.objects.filter(
                allocations__tutor_id=user.id, allocations__status=AllocationStatus.ACTIVE
            ).values("id")
        )
    if user.role == Role.STUDENT:
        return qs.filter(user_id=user.id)
    return qs.none()


def notifications_visible_to(user) -> QuerySet[Notification]:
    """The user's own notifications; none for anyone else, admins included."""
    if not _authenticated(user):
        return Notification.objects.none()
    return Notification.objects.filter(user_id=user.id)


def parse_uuid(value) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def get_or_404(queryset, object_id, label: str):
    """The object with this id, or NotFound ("<label> not found.") if there is none or the id is
    not a UUID: a malformed id is "does not exist", never a 500."""
    pk = parse_uuid(object_id)
    if pk is None:
        raise NotFound(f"{label} not found.")
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise NotFound(f"{label} not found.") from None


def fetch_booking(user, booking_id) -> Booking:
    """The session ``booking_id`` with its student (for the predicates), or NotFound if there is
    none (malformed ids included). When ``user`` is a token's user not yet read from the
    database, it is read in the same query (``k12.selectors.booking_and_viewer``): 401 if it is
    gone or inactive."""
    from k12 import selectors
    from k12.authentication import pending_viewer_id

    viewer_id = pending_viewer_id(user)
    pk = parse_uuid(booking_id)
    if viewer_id is None or pk is None:
        if viewer_id is not None:
            user.is_active  # noqa: B018 - reads the user (401 if gone) before answering 404
        return get_or_404(Booking.objects.select_related("student", "tutor", "subject"), booking_id, "Session")
    viewer, booking = selectors.booking_and_viewer(pk, viewer_id)
    user.resolve(viewer)
    if booking is None:
        raise NotFound("Session not found.")
    return booking


def access_booking(user, booking_id, action: BookingAction = "view") -> Booking:
    """Fetch a session for ``action`` or raise: NotFound if it does not exist, Forbidden if
    the user may not. Malformed ids are "does not exist", never a 500."""
    return access_fetched_booking(user, fetch_booking(user, booking_id), action)


def access_fetched_booking(user, booking: Booking | None, action: BookingAction = "view") -> Booking:
    """``access_booking``'s answer for a session read together with something else (with its
    student; None when there is no such session): the session, or NotFound / Forbidden."""
    if booking is None:
        raise NotFound("Session not found.")
    if not _BOOKING_PREDICATES[action](user, booking):
        raise Forbidden(_DENIED_MESSAGES[action])
    return booking


def access_allocation(user, allocation_id) -> Allocation:
    """Fetch an allocation for staff: NotFound if it does not exist (or the id is malformed),
    Forbidden for anyone who may not manage allocations."""
    allocation = get_or_404(
        Allocation.objects.select_related("student", "tutor", "subject"), allocation_id, "Allocation"
    )
    if not can_manage_allocations(user):
        raise Forbidden("Admin access only.")
    return allocation


def access_notification(user, notification_id) -> Notification:
    """Fetch one of the user's notifications: NotFound if it does not exist, Forbidden if it
    is someone else's (the API's 404/403)."""
    notification = get_or_404(Notification.objects.all(), notification_id, "Notification")
    if not can_read_notification(user, notification):
        raise Forbidden("This notification is not yours.")
    return notification


_RECORDING_DENIED_MESSAGES = {
    "delete": "Only the recording's uploader or an admin can delete it.",
    "manage_upload": "Only whoever started this upload can complete or abort it.",
}


class IsAdminRole(BasePermission):
    """DRF guard for /api/admin/*: authenticated (else 401) and role admin (else 403)."""

    message = "Admin access only."

    def has_permission(self, request, view) -> bool:
        return is_admin(request.user)


def can_report_message(user, booking: Booking) -> bool:
    """Report a message of this session: its participants (staff hide messages directly)."""
    return is_participant(user, booking)


def can_moderate(user) -> bool:
    """Hide or restore messages, close reports, set legal holds: staff."""
    return is_admin(user)


def booking_capabilities(user, booking: Booking) -> dict[str, bool]:
    """What ``user`` may do with the session now: each flag is true exactly when the request it
    stands for would succeed (same predicates, same state checks as the requests), so a client
    offers only what will work. Reads only the session and its student (no query)."""
    return {
        "send_message": can_send_message(user, booking),
        "upload_recording": can_upload_recording(user, booking) and not recording_consent_missing(booking),
        "cancel": can_cancel_booking(user, booking) and booking_cancellable(booking),
        "report": can_report_message(user, booking),
        "moderate": can_moderate(user) and can_view_booking(user, booking),
    }


def booking_cancellable(booking: Booking) -> bool:
    """Only a scheduled session can be cancelled (a 409 otherwise)."""
    return booking.status == BookingStatus.SCHEDULED


def can_set_recording_consent(user, student: Student) -> bool:
    """Grant or withdraw consent to record a child: the child's parent (or staff, on the
    parent's written instruction)."""
    return is_admin(user) or (_authenticated(user) and student.parent_id == user.id)


def can_view_student(user, student: Student) -> bool:
    """The student is among ``students_visible_to(user)`` (a query for a tutor, who sees the
    students allocated to them)."""
    if is_admin(user):
        return True
    if not _authenticated(user):
        return False
    if user.id in (student.parent_id, student.user_id):
        return True
    return students_visible_to(user).filter(pk=student.pk).exists()


def access_student(user, student_id) -> Student:
    """A student the user may see (students_visible_to): NotFound if there is no such student (or
    the id is malformed), Forbidden if it exists but is not visible to the user."""
    student = get_or_404(Student.objects.all(), student_id, "Student")
    if not can_view_student(user, student):
        raise Forbidden("Access denied to this student.")
    return student


def recordings_visible_to(user, booking: Booking, recordings: QuerySet[R]) -> QuerySet[R]:
    """Of ``recordings`` (the recordings app's rows, each with a ``session``), the ones of
    ``booking`` that ``user`` may list: all of them when ``can_see_recordings``, else none. The
    app hands its own queryset in: the core does not import the apps built on it."""
    if not can_see_recordings(user, booking):
        return recordings.none()
    return recordings.filter(session=booking)


# --- DRF permission classes: the viewsets' guards, asking the predicates above -----------------


class _ObjectRule(IsAuthenticated):
    """Anonymous: 401 (IsAuthenticated). On the object: the predicate the view's action maps to
    in ``rules_attr`` (``{action: rule}``); refused: 403 with the rule's message."""

    rules_attr = ""
    rules: dict = {}

    def has_object_permission(self, request, view, obj) -> bool:
        rule = getattr(view, self.rules_attr)[view.action]
        predicate, message = self.rules[rule]
        if predicate(request.user, obj):
            return True
        self.message = message
        return False


class BookingAccess(_ObjectRule):
    """A session and what lives inside it (its messages, recordings, uploads): the view's
    ``booking_actions`` maps each action to a session action (``view``, ``message``, ...)."""

    rules_attr = "booking_actions"
    rules = {action: (_BOOKING_PREDICATES[action], _DENIED_MESSAGES[action]) for action in _BOOKING_PREDICATES}


class RecordingAccess(_ObjectRule):
    rules_attr = "recording_actions"
    rules = {
        "delete": (can_delete_recording, _RECORDING_DENIED_MESSAGES["delete"]),
        "manage_upload": (can_manage_upload, _RECORDING_DENIED_MESSAGES["manage_upload"]),
    }


def _can_moderate_message(user, message) -> bool:
    return can_view_booking(user, message.session) and can_moderate(user)


def _can_report(user, message) -> bool:
    return can_view_booking(user, message.session)


class MessageAccess(_ObjectRule):
    """A chat message: reported by those who see its session (the service then admits its
    participants only), hidden and restored by staff."""

    rules_attr = "message_actions"
    rules = {
        "report": (_can_report, "Access denied to this session."),
        "moderate": (_can_moderate_message, "Only staff can moderate messages."),
    }


class ModerationAccess(IsAuthenticated):
    """The moderation queue (/api/admin/reports): staff. Anonymous 401, anyone else 403."""

    message = "Admin access only."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and can_moderate(request.user)


class StudentAccess(_ObjectRule):
    rules_attr = "student_actions"
    rules = {"view": (can_view_student, "Access denied to this student.")}


class NotificationAccess(_ObjectRule):
    rules_attr = "notification_actions"
    rules = {"read": (can_read_notification, "This notification is not yours.")}
