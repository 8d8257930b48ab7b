"""The staff's view of session recordings in the Django admin: searched, filtered, played and
deleted, never added or edited (uploads go through the API, which verifies and measures them).
Deleting goes through ``recording_delete``, so the stored file goes with the row and the same
access rule applies."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.utils.html import format_html

from admin_app.paginator import EstimatedCountPaginator
from k12 import permissions
from k12.errors import Conflict
from sessions_app.models import SessionRecording
from sessions_app.recording_playback import playback_url
from sessions_app.recording_services import recording_delete


@admin.register(SessionRecording)
class SessionRecordingAdmin(admin.ModelAdmin):
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

    # Staff rights come from the one access rule (role admin), not from per-model permission rows.
    def has_module_permission(self, request) -> bool:
        return permissions.is_admin(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return permissions.is_admin(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        # a recording of a session under legal hold is kept (recording_delete refuses it too)
        return permissions.is_admin(request.user) and (obj is None or not obj.session.legal_hold)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="playback")
    def play(self, recording: SessionRecording) -> str:
        url = playback_url(recording)
        return format_html('<a href="{}">signed link</a>', url) if url else "-"

    def delete_model(self, request, obj: SessionRecording) -> None:
        recording_delete(recording=obj, deleted_by=request.user)

    def delete_queryset(self, request, queryset) -> None:
        refused = 0
        for recording in queryset.select_related("session"):
            try:
                recording_delete(recording=recording, deleted_by=request.user)
            except (PermissionDenied, Conflict):
                refused += 1
        if refused:
            self.message_user(
                request, f"{refused} recording(s) were kept (not yours, or under legal hold).", messages.WARNING
            )
