"""The staff's desk over what happens inside a session: chat messages, their reports and
recordings.

All are written only through sessions_app's services (ordering, idempotency, storage,
moderation with its audit trail and legal holds), so here they are read, searched and filtered,
never added, edited or deleted: staff hide a message through the moderation API, and delete a
recording through sessions_app's own admin or API, which removes the file too. Registered here unless
sessions_app registers the model itself: autodiscovery imports sessions_app's admin module
first, and each registration below steps aside for it.
"""

from __future__ import annotations

from django.contrib import admin, messages

from admin_app.admin.base import ReadOnlyAdmin
from admin_app.export import CsvExportMixin
from sessions_app.chat import moderation
from sessions_app.models import MessageReport, SessionMessage
from sessions_app.models.recordings import SessionRecording


class SessionMessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "session", "seq", "user", "short_text", "hidden_at"]
    list_filter = ["created_at", "user__role", ("hidden_at", admin.EmptyFieldListFilter)]
    # "=session__id": an exact id, so a lookup by session uses the (session, seq) index.
    search_fields = ["=session__id", "user__email", "text"]
    list_select_related = ["session__subject", "session__tutor", "user"]
    raw_id_fields = ["session", "user"]
    date_hierarchy = "created_at"

    actions = ["hide_messages", "restore_messages"]

    @admin.display(description="text")
    def short_text(self, message: SessionMessage) -> str:
        return message.text if len(message.text) <= 80 else message.text[:79] + "…"

    @admin.action(description="Hide the selected messages (kept, audited; participants see a placeholder)")
    def hide_messages(self, request, queryset):
        for message in queryset:
            moderation.message_hide(message=message, moderator=request.user, reason="Hidden by staff", request=request)
        self.message_user(request, f"Hid {queryset.count()} message(s).", messages.SUCCESS)

    @admin.action(description="Restore the selected messages")
    def restore_messages(self, request, queryset):
        for message in queryset:
            moderation.message_unhide(message=message, moderator=request.user, request=request)
        self.message_user(request, f"Restored {queryset.count()} message(s).", messages.SUCCESS)


@admin.register(MessageReport)
class MessageReportAdmin(CsvExportMixin, ReadOnlyAdmin):
    """The moderation queue: open reports first, newest first."""

    csv_columns = [
        ("id", "id"),
        ("reported", "created_at"),
        ("reason", "reason"),
        ("status", "status"),
        ("reporter", "reporter__email"),
        ("description", "description"),
        ("message", "message_id"),
        ("session", "message__session_id"),
        ("message text", "message__text"),
        ("resolved", "resolved_at"),
        ("resolved by", "resolved_by__email"),
    ]

    list_display = ["created_at", "reason", "status", "reported_by", "message_text", "found", "message_hidden"]
    list_filter = ["status", "reason", "created_at"]
    search_fields = ["=message__id", "=message__session__id", "reporter__email", "description", "message__text"]
    list_select_related = ["reporter", "message"]
    raw_id_fields = ["message", "reporter", "resolved_by"]
    actions = ["hide_reported_messages", "dismiss_reports"]

    def get_queryset(self, request):
        # open first, then newest
        return super().get_queryset(request).order_by("-status", "-created_at")

    @admin.display(description="message")
    def message_text(self, report: MessageReport) -> str:
        text = report.message.text
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description="reporter")
    def reported_by(self, report: MessageReport) -> str:
        return str(report.reporter) if report.reporter_id else "automatic"

    @admin.display(description="found")
    def found(self, report: MessageReport) -> str:
        return "; ".join(f"{span['kind']}: {span['text']}" for span in report.matched_spans) or "-"

    @admin.display(description="hidden", boolean=True)
    def message_hidden(self, report: MessageReport) -> bool:
        return report.message.hidden_at is not None

    @admin.action(description="Hide the reported messages (closes their reports)")
    def hide_reported_messages(self, request, queryset):
        for report in queryset.select_related("message"):
            moderation.message_hide(
                message=report.message, moderator=request.user, reason=f"Reported: {report.reason}", request=request
            )
        self.message_user(request, "Hid the reported messages.", messages.SUCCESS)

    @admin.action(description="Dismiss the selected reports (message stays visible)")
    def dismiss_reports(self, request, queryset):
        for report in queryset.select_related("message"):
            moderation.report_dismiss(report=report, moderator=request.user, request=request)
        self.message_user(request, "Dismissed the selected reports.", messages.SUCCESS)


class SessionRecordingAdmin(ReadOnlyAdmin):
    """Used only if sessions_app registers no admin of its own for recordings."""

    list_display = ["created_at", "filename", "session", "uploaded_by", "status", "content_type", "file_size_bytes"]
    list_filter = ["status", "content_type", "created_at"]
    search_fields = ["=id", "=session__id", "uploaded_by__email", "filename"]
    list_select_related = ["session__subject", "session__tutor", "uploaded_by"]
    raw_id_fields = ["session", "uploaded_by"]
    date_hierarchy = "created_at"


if not admin.site.is_registered(SessionMessage):
    admin.site.register(SessionMessage, SessionMessageAdmin)

if not admin.site.is_registered(SessionRecording):
    admin.site.register(SessionRecording, SessionRecordingAdmin)
