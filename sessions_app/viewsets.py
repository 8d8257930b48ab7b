"""The API inside a session: chat messages, recordings and their direct-to-storage uploads, the
read cursor, and what staff and participants do with a message (report, hide, restore). Thin:
parse, call one service or selector, render. One implementation per endpoint, on every database.

Everything under ``sessions/{session_id}/`` is guarded the same way (``SessionScopedMixin``):
after authentication, one query reads the session with its student, and the token's user with
it (``k12.permissions.fetch_booking``), then ``k12.permissions.BookingAccess`` asks the
predicate the action maps to (``booking_actions``). So the chat's GET and POST each cost the
session read plus their one statement (the page, the insert).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from k12 import permissions, throttling
from k12.api import DETAIL, R400, R401, R403, R404, R409, R429, json_object
from k12.authentication import HeaderCsrfSessionAuthentication, JWTAuthentication
from k12.pagination import DEFAULT_LIMIT, MAX_LIMIT, LinkHeaderCursorPagination, cursor_links, parse_limit
from k12.viewsets import ApiViewSet
from sessions_app import moderation, selectors, services
from sessions_app.models import ReportReason, SessionMessage, SessionRecording
from sessions_app.payloads import iso, message_payload, row_payload
from sessions_app.recording_playback import playback_links
from sessions_app.recording_serializers import (
    RecordingSerializer,
    RecordingUploadIn,
    UploadCompleteIn,
    UploadStartIn,
    UploadStartOut,
)
from sessions_app.recording_services import (
    recording_delete,
    recording_upload,
    recording_upload_abort,
    recording_upload_admit,
    recording_upload_complete,
    recording_upload_start,
)
from sessions_app.recording_uploads import RecordingMultiPartParser, declared_file_bytes, receive_recording_upload


class SessionScopedMixin:
    """For viewsets under ``sessions/{session_id}/``: the session is read once, right after
    authentication (404 if it does not exist), and the action's rule is asked of it (403)."""

    booking_actions: dict[str, str] = {}

    def load_objects(self, request) -> None:
        # the session, and the token's user with it, in one query
        self.booking = permissions.fetch_booking(request.user, self.kwargs["session_id"])
        guard = permissions.BookingAccess()
        if not guard.has_object_permission(request, self, self.booking):
            self.permission_denied(request, message=guard.message)


# --- Chat -------------------------------------------------------------------------------------


