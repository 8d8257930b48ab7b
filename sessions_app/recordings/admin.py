"""The staff's view of session recordings in the Django admin: searched, filtered, played and
deleted, never added or edited (uploads go through the API, which verifies and measures them).
Deleting goes through ``recording_delete``, so the stored file goes with the row and the same
access rule applies."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from admin_app.paginator import EstimatedCountPaginator
from k12.errors import Conflict
from sessions_app.models import RecordingStatus, SessionRecording
from sessions_app.recordings.playback import playback_links
from sessions_app.recordings.services import recording_delete


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
            except (PermissionDenied, Conflict):
                refused += 1
        if refused:
            self.message_user(
                request, f"{refused} recording(s) were kept (not yours, or under legal hold).", messages.WARNING
            )
