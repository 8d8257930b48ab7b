"""REST recordings: list and upload (the guide's GET/POST /sessions/:id/recordings, holes
closed), direct-to-S3 multipart uploads, and delete. Thin: parse, call a service or selector,
render."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from k12 import permissions
from k12.api import DETAIL, PAGE_PARAMS, R400, R401, R403, R404, R429
from k12.audit import audit_record_many
from k12.authentication import HeaderCsrfSessionAuthentication
from k12.models import AuditAction
from k12.pagination import LinkHeaderCursorPagination
from k12.parsers import JSONParser
from sessions_app import recording_selectors, recording_services
from sessions_app.recording_serializers import (
    RecordingSerializer,
    RecordingUploadIn,
    UploadCompleteIn,
    UploadStartIn,
    UploadStartOut,
)
from sessions_app.recording_uploads import RecordingMultiPartParser, declared_file_bytes, receive_recording_upload

R409_LOCAL = OpenApiResponse(DETAIL, description="Storage is local disk (no direct-to-storage uploads), or busy.")
R411 = OpenApiResponse(DETAIL, description="No Content-Length header.")
R413 = OpenApiResponse(DETAIL, description="Larger than RECORDING_MAX_BYTES.")


class SessionRecordingsView(APIView):
    parser_classes = [RecordingMultiPartParser]

    def get_authenticators(self):
        # An upload is authenticated by its Bearer token, or by a browser's session with the CSRF
        # token in the X-CSRFToken header: SessionAuthentication's CSRF check reads request.POST,
        # which would parse the whole body before this view has checked the request's size and
        # installed its upload handler; the header-only check leaves the body unread.
        if getattr(getattr(self, "request", None), "method", None) == "POST":
            return [JWTAuthentication(), HeaderCsrfSessionAuthentication()]
        return super().get_authenticators()

    @extend_schema(
        tags=["recordings"],
        parameters=PAGE_PARAMS,
        responses={200: RecordingSerializer(many=True), 400: R400, 401: R401, 403: R403, 404: R404},
    )
    def get(self, request: Request, session_id: str) -> Response:
        """The session's recordings, newest first, each with a signed, expiring `file_url`."""
        booking = permissions.access_booking(request.user, session_id, "view")
        paginator = LinkHeaderCursorPagination()
        page = paginator.paginate_queryset(
            recording_selectors.recordings_visible_to(request.user, booking), request, self
        )
        data = RecordingSerializer(page, many=True, context={"request": request}).data
        issued = [recording for recording, row in zip(page, data, strict=True) if row["file_url"]]
        if issued:  # who was handed a playback link, and when: one INSERT for the page
            audit_record_many(
                action=AuditAction.RECORDING_URL_VIEWED,
                actor=request.user,
                targets=issued,
                session_id=booking.pk,
                request=request,
            )
        return paginator.get_paginated_response(data)

    @extend_schema(
        tags=["recordings"],
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
    )
    def post(self, request: Request, session_id: str) -> Response:
        """Upload a recording (multipart field `file`): the session's tutor or an admin. The file
        streams to disk, must be audio or video by content, and is measured (duration, type)."""
        booking = permissions.access_booking(request.user, session_id, "upload_recording")
        recording_services.recording_upload_admit(
            booking=booking, uploaded_by=request.user, declared_bytes=declared_file_bytes(request)
        )
        upload = receive_recording_upload(request, max_bytes=settings.RECORDING_MAX_BYTES)
        try:
            recording = recording_services.recording_upload(
                booking=booking,
                uploaded_by=request.user,
                file=upload.file,
                filename=upload.filename,
                checksum_sha256=upload.checksum_sha256,
            )
        finally:
            upload.file.close()  # removes the temporary file unless storage moved it into place
        return Response(RecordingSerializer(recording, context={"request": request}).data, status=201)


class RecordingUploadsView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["recordings"],
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
    )
    def post(self, request: Request, session_id: str) -> Response:
        """Start a direct-to-S3 multipart upload: PUT each part to its presigned URL, then
        `POST .../uploads/{upload_id}/complete` with the parts' ETags. 409 on local storage."""
        booking = permissions.access_booking(request.user, session_id, "upload_recording")
        body = UploadStartIn(data=request.data)
        body.is_valid(raise_exception=True)
        upload = recording_services.recording_upload_start(
            booking=booking, uploaded_by=request.user, **body.validated_data
        )
        out = {
            "upload_id": upload.recording.pk,
            "part_size": upload.part_size,
            "parts": [{"part_number": p.part_number, "url": p.url} for p in upload.parts],
            "expires_at": upload.expires_at,
            "recording": upload.recording,
        }
        return Response(UploadStartOut(out, context={"request": request}).data, status=status.HTTP_201_CREATED)


def _upload_for(request: Request, session_id: str, upload_id: str):
    booking = permissions.access_booking(request.user, session_id, "upload_recording")
    return permissions.access_recording(request.user, upload_id, "manage_upload", booking=booking)


class RecordingUploadView(APIView):
    @extend_schema(
        tags=["recordings"],
        responses={204: None, 401: R401, 403: R403, 404: R404, 409: R409_LOCAL},
    )
    def delete(self, request: Request, session_id: str, upload_id: str) -> Response:
        """Abort a multipart upload in progress; S3 discards the parts."""
        recording = _upload_for(request, session_id, upload_id)
        recording_services.recording_upload_abort(recording=recording, aborted_by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecordingUploadCompleteView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["recordings"],
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
    def post(self, request: Request, session_id: str, upload_id: str) -> Response:
        """Complete a multipart upload: the parts and the size are checked with S3, the object is
        assembled and probed like a direct upload, and the recording is returned."""
        recording = _upload_for(request, session_id, upload_id)
        body = UploadCompleteIn(data=request.data)
        body.is_valid(raise_exception=True)
        recording, created = recording_services.recording_upload_complete(
            recording=recording, completed_by=request.user, parts=body.validated_data["parts"]
        )
        return Response(
            RecordingSerializer(recording, context={"request": request}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class RecordingDetailView(APIView):
    @extend_schema(tags=["recordings"], responses={204: None, 401: R401, 403: R403, 404: R404})
    def delete(self, request: Request, recording_id: str) -> Response:
        """Delete a recording and its stored file: its uploader or an admin."""
        recording = permissions.access_recording(request.user, recording_id, "delete")
        recording_services.recording_delete(recording=recording, deleted_by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
