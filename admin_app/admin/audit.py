"""The audit trail on the desk: filtered and read, each event's target and session named in words
staff recognise, with a link."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from admin_app import selectors
from admin_app.admin.base import ReadOnlyAdmin
from admin_app.export import CsvExportMixin
from k12.models import Allocation, AuditEvent, Booking, User
from sessions_app.models import MessageReport, SessionMessage
from sessions_app.models.recordings import SessionRecording


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
