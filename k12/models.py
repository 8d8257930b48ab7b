"""The core domain: people, subjects, who teaches what and when, allocations and sessions.

A "session" in the API is a ``Booking`` here (``django.contrib.sessions`` owns the
word in Django). Business rules live in ``k12/services.py``; these classes hold data
and the constraints the database itself must guarantee.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


def display_name(first_name: str, last_name: str | None) -> str:
    """First and last name, the last left out when empty: the ``from`` of a chat message, the
    same for a user with no last name as for one with."""
    return f"{first_name} {last_name or ''}".strip()


class Role(models.TextChoices):
    PARENT = "parent", "Parent"
    TUTOR = "tutor", "Tutor"
    STUDENT = "student", "Student"
    ADMIN = "admin", "Admin"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        from k12.permissions import is_staff_role  # the permissions module builds on the models

        user.is_staff = is_staff_role(user.role)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("role", Role.ADMIN)
        extra["is_superuser"] = True
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """Anyone who logs in. ``role`` decides what they may do (k12/permissions.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    role = models.CharField(max_length=10, choices=Role.choices, db_index=True)
    subjects = models.ManyToManyField("Subject", through="TutorSubject", related_name="tutors", blank=True)
    is_active = models.BooleanField(default=True)
    # Django's flag for its admin site. It decides nothing here (k12.permissions.can_use_staff_desk
    # does); it is kept at ``is_staff_role(role)`` wherever a user is made or edited
    # (UserManager.create_user, the desk's user page) for third-party code that reads it.
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["first_name"]

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="user_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} <{self.email}>"

    @property
    def display_name(self) -> str:
        return display_name(self.first_name, self.last_name)

    def get_full_name(self) -> str:
        return self.display_name

    # The staff desk's rights are the one access rule (k12.permissions.can_use_staff_desk), not
    # per-model permission rows or the superuser flag: staff may do in the Django admin whatever
    # each ModelAdmin allows at all (read-only admins still refuse changes for everyone).
    def has_perm(self, perm, obj=None) -> bool:
        from k12.permissions import can_use_staff_desk

        return can_use_staff_desk(self)

    def has_module_perms(self, app_label) -> bool:
        from k12.permissions import can_use_staff_desk

        return can_use_staff_desk(self)

    def get_short_name(self) -> str:
        return self.first_name


class Subject(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TutorSubject(models.Model):
    """A subject a tutor teaches."""

    tutor = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tutor_subjects")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="tutor_links")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tutor", "subject"], name="tutor_subject_unique")]

    def __str__(self) -> str:
        return f"{self.tutor_id} teaches {self.subject_id}"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class TutorAvailability(models.Model):
    """A weekly window in which a tutor takes sessions, in the tutor's own time zone."""

    tutor = models.ForeignKey(User, on_delete=models.CASCADE, related_name="availability")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField()
    end_time = models.TimeField()
    timezone = models.CharField(max_length=64, default="UTC")

    class Meta:
        ordering = ["tutor", "weekday", "start_time"]
        verbose_name_plural = "tutor availability"
        indexes = [models.Index(fields=["tutor", "weekday"], name="availability_tutor_day")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_time__gt=models.F("start_time")),
                name="availability_end_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(weekday__gte=0, weekday__lte=6), name="availability_weekday_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start_time:%H:%M}-{self.end_time:%H:%M} {self.timezone}"


