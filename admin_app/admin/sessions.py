"""The staff's desk over what happens inside a session: chat messages, their reports and
recordings.

All are written only through sessions_app's services (ordering, idempotency, storage,
moderation with its audit trail and legal holds), so messages and reports are read, searched and
filtered here, never added, edited or deleted (staff hide a message through the moderation
actions or API); recordings are also played and deleted, through the same services as the API.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from admin_app.admin.base import ReadOnlyAdmin
from admin_app.admin.paginator import EstimatedCountPaginator
from admin_app.export import CsvExportMixin
from k12.errors import Conflict, Forbidden
from sessions_app.chat import moderation
from sessions_app.models import MessageReport, RecordingStatus, SessionMessage, SessionRecording
from sessions_app.recordings.playback import playback_links
from sessions_app.recordings.services import recording_delete


@admin.register(SessionMessage)
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


@admin.register(SessionRecording)
class SessionRecordingAdmin(admin.ModelAdmin):
    """Searched, filtered, played and deleted, never added or edited (uploads go through the API,
    which verifies and measures them). Deleting goes through ``recording_delete``, so the stored
    file goes with the row and the same access rule applies."""

    list_display = [
        "created_at",
        "filename",
        "session",
        "uploaded_by",
        "status",
        "content_type",
        "file_size_bytes",
        "duration_seconds",
    ]
    list_filter = ["status", "content_type", "created_at"]
    # "=session__id" / "=id": exact ids, so the lookup uses an index.
    search_fields = ["=id", "=session__id", "uploaded_by__email", "filename"]
    list_select_related = ["session__subject", "session__tutor", "uploaded_by"]
    raw_id_fields = ["session", "uploaded_by"]
    date_hierarchy = "created_at"
    show_facets = admin.ShowFacets.NEVER
    # no whole-table COUNT(*) on a big table
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    readonly_fields = ["play"]

    # Who is staff is the one access rule (User.has_perm asks k12.permissions); what this page
    # allows at all is the model's business: a recording under legal hold is kept
    # (recording_delete refuses it too).
    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or not obj.session.legal_hold)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="playback")
    def play(self, recording: SessionRecording) -> str:
        # A link to mint one when clicked (audited then), not a playback URL minted, and
        # audited, every time this page is shown.
        if recording.status != RecordingStatus.READY:
            return "-"
        url = reverse("admin:sessions_app_sessionrecording_play", args=[recording.pk])
        return format_html('<a href="{}">play</a>', url)

    def get_urls(self):
        play = path(
            "<path:object_id>/play/",
            self.admin_site.admin_view(self.play_view),
            name="sessions_app_sessionrecording_play",
        )
        return [play, *super().get_urls()]

    def play_view(self, request, object_id):
        """Staff play a recording: a staff link (it plays without the child's consent, which is
        when staff most need it), issued and audited as the API issues links."""
        recording = self.get_object(request, object_id)
        if recording is None:
            raise Http404("Recording not found.")
        if not self.has_view_permission(request, recording):
            raise PermissionDenied
        url = playback_links(recordings=[recording], viewer=request.user, request=request)[recording.pk]["file_url"]
        if url is None:
            raise Http404("Recording not ready.")
        return HttpResponseRedirect(url)

    def delete_model(self, request, obj: SessionRecording) -> None:
        recording_delete(recording=obj, deleted_by=request.user)

    def delete_queryset(self, request, queryset) -> None:
        refused = 0
        for recording in queryset.select_related("session"):
            try:
                recording_delete(recording=recording, deleted_by=request.user)
            except (Forbidden, Conflict):
                refused += 1
        if refused:
            self.message_user(
                request, f"{refused} recording(s) were kept (not yours, or under legal hold).", messages.WARNING
            )
