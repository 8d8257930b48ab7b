"""The staff's desk over what happens inside a session: chat messages and recordings.

Both are written only through sessions_app's services (ordering, idempotency, storage,
moderation with its audit trail and legal holds), so here they are read, searched and filtered,
never added, edited or deleted: staff hide a message through the moderation API, and delete a
recording through sessions_app's own admin or API, which removes the file too. Registered here unless
sessions_app registers the model itself: autodiscovery imports sessions_app's admin module
first, and each registration below steps aside for it.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from admin_app import selectors
from admin_app.export import CsvExportMixin
from admin_app.paginator import EstimatedCountPaginator
from k12.models import Allocation, AuditEvent, Booking, User
from sessions_app.chat import moderation
from sessions_app.models import MessageReport, SessionMessage
from sessions_app.models.recordings import SessionRecording


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only a service may create, change or delete."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Facet counts would scan the filtered table per filter: never on the big tables.
    show_facets = admin.ShowFacets.NEVER

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_target(obj) -> str:
    """What an audit event's target is, in words staff recognise."""
    if isinstance(obj, SessionMessage):
        return f"Message by {obj.user.display_name}: “{_short(obj.text)}”"
    if isinstance(obj, SessionRecording):
        return f"Recording “{obj.filename or obj.pk}”"
    if isinstance(obj, MessageReport):
        return f"{obj.get_reason_display()} report on a message by {obj.message.user.display_name}"
    if isinstance(obj, Allocation):
        return f"{obj.student}: {obj.subject.name} with {obj.tutor.display_name}"
    if isinstance(obj, Booking):
        return f"{obj.subject.name}: {obj.student} with {obj.tutor.display_name}, {obj.starts_at:%Y-%m-%d %H:%M}"
    if isinstance(obj, User):
        return f"{obj.display_name} <{obj.email}>"
    return str(obj)


def _change_link(obj, text: str) -> str:
    try:
        url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return text
    return format_html('<a href="{}">{}</a>', url, text)


class TargetTypeFilter(admin.SimpleListFilter):
    """The kinds of target from a fixed list: Django's own filter for a field reads every
    distinct value, a scan of the whole trail on each page view."""

    title = "target"
    parameter_name = "target_type"

    def lookups(self, request, model_admin):
        return [
            ("sessions_app.sessionmessage", "Messages"),
            ("sessions_app.messagereport", "Reports"),
            ("sessions_app.sessionrecording", "Recordings"),
            ("k12.allocation", "Allocations"),
            ("k12.booking", "Sessions"),
            ("k12.student", "Students"),
            ("login", "Logins"),
        ]

    def queryset(self, request, queryset):
        return queryset.filter(target_type=self.value()) if self.value() else queryset


class AuditChangeList(ChangeList):
    """Reads the objects the page's events name, once per page (not once per row)."""

    def get_results(self, request):
        super().get_results(request)
        self.targets, self.sessions = selectors.audit_event_targets(self.result_list)
        for event in self.result_list:
            event.resolved_target = self.targets.get((event.target_type, event.target_id))
            event.resolved_session = self.sessions.get(event.session_id)


@admin.register(AuditEvent)
class AuditEventAdmin(CsvExportMixin, ReadOnlyAdmin):
    """The audit trail: filter and read, never add, change or delete (the database refuses too).
    Each event names its target and session with a link, and its actor and address."""

    list_display = ["created_at", "action_name", "actor_link", "target_link", "session_link", "ip"]
    list_filter = ["action", TargetTypeFilter, "created_at"]
    search_fields = ["actor_email", "=target_id", "=session_id"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
    csv_columns = [
        ("id", "id"),
        ("time", "created_at"),
        ("action", "action"),
        ("actor", "actor_email"),
        ("target type", "target_type"),
        ("target id", "target_id"),
        ("session", "session_id"),
        ("address", "ip"),
        ("details", "data"),
    ]

    def get_changelist(self, request, **kwargs):
        return AuditChangeList

    @admin.display(description="action", ordering="action")
    def action_name(self, event: AuditEvent) -> str:
        return event.get_action_display()

    @admin.display(description="actor", ordering="actor_email")
    def actor_link(self, event: AuditEvent) -> str:
        if event.actor is not None:
            return _change_link(event.actor, f"{event.actor.display_name} <{event.actor.email}>")
        return event.actor_email or "— (system)"

    @admin.display(description="target")
    def target_link(self, event: AuditEvent) -> str:
        obj = getattr(event, "resolved_target", None)
        if obj is not None:
            return _change_link(obj, describe_target(obj))
        if not event.target_type:
            return "—"
        if event.target_type == "login":
            return f"Failed logins ({event.target_id})"
        kind = event.target_type.rsplit(".", 1)[-1]
        return f"{kind} {event.target_id[:8]}… (deleted)" if event.target_id else kind

    @admin.display(description="session")
    def session_link(self, event: AuditEvent) -> str:
        booking = getattr(event, "resolved_session", None)
        if booking is not None:
            return _change_link(
                booking, f"{booking.subject.name} with {booking.tutor.display_name}, {booking.starts_at:%d %b %H:%M}"
            )
        return f"{str(event.session_id)[:8]}… (deleted)" if event.session_id else "—"


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