class Student(models.Model):
    """A child. Belongs to a parent; may have a login of its own (role student)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    parent = models.ForeignKey(User, on_delete=models.PROTECT, related_name="children")
    user = models.OneToOneField(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="student_profile")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    # 0 is kindergarten, 1..12 the grades.
    grade = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    # The parent's consent to record this child's sessions: opt-in, withdrawable at any time.
    # Without it uploads are refused and existing recordings are hidden from everyone but staff.
    recording_consent = models.BooleanField(default=False)
    recording_consent_changed_at = models.DateTimeField(null=True, blank=True)
    recording_consent_changed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(grade__lte=12), name="student_grade_k12"),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class AllocationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended"


class Allocation(models.Model):
    """Staff's decision that a tutor teaches a student a subject."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="allocations")
    tutor = models.ForeignKey(User, on_delete=models.PROTECT, related_name="allocations")
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="allocations")
    status = models.CharField(max_length=10, choices=AllocationStatus.choices, default=AllocationStatus.ACTIVE)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["tutor", "status"], name="allocation_tutor_status"),
        ]
        constraints = [
            # Two concurrent requests cannot both give a student a second active tutor.
            models.UniqueConstraint(
                fields=["student", "subject"],
                condition=models.Q(status="active"),
                name="allocation_one_active_per_student_subject",
            ),
            models.CheckConstraint(
                condition=models.Q(status="active", ended_at__isnull=True)
                | models.Q(status="ended", ended_at__isnull=False),
                name="allocation_ended_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student} / {self.subject} / {self.tutor.email} ({self.status})"


class BookingStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Booking(models.Model):
    """A tutoring session. Participants: the student's parent, the student's login, the tutor."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    student = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="bookings")
    tutor = models.ForeignKey(User, on_delete=models.PROTECT, related_name="tutor_bookings")
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="bookings")
    starts_at = models.DateTimeField()
    duration_minutes = models.PositiveSmallIntegerField()
    # Stored (starts_at + duration) so overlap checks are one indexed range comparison.
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=BookingStatus.choices, default=BookingStatus.SCHEDULED)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    cancelled_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=500, blank=True)
    # The last chat message's seq (sessions_app.SessionMessage): bumped under the row lock that
    # orders a session's messages.
    last_message_seq = models.PositiveBigIntegerField(default=0, editable=False)
    # A legal hold keeps the session's messages and recordings past any retention period.
    legal_hold = models.BooleanField(default=False)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(fields=["tutor", "starts_at"], name="booking_tutor_start"),
            models.Index(fields=["student", "starts_at"], name="booking_student_start"),
            models.Index(fields=["status", "starts_at"], name="booking_status_start"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="booking_ends_after_start"
            ),
            models.CheckConstraint(condition=models.Q(duration_minutes__gt=0), name="booking_positive_duration"),
            models.CheckConstraint(condition=models.Q(status__in=BookingStatus.values), name="booking_status_valid"),
            models.CheckConstraint(
                condition=~models.Q(status="cancelled") | models.Q(cancelled_at__isnull=False),
                name="booking_cancelled_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} with {self.tutor.display_name} at {self.starts_at:%Y-%m-%d %H:%M}"


class SessionReminder(models.Model):
    """That a session's reminder for one lead time (24 h, 15 min) went out, for the time the
    session then started at. The unique constraint is what makes a reminder go once, whatever
    number of beat processes and workers race for it; a session moved to a new time gets its
    reminders again for that time."""

    session = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="reminders")
    lead = models.CharField(max_length=8)
    starts_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "lead", "starts_at"], name="reminder_once_per_lead"),
        ]

    def __str__(self) -> str:
        return f"{self.lead} reminder of {self.session_id} for {self.starts_at:%Y-%m-%d %H:%M}"


class EmailStatus(models.TextChoices):
    NONE = "", "No email"
    PENDING = "pending", "Queued"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Failed, will retry"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """An in-app notice to one user. Created by services, pushed on commit, emailed where wanted
    by a background worker (k12/notifications.py); the email's fate is recorded here."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=50)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    email_status = models.CharField(max_length=10, choices=EmailStatus.choices, default=EmailStatus.NONE, blank=True)
    email_attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due (pending, retrying) or, while sending, when the worker's claim
    # on it lapses (a worker that died mid-send leaves it to another after that).
    email_next_attempt_at = models.DateTimeField(null=True, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_user_recent"),
            # the sweep for email whose task was lost: only unfinished rows are in it
            models.Index(
                fields=["email_next_attempt_at"],
                condition=models.Q(email_status__in=["pending", "sending", "retrying"]),
                name="notification_email_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}"


class AuditAction(models.TextChoices):
    RECORDING_URL_VIEWED = "recording.url_viewed", "Recording URL viewed"
    RECORDING_UPLOADED = "recording.uploaded", "Recording uploaded"
    RECORDING_DELETED = "recording.deleted", "Recording deleted"
    ALLOCATION_CREATED = "allocation.created", "Allocation created"
    ALLOCATION_ENDED = "allocation.ended", "Allocation ended"
    MESSAGE_REPORTED = "message.reported", "Message reported"
    MESSAGE_HIDDEN = "message.hidden", "Message hidden"
    MESSAGE_UNHIDDEN = "message.unhidden", "Message unhidden"
    REPORT_DISMISSED = "report.dismissed", "Report dismissed"
    CONSENT_GRANTED = "consent.granted", "Recording consent granted"
    CONSENT_WITHDRAWN = "consent.withdrawn", "Recording consent withdrawn"
    LEGAL_HOLD_SET = "legal_hold.set", "Legal hold set"
    LEGAL_HOLD_CLEARED = "legal_hold.cleared", "Legal hold cleared"
    LOGIN_FAILURE_BURST = "login.failure_burst", "Login failure burst"
    RETENTION_PURGE = "retention.purge", "Retention purge"
    USER_DEACTIVATED = "user.deactivated", "Account deactivated"
    USER_REACTIVATED = "user.reactivated", "Account reactivated"
    STUDENT_PARENT_CHANGED = "student.parent_changed", "Child moved to another parent"
    STUDENT_LOGIN_CHANGED = "student.login_changed", "Child's login linked or unlinked"


class AuditEvent(models.Model):
    """Who did what to what, append-only (k12/audit.py writes it; nothing updates or deletes it:
    the admin is read-only and, on PostgreSQL, a trigger refuses UPDATE and DELETE).

    ``actor`` keeps no foreign-key constraint, so deleting a user neither blocks on nor rewrites
    the trail; ``actor_email`` keeps who it was."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=40, choices=AuditAction.choices, db_index=True)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=254, blank=True)
    session_id = models.UUIDField(null=True, blank=True, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target")]

    def __str__(self) -> str:
        who = self.actor_email or "-"
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.target_type}:{self.target_id}"