class MessageOut(serializers.Serializer):
    """The guide's message shape (documentation only: payloads.row_payload / message_payload
    render it)."""

    id = serializers.UUIDField()
    user_id = serializers.UUIDField()
    text = serializers.CharField(allow_blank=True, help_text="Empty when hidden (except for staff).")
    created_at = serializers.DateTimeField()
    hidden = serializers.BooleanField(help_text="Hidden by a moderator.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.CharField(help_text="The sender's display name.")
        return fields


class MessageIn(serializers.Serializer):
    text = serializers.CharField(max_length=2000, help_text="1..2000 characters after trimming.")
    client_id = serializers.UUIDField(
        required=False, help_text="Idempotency key: a retry with the same id returns the first message (200)."
    )


@extend_schema_view(
    list=extend_schema(
        tags=["chat"],
        summary="The session's chat, oldest first.",
        description=(
            "Without a cursor, the newest `limit` messages; the `Link` header announces the "
            'neighbouring pages (`rel="prev"` older, `rel="next"` newer).'
        ),
        parameters=[
            OpenApiParameter("limit", int, description=f"1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})."),
            OpenApiParameter("before", OpenApiTypes.UUID, description="Page backwards from this message id."),
            OpenApiParameter("after", OpenApiTypes.UUID, description="Page forwards from this message id."),
        ],
        responses={200: MessageOut(many=True), 400: R400, 401: R401, 403: R403, 404: R404},
    ),
    create=extend_schema(
        tags=["chat"],
        summary="Send a message. Broadcast once to the session's live room after it is stored.",
        request=MessageIn,
        responses={
            201: MessageOut,
            200: OpenApiResponse(MessageOut, description="A retry (same client_id): the first message."),
            400: R400,
            401: R401,
            403: R403,
            404: R404,
            429: R429,
        },
    ),
)
class SessionMessageViewSet(SessionScopedMixin, ApiViewSet):
    serializer_class = MessageIn
    permission_classes = [permissions.BookingAccess]
    booking_actions = {"list": "view", "create": "message"}
    throttle_classes = [throttling.MessagePostThrottle]
    filter_backends: list = []
    filterset_class = None
    pagination_class = None  # its own cursors: message ids (``before``/``after``)
    extra_query_params = {"list": ("limit", "before", "after")}

    def list(self, request: Request, session_id: str) -> Response:
        params = request.query_params
        limit = parse_limit(params.get("limit"))
        page = selectors.messages_page(
            self.booking.pk, before=params.get("before"), after=params.get("after"), limit=limit
        )
        staff = permissions.sees_hidden_text(request.user)
        response = Response([row_payload(row, staff=staff) for row in page.messages])
        if page.messages:
            link = cursor_links(
                request,
                first_id=page.messages[0][0],
                last_id=page.messages[-1][0],
                has_older=page.has_older,
                has_newer=page.has_newer,
                limit=limit,
            )
            if link:
                response["Link"] = link
        return response

    def create(self, request: Request, session_id: str) -> Response:
        body = json_object(request)
        message, created = services.message_create(
            booking=self.booking, sender=request.user, text=body.get("text"), client_id=body.get("client_id")
        )
        payload = message_payload(message, staff=permissions.sees_hidden_text(request.user))
        return Response(payload, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ReadIn(serializers.Serializer):
    up_to = serializers.UUIDField(help_text="The newest message id the user has seen.")


class ReadOut(serializers.Serializer):
    session_id = serializers.UUIDField()
    unread = serializers.IntegerField()


@extend_schema_view(
    create=extend_schema(
        tags=["chat"],
        summary="Mark the session's chat read up to a message; answers how many are still unread.",
        request=ReadIn,
        responses={200: ReadOut, 400: R400, 401: R401, 403: R403, 404: R404},
    )
)
class SessionReadViewSet(SessionScopedMixin, ApiViewSet):
    serializer_class = ReadIn
    permission_classes = [permissions.BookingAccess]
    booking_actions = {"create": "view"}
    pagination_class = None

    def create(self, request: Request, session_id: str) -> Response:
        body = json_object(request)
        services.read_cursor_advance(booking=self.booking, user=request.user, up_to=body.get("up_to"))
        unread = selectors.session_unread(self.booking, request.user)
        return Response({"session_id": str(self.booking.id), "unread": unread})


# --- Recordings -------------------------------------------------------------------------------

R409_LOCAL = OpenApiResponse(DETAIL, description="Storage is local disk (no direct-to-storage uploads), or busy.")
R411 = OpenApiResponse(DETAIL, description="No Content-Length header.")
R413 = OpenApiResponse(DETAIL, description="Larger than RECORDING_MAX_BYTES.")


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
        return permissions.recordings_visible_to(self.request.user, self.booking)

    def list(self, request: Request, session_id: str) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        links = playback_links(recordings=page, viewer=request.user, request=request)
        return self.get_paginated_response(RecordingSerializer(page, many=True, context={"links": links}).data)

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
        links = playback_links(recordings=[recording], viewer=request.user, request=request)
        return Response(RecordingSerializer(recording, context={"links": links}).data, status=201)


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
        return Response(UploadStartOut(out, context={"links": {}}).data, status=status.HTTP_201_CREATED)

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
        links = playback_links(recordings=[recording], viewer=request.user, request=request)
        return Response(
            RecordingSerializer(recording, context={"links": links}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


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


# --- Safeguarding: a message reported, hidden, restored ----------------------------------------


class ReportIn(serializers.Serializer):
    reason = serializers.ChoiceField(choices=ReportReason.choices)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ReportOut(serializers.Serializer):
    id = serializers.UUIDField()
    message_id = serializers.UUIDField()
    reason = serializers.ChoiceField(choices=ReportReason.choices)
    description = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class HideIn(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class MessageViewSet(ApiViewSet):
    serializer_class = ReportIn
    permission_classes = [permissions.MessageAccess]
    message_actions = {"report": "report", "hide": "moderate", "unhide": "moderate"}
    queryset = SessionMessage.objects.select_related("session__student", "user")
    lookup_url_kwarg = "message_id"
    object_label = "Message"
    pagination_class = None

    @extend_schema(
        tags=["safeguarding"],
        summary="A participant reports a message to the staff's moderation queue.",
        request=ReportIn,
        responses={201: ReportOut, 400: R400, 401: R401, 403: R403, 404: R404, 409: R409},
    )
    @action(detail=True, methods=["post"])
    def report(self, request: Request, message_id: str) -> Response:
        message = self.get_object()
        body = json_object(request)
        report = moderation.message_report(
            message=message,
            reporter=request.user,
            reason=body.get("reason"),
            description=body.get("description", ""),
            request=request,
        )
        out = {
            "id": str(report.id),
            "message_id": str(message.id),
            "reason": report.reason,
            "description": report.description,
            "status": report.status,
            "created_at": iso(report.created_at),
        }
        return Response(out, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["safeguarding"],
        summary="Staff hide a message: stored, audited, announced to the live room.",
        request=HideIn,
        responses={200: MessageOut, 400: R400, 401: R401, 403: R403, 404: R404},
    )
    @action(detail=True, methods=["post"])
    def hide(self, request: Request, message_id: str) -> Response:
        message = self.get_object()
        body = HideIn(data=json_object(request))
        body.is_valid(raise_exception=True)
        message = moderation.message_hide(
            message=message, moderator=request.user, reason=body.validated_data.get("reason", ""), request=request
        )
        return Response(message_payload(message, staff=True))

    @extend_schema(
        tags=["safeguarding"],
        summary="Staff restore a hidden message: audited, announced to the live room.",
        request=HideIn,
        responses={200: MessageOut, 400: R400, 401: R401, 403: R403, 404: R404},
    )
    @action(detail=True, methods=["post"])
    def unhide(self, request: Request, message_id: str) -> Response:
        message = moderation.message_unhide(message=self.get_object(), moderator=request.user, request=request)
        return Response(message_payload(message, staff=True))
