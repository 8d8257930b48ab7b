"""Session chat messages."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class SessionMessage(models.Model):
    """One chat message in a session.

    ``seq`` is the message's place in its session: 1, 2, 3, ... assigned under a lock on the
    session row (``sessions_app.chat.services.message_create``), so a session's messages become
    visible in ``seq`` order and a reader that has seen ``seq`` n has seen everything before it.
    That is what makes the ``after`` cursor lossless under concurrent writers.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: the unique (session, seq) index serves every lookup by session, and a
    # second, single-column one tempted the planner, with statistics older than a session's
    # growth, into reading the whole session and sorting it instead of one range scan
    # (bench/messages.py checks this plan).
    # PROTECT: a session holding a conversation cannot be deleted (it is cancelled instead); the
    # retention purge is the only way messages leave.
    session = models.ForeignKey("k12.Booking", on_delete=models.PROTECT, related_name="messages", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="session_messages")
    seq = models.PositiveBigIntegerField()
    text = models.TextField()
    client_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Moderation: a hidden message stays stored (and visible to staff); everyone else gets a
    # placeholder. Set and cleared only by sessions_app.chat.moderation, which audits each change.
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    hidden_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        # by the columns, not by "session": ordering by a relation orders by the related model's
        # own ordering, i.e. joins k12_booking and sorts the whole table by its starts_at
        ordering = ["session_id", "seq"]
        constraints = [
            # the page index: every page is one range scan of (session, seq)
            models.UniqueConstraint(fields=["session", "seq"], name="message_session_seq_unique"),
            # a retried POST (even two at once) yields one row
            models.UniqueConstraint(
                fields=["session", "user", "client_id"],
                condition=models.Q(client_id__isnull=False),
                name="message_client_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} in {self.session_id} by {self.user_id}"


class ReportReason(models.TextChoices):
    INAPPROPRIATE = "inappropriate", "Inappropriate"
    BULLYING = "bullying", "Bullying"
    PERSONAL_INFO = "personal_info", "Personal information"
    SPAM = "spam", "Spam"
    # Raised by message_create itself (no reporter): a phone number, an e-mail address, a social
    # handle or invitation, an external meeting link (sessions_app/chat/contact_details.py).
    CONTACT_DETAILS = "contact_details", "Contact details"
    OTHER = "other", "Other"


class ReportStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACTIONED = "actioned", "Message hidden"
    DISMISSED = "dismissed", "Dismissed"


class MessageReport(models.Model):
    """A report of a message, by a participant or raised automatically (``reporter`` null): the
    staff's moderation queue."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(SessionMessage, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=20, choices=ReportReason.choices)
    description = models.TextField(blank=True)
    # What an automatic report found: [{kind, start, end, text}], offsets into the message's text.
    matched_spans = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=ReportStatus.choices, default=ReportStatus.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["status", "-created_at"], name="report_queue")]
        constraints = [
            models.UniqueConstraint(fields=["message", "reporter"], name="report_once_per_reporter"),
            # one automatic report per message and reason
            models.UniqueConstraint(
                fields=["message", "reason"],
                condition=models.Q(reporter__isnull=True),
                name="report_once_automatic",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} report on {self.message_id} ({self.status})"


class ReadCursor(models.Model):
    """How far a user has read a session's chat (the highest ``seq`` they marked read)."""

    session = models.ForeignKey("k12.Booking", on_delete=models.CASCADE, related_name="read_cursors")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_read_seq = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session", "user"], name="read_cursor_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.session_id} up to {self.last_read_seq}"


class MessageDigest(models.Model):
    """One participant's missed-message email for one session (sessions_app/chat/digests.py).

    ``due_at`` is set when a message arrives while the participant has no socket in the room
    and none is pending yet: the email is due 10 minutes later, covering the messages from
    ``first_seq`` on that are still unread then. ``last_sent_*`` keep the hourly limit and keep
    a message out of a second email."""

    session = models.ForeignKey("k12.Booking", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    first_seq = models.PositiveBigIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_sent_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session", "user"], name="digest_one_per_session_user")]
        indexes = [
            models.Index(fields=["due_at"], condition=models.Q(due_at__isnull=False), name="digest_due"),
        ]

    def __str__(self) -> str:
        return f"digest of {self.session_id} for {self.user_id}"
