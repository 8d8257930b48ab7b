"""Recording routes, under /api/ (with and without a trailing slash, as the contract says)."""

from __future__ import annotations

from k12.routing_helpers import route
from sessions_app.recording_api import (
    RecordingDetailView,
    RecordingUploadCompleteView,
    RecordingUploadsView,
    RecordingUploadView,
    SessionRecordingsView,
)
from sessions_app.recording_playback import recording_file, recording_poster

urlpatterns = [
    *route("sessions/<str:session_id>/recordings", SessionRecordingsView.as_view(), "session-recordings"),
    *route("sessions/<str:session_id>/recordings/uploads", RecordingUploadsView.as_view(), "recording-uploads"),
    *route(
        "sessions/<str:session_id>/recordings/uploads/<str:upload_id>",
        RecordingUploadView.as_view(),
        "recording-upload",
    ),
    *route(
        "sessions/<str:session_id>/recordings/uploads/<str:upload_id>/complete",
        RecordingUploadCompleteView.as_view(),
        "recording-upload-complete",
    ),
    *route("recordings/<str:recording_id>", RecordingDetailView.as_view(), "recording-detail"),
    # Not under the API's authentication: the signature in the query string is the credential.
    *route("recordings/<str:recording_id>/file", recording_file, "recording-file"),
    *route("recordings/<str:recording_id>/poster", recording_poster, "recording-poster"),
]
