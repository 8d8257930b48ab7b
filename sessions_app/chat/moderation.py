"""Safeguarding writes inside a session: reporting a message, hiding and un-hiding it, closing
reports. Nothing here deletes a message: a hidden message stays stored, staff still read it,
and every action leaves an audit event."""

from __future__ import annotations

import json
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from k12 import notifications, permissions, realtime
from k12.audit import audit_record
from k12.errors import Conflict, Forbidden, field_error
from k12.models import AuditAction, User

# A module import, not a name: services imports this module to screen new messages.
from sessions_app.chat import services
from sessions_app.chat.contact_details import find_contact_details
from sessions_app.models import MessageReport, ReportReason, ReportStatus, SessionMessage

logger = logging.getLogger(__name__)

# The longest report description, in characters: the API schema and the web client's report
# dialog read it from here.
MAX_DESCRIPTION = 2000


def message_report(*, message: SessionMessage, reporter: User, reason, description="", request=None) -> MessageReport:
    """A participant of the message's session reports it. ``reason`` is one of ReportReason;
    ``description`` is required for "other". One report per message and reporter (409 after)."""
    booking = message.session
    if not permissions.can_report_message(reporter, booking):
        raise Forbidden("Only the session's participants can report its messages.")
    if not isinstance(reason, str) or reason not in ReportReason.values:
        raise field_error("reason", f"Must be one of: {', '.join(ReportReason.values)}.")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise field_error("description", "Must be a string.")
    description = description.strip()
    if reason == ReportReason.OTHER and not description:
        raise field_error("description", "Describe the problem when the reason is 'other'.")
    if len(description) > MAX_DESCRIPTION or "\x00" in description:
        raise field_error("description", f"At most {MAX_DESCRIPTION} characters, no NUL.")
    try:
        with transaction.atomic():
            report = MessageReport.objects.create(
                message=message, reporter=reporter, reason=reason, description=description
            )
            audit_record(
                action=AuditAction.MESSAGE_REPORTED,
                actor=reporter,
                target=message,
                session_id=booking.id,
                data={"report": str(report.id), "reason": reason},
                request=request,
            )
    except IntegrityError:
        raise Conflict("You have already reported this message.") from None
    return report


def message_screen(message: SessionMessage) -> MessageReport | None:
    """Look for contact details in a new message; when there are any, raise a
    ``contact_details`` report (no reporter) with the matched spans, audited. A clean message
    costs no query. ``message_create`` runs this after the message's broadcast, once it is
    committed: the check never delays delivery, and a failure here is logged, never raised."""
    try:
        spans = find_contact_details(message.text)
        if not spans:
            return None
        kinds = sorted({span.kind for span in spans})
        with transaction.atomic():
            report = MessageReport.objects.create(
                message=message,
                reporter=None,
                reason=ReportReason.CONTACT_DETAILS,
                description=f"Found automatically: {', '.join(kinds)}.",
                matched_spans=[span.as_dict() for span in spans],
            )
            audit_record(
                action=AuditAction.MESSAGE_REPORTED,
                target=message,
                session_id=message.session_id,
                data={"report": str(report.id), "reason": ReportReason.CONTACT_DETAILS, "kinds": kinds},
            )
        return report
    except Exception:
        logger.exception("could not screen message %s for contact details", message.id)
        return None


def _with_session(message: SessionMessage) -> SessionMessage:
    """The message with its session, the child, the parent, the child's login and the tutor (who
    is told, and what the notification names), read in one query."""
    return SessionMessage.objects.select_related(
        "session__subject", "session__tutor", "session__student__parent", "session__student__user"
    ).get(pk=message.pk)


def _broadcast_hidden(message: SessionMessage, hidden: bool) -> None:
    frame = json.dumps(
        {
            "type": "messageHidden" if hidden else "messageRestored",
            "sessionId": str(message.session_id),
            "messageId": str(message.id),
        }
    )
    try:
        realtime.group_send(
            services.session_group(message.session_id),
            {"type": "room.moderation", "frame": frame, "sessionId": str(message.session_id)},
        )
    except Exception:  # stored and audited; clients re-read the history on reconnect
        logger.exception("could not announce moderation of message %s", message.id)


def _set_hidden(
    *, message: SessionMessage, moderator: User, hidden: bool, reason: str = "", request=None
) -> tuple[SessionMessage, bool]:
    """Lock the message and hide or restore it, unless it already is so: saved, audited, and the
    room told once the caller's transaction commits. Returns the locked message and whether it
    changed."""
    locked = SessionMessage.objects.select_for_update().get(pk=message.pk)
    if (locked.hidden_at is not None) == hidden:
        return locked, False
    locked.hidden_at = timezone.now() if hidden else None
    locked.hidden_by = moderator if hidden else None
    locked.hidden_reason = (reason or "").strip()[:500] if hidden else ""
    locked.save(update_fields=["hidden_at", "hidden_by", "hidden_reason"])
    audit_record(
        action=AuditAction.MESSAGE_HIDDEN if hidden else AuditAction.MESSAGE_UNHIDDEN,
        actor=moderator,
        target=locked,
        session_id=locked.session_id,
        data={"reason": locked.hidden_reason} if hidden else None,
        request=request,
    )
    transaction.on_commit(lambda: _broadcast_hidden(locked, hidden))
    return locked, True


def message_hide(*, message: SessionMessage, moderator: User, reason: str = "", request=None) -> SessionMessage:
    """Staff hide a message: it stays stored, staff keep seeing it, everyone else gets a
    placeholder from now on (REST, the live room's replay) and the room is told at once
    (``messageHidden``). Open reports on it are marked actioned. The child's parent and login are
    notified (``message_hidden``). Hiding twice changes nothing."""
    if not permissions.is_admin(moderator):
        raise Forbidden("Only staff can hide messages.")
    with transaction.atomic():
        locked, changed = _set_hidden(message=message, moderator=moderator, hidden=True, reason=reason, request=request)
        if changed:
            notifications.notify_message_hidden(message=_with_session(locked))
        MessageReport.objects.filter(message=locked, status=ReportStatus.OPEN).update(
            status=ReportStatus.ACTIONED, resolved_by=moderator, resolved_at=timezone.now()
        )
    return locked


def message_unhide(*, message: SessionMessage, moderator: User, request=None) -> SessionMessage:
    """Staff restore a hidden message (a mistaken hide); audited, announced as ``messageRestored``."""
    if not permissions.is_admin(moderator):
        raise Forbidden("Only staff can restore messages.")
    with transaction.atomic():
        locked, _changed = _set_hidden(message=message, moderator=moderator, hidden=False, request=request)
    return locked


def report_dismiss(*, report: MessageReport, moderator: User, request=None) -> MessageReport:
    """Staff close a report without hiding the message; audited."""
    if not permissions.is_admin(moderator):
        raise Forbidden("Only staff can dismiss reports.")
    with transaction.atomic():
        updated = MessageReport.objects.filter(pk=report.pk, status=ReportStatus.OPEN).update(
            status=ReportStatus.DISMISSED, resolved_by=moderator, resolved_at=timezone.now()
        )
        if updated:
            audit_record(
                action=AuditAction.REPORT_DISMISSED,
                actor=moderator,
                target=report,
                session_id=report.message.session_id,
                request=request,
            )
    report.refresh_from_db()
    return report
