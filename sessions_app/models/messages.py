"""Session chat messages."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class SessionMessage(models.Model):
    """One chat message in a session (the guide's ``SessionMessage``).

    ``seq`` is the message's place in its session: 1, 2, 3, ... assigned under a lock on the
    session row (``sessions_app.services.message_create``), so a session's messages become
    visible in ``seq`` order and a reader that has seen ``seq`` n has seen everything before it.
    That is what makes the ``after`` cursor lossless under concurrent writers.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey("k12.Booking", on_delete=models.CASCADE, related_name="messages")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="session_messages")
    seq = models.PositiveBigIntegerField()
    text = models.TextField()
    client_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["session", "seq"]
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
