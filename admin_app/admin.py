"""The staff's desk over what happens inside a session: chat messages and recordings.

Both are written only through sessions_app's services (ordering, idempotency, storage,
moderation with its audit trail and legal holds), so here they are read, searched and filtered,
never added, edited or deleted: staff hide a message through the moderation API, and delete a
recording through sessions_app's own admin or API, which removes the file too. Registered here unless
sessions_app registers the model itself: autodiscovery imports sessions_app's admin module
first, and each registration below steps aside for it.
"""

from __future__ import annotations

from django.contrib import admin

from admin_app.paginator import EstimatedCountPaginator
from sessions_app.models import SessionMessage
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

    @admin.display(description="text")
    def short_text(self, message: SessionMessage) -> str:
        return message.text if len(message.text) <= 80 else message.text[:79] + "…"


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
