"""REST routes of what happens inside a session, registered on the API's router (k12/urls.py),
and the signed playback link, which is not under the API's authentication: the signature in
its query string is the credential."""

from __future__ import annotations

from k12.routers import route
from sessions_app.chat import viewsets as chat
from sessions_app.recordings import viewsets as recordings
from sessions_app.recordings.playback import recording_file, recording_poster


def register(router) -> None:
    router.register("sessions/<str:session_id>/messages", chat.SessionMessageViewSet, basename="session-message")
    router.register("sessions/<str:session_id>/read", chat.SessionReadViewSet, basename="session-read")
    router.register(
        "sessions/<str:session_id>/recordings/uploads", recordings.RecordingUploadViewSet, basename="recording-upload"
    )
    router.register(
        "sessions/<str:session_id>/recordings", recordings.SessionRecordingViewSet, basename="session-recording"
    )
    router.register("recordings", recordings.RecordingViewSet, basename="recording")
    router.register("messages", chat.MessageViewSet, basename="message")


urlpatterns = [
    *route("recordings/<str:recording_id>/file", recording_file, "recording-file"),
    *route("recordings/<str:recording_id>/poster", recording_poster, "recording-poster"),
]
