"""The API of a session's recordings: list and upload, direct-to-storage multipart uploads, and
deletion. Thin: parse, call one service, render. The session-scoped ones are guarded by
``k12.viewsets.SessionScopedMixin``, as the chat's are.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from k12 import permissions
from k12.authentication import HeaderCsrfSessionAuthentication, JWTAuthentication
from k12.pagination import LinkHeaderCursorPagination
from k12.schema import DETAIL, R400, R401, R403, R404, R429
from k12.viewsets import ApiViewSet, SessionScopedMixin
from sessions_app.models import SessionRecording
from sessions_app.recordings.playback import playback_links
from sessions_app.recordings.serializers import (
    RecordingSerializer,
    RecordingUploadIn,
    UploadCompleteIn,
    UploadStartIn,
    UploadStartOut,
)
from sessions_app.recordings.services import (
    recording_delete,
    recording_upload,
    recording_upload_abort,
    recording_upload_admit,
    recording_upload_complete,
    recording_upload_start,
)
from sessions_app.recordings.uploads import RecordingMultiPartParser, declared_file_bytes, receive_recording_upload

R409_LOCAL = OpenApiResponse(DETAIL, description="Storage is local disk (no direct-to-storage uploads), or busy.")
R411 = OpenApiResponse(DETAIL, description="No Content-Length header.")
R413 = OpenApiResponse(DETAIL, description="Larger than RECORDING_MAX_BYTES.")


def _as_seen(recordings, request: Request, *, many: bool = False):
    """Recordings as the viewer sees them: their playback links signed for the viewer (the
    issued ones audited in one INSERT for a whole page), then rendered with them."""
    links = playback_links(recordings=recordings if many else [recordings], viewer=request.user, request=request)
    return RecordingSerializer(recordings, many=many, context={"links": links, "viewer": request.user}).data


class RecordingPagination(LinkHeaderCursorPagination):
    ordering = ("-created_at", "id")


@extend_schema_view(
    list=extend_schema(
        tags=["recordings"],
        summary="The session's recordings, newest first, each with a signed, expiring `file_url`.",
        responses={200: RecordingSerializer(many=True), 400: R400, 401: R401, 403: R403, 404: R404},
    ),
    create=extend_schema(
        tags=["recordings"],
        summary="Upload a recording (multipart field `file`): the session's tutor or an admin.",
        description="The file streams to disk, must be audio or video by content, and is measured (duration, type).",
        request={"multipart/form-data": RecordingUploadIn},
        responses={
            201: RecordingSerializer,
            400: R400,
            401: R401,
            403: R403,
            404: R404,
            409: OpenApiResponse(DETAIL, description="The parent has not consented to recording."),
            408: OpenApiResponse(DETAIL, description="The file arrived slower than RECORDING_MIN_BYTES_PER_SECOND."),
            411: R411,
            413: R413,
            429: R429,
        },
    ),
)
class SessionRecordingViewSet(SessionScopedMixin, ApiViewSet):
    permission_classes = [permissions.BookingAccess]
    booking_actions = {"list": "view", "create": "upload_recording"}
    pagination_class = RecordingPagination
    serializer_class = RecordingSerializer

    def get_parsers(self):
        if getattr(getattr(self, "request", None), "method", None) == "POST":
            return [RecordingMultiPartParser()]
        return super().get_parsers()

    def get_authenticators(self):
        # An upload is authenticated by its Bearer token, or by a browser's session with the CSRF
        # token in the X-CSRFToken header: SessionAuthentication's CSRF check reads request.POST,
        # which would parse the whole body before this view has checked the request's size and
        # installed its upload handler; the header-only check leaves the body unread.
        if getattr(getattr(self, "request", None), "method", None) == "POST":
            return [JWTAuthentication(), HeaderCsrfSessionAuthentication()]
        return super().get_authenticators()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return SessionRecording.objects.none()
        newest_first = SessionRecording.objects.order_by("-created_at", "id")  # the (session, created_at) index
        return permissions.recordings_visible_to(self.request.user, self.booking, newest_first)

    def list(self, request: Request, session_id: str) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(_as_seen(page, request, many=True))

    def create(self, request: Request, session_id: str) -> Response:
        recording_upload_admit(
            booking=self.booking, uploaded_by=request.user, declared_bytes=declared_file_bytes(request)
        )
        upload = receive_recording_upload(request, max_bytes=settings.RECORDING_MAX_BYTES)
        try:
            recording = recording_upload(
                booking=self.booking,
                uploaded_by=request.user,
                file=upload.file,
                filename=upload.filename,
                checksum_sha256=upload.checksum_sha256,
            )
        finally:
            upload.file.close()  # removes the temporary file unless storage moved it into place
        return Response(_as_seen(recording, request), status=201)


@extend_schema_view(
    create=extend_schema(
        tags=["recordings"],
        summary="Start a direct-to-S3 multipart upload.",
        description=(
            "PUT each part to its presigned URL, then `POST .../uploads/{upload_id}/complete` with the "
            "parts' ETags. 409 on local storage."
        ),
        request=UploadStartIn,
        responses={
            201: UploadStartOut,
            400: R400,
            401: R401,
            403: R403,
            404: R404,
            409: R409_LOCAL,
            413: R413,
            429: R429,
        },
    ),
    destroy=extend_schema(
        tags=["recordings"],
        summary="Abort a multipart upload in progress; S3 discards the parts.",
        responses={204: None, 401: R401, 403: R403, 404: R404, 409: R409_LOCAL},
    ),
)
class RecordingUploadViewSet(SessionScopedMixin, ApiViewSet):
    serializer_class = UploadStartIn
    permission_classes = [permissions.RecordingAccess]  # the upload; the session: SessionScopedMixin
    booking_actions = {"create": "upload_recording", "destroy": "upload_recording", "complete": "upload_recording"}
    recording_actions = {"destroy": "manage_upload", "complete": "manage_upload"}
    lookup_url_kwarg = "upload_id"
    object_label = "Recording"
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return SessionRecording.objects.none()
        return SessionRecording.objects.select_related("session__student").filter(session=self.booking)

    def create(self, request: Request, session_id: str) -> Response:
        body = UploadStartIn(data=request.data)
        body.is_valid(raise_exception=True)
        upload = recording_upload_start(booking=self.booking, uploaded_by=request.user, **body.validated_data)
        out = {
            "upload_id": upload.recording.pk,
            "part_size": upload.part_size,
            "parts": [{"part_number": p.part_number, "url": p.url} for p in upload.parts],
            "expires_at": upload.expires_at,
            "recording": upload.recording,
        }
        return Response(
            UploadStartOut(out, context={"links": {}, "viewer": request.user}).data, status=status.HTTP_201_CREATED
        )

    def destroy(self, request: Request, session_id: str, upload_id: str) -> Response:
        recording_upload_abort(recording=self.get_object(), aborted_by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        tags=["recordings"],
        summary="Complete a multipart upload.",
        description=(
            "The parts and the size are checked with S3, the object is assembled and probed like a "
            "direct upload, and the recording is returned."
        ),
        request=UploadCompleteIn,
        responses={
            201: RecordingSerializer,
            200: OpenApiResponse(RecordingSerializer, description="Already completed: the recording."),
            400: R400,
            401: R401,
            403: R403,
            404: R404,
            409: R409_LOCAL,
        },
    )
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, session_id: str, upload_id: str) -> Response:
        recording = self.get_object()
        body = UploadCompleteIn(data=request.data)
        body.is_valid(raise_exception=True)
        recording, created = recording_upload_complete(
            recording=recording, completed_by=request.user, parts=body.validated_data["parts"]
        )
        return Response(_as_seen(recording, request), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@extend_schema_view(
    destroy=extend_schema(
        tags=["recordings"],
        summary="Delete a recording and its stored file: its uploader or an admin.",
        responses={204: None, 401: R401, 403: R403, 404: R404},
    )
)
class RecordingViewSet(ApiViewSet):
    serializer_class = RecordingSerializer
    permission_classes = [permissions.RecordingAccess]
    recording_actions = {"destroy": "delete"}
    queryset = SessionRecording.objects.select_related("session__student")
    lookup_url_kwarg = "recording_id"
    object_label = "Recording"
    pagination_class = None

    def destroy(self, request: Request, recording_id: str) -> Response:
        recording_delete(recording=self.get_object(), deleted_by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
