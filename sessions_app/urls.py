"""REST routes of what happens inside a session, registered on the API's router (k12/urls.py),
and the signed playback link, which is not under the API's authentication: the signature in
its query string is the credential."""

from __future__ import annotations

from k12.routing_helpers import route
from sessions_app import viewsets
from sessions_app.recording_playback import recording_file, recording_poster


def register(router) -> None:
    router.register("sessions/<str:session_id>/messages", viewsets.SessionMessageViewSet, basename="session-message")
    router.register("sessions/<str:session_id>/read", viewsets.SessionReadViewSet, basename="session-read")
    router.register(
        "sessions/<str:session_id>/recordings/uploads", viewsets.RecordingUploadViewSet, basename="recording-upload"
    )
    router.register(
        "sessions/<str:session_id>/recordings", viewsets.SessionRecordingViewSet, basename="session-recording"
    )
    router.register("recordings", viewsets.RecordingViewSet, basename="recording")
    router.register("messages", viewsets.MessageViewSet, basename="message")


urlpatterns = [
    *route("recordings/<str:recording_id>/file", recording_file, "recording-file"),
    *route("recordings/<str:recording_id>/poster", recording_poster, "recording-poster"),
]
