"""How recordings look on the wire: the list, an upload's answer, a direct upload's steps."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from k12 import permissions
from sessions_app.models import SessionRecording


class RecordingCan(serializers.Serializer):
    delete = serializers.BooleanField(help_text="DELETE /api/recordings/{id} will succeed for this user.")


class RecordingSerializer(serializers.ModelSerializer):
    """``{id, session_id, uploaded_by, file_url, file_size_bytes, duration_seconds, content_type,
    status, created_at}`` plus ``filename`` (the client's name, sanitised, for display) and
    ``can`` (what the viewer, the context's ``viewer``, may do with it: the access rule's answer)."""

    session_id = serializers.UUIDField(read_only=True)
    uploaded_by = serializers.UUIDField(source="uploaded_by_id", read_only=True)
    file_url = serializers.SerializerMethodField(
        help_text="Signed URL that plays the recording (HTTP Range works) until it expires; null until ready."
    )
    poster_url = serializers.SerializerMethodField(
        help_text="Signed URL of a JPEG frame of the video, like file_url; null for audio and until ready."
    )
    can = serializers.SerializerMethodField()

    class Meta:
        model = SessionRecording
        fields = [
            "id",
            "session_id",
            "uploaded_by",
            "filename",
            "file_url",
            "poster_url",
            "file_size_bytes",
            "duration_seconds",
            "content_type",
            "status",
            "created_at",
            "can",
        ]
        read_only_fields = fields

    # Minted, and audited, for the whole page by playback.playback_links (which the
    # views pass as the "links" context); null until the recording is ready.
    def _link(self, recording: SessionRecording, name: str) -> str | None:
        return self.context.get("links", {}).get(recording.pk, {}).get(name)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_file_url(self, recording: SessionRecording) -> str | None:
        return self._link(recording, "file_url")

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_poster_url(self, recording: SessionRecording) -> str | None:
        return self._link(recording, "poster_url")

    @extend_schema_field(RecordingCan)
    def get_can(self, recording: SessionRecording) -> dict:
        return {"delete": permissions.can_delete_recording(self.context["viewer"], recording)}


class RecordingUploadIn(serializers.Serializer):
    file = serializers.FileField(
        help_text=(
            f"The recording: audio or video, recognised by its content; at most {settings.RECORDING_MAX_BYTES} bytes."
        )
    )


class UploadStartIn(serializers.Serializer):
    filename = serializers.CharField(trim_whitespace=False, max_length=1000, help_text="Shown to users; never a path.")
    content_type = serializers.CharField(max_length=200, help_text="e.g. video/mp4, video/webm, audio/mpeg.")
    size = serializers.IntegerField(min_value=1, help_text="Bytes; at most RECORDING_MAX_BYTES.")


class PartUrlOut(serializers.Serializer):
    part_number = serializers.IntegerField()
    url = serializers.URLField(help_text="PUT this part's bytes here; keep the response's ETag header.")


class UploadStartOut(serializers.Serializer):
    upload_id = serializers.UUIDField(help_text="Also the recording's id once complete.")
    part_size = serializers.IntegerField(help_text="Every part but the last has exactly this many bytes.")
    parts = PartUrlOut(many=True)
    expires_at = serializers.DateTimeField(help_text="The part URLs stop working then.")
    recording = RecordingSerializer()


class PartIn(serializers.Serializer):
    part_number = serializers.IntegerField(min_value=1, max_value=10_000)
    etag = serializers.CharField(max_length=200)


class UploadCompleteIn(serializers.Serializer):
    parts = PartIn(many=True, allow_empty=False, max_length=10_000)
