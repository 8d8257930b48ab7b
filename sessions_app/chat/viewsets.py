"""The API of a session's chat: its messages, the read cursor, and what staff and participants do
with a message (report, hide, restore). Thin: parse, call one service or selector, render. One
implementation per endpoint, on every database.

Everything under ``sessions/{session_id}/`` is guarded by ``k12.viewsets.SessionScopedMixin``:
after authentication, one query reads the session with its student, and the token's user with
it (``k12.permissions.fetch_booking``), then ``k12.permissions.BookingAccess`` asks the
predicate the action maps to (``booking_actions``). So the chat's GET and POST each cost the
session read plus their one statement (the page, the insert).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from k12 import permissions, throttling
from k12.pagination import DEFAULT_LIMIT, MAX_LIMIT, cursor_links, parse_limit
from k12.parsers import json_object
from k12.schema import R400, R401, R403, R404, R409, R429
from k12.viewsets import ApiViewSet, SessionScopedMixin
from sessions_app.chat import moderation, selectors, services
from sessions_app.chat.payloads import iso, message_payload, row_payload
from sessions_app.models import ReportReason, SessionMessage


class MessageOut(serializers.Serializer):
    """A message on the wire (documentation only: payloads.row_payload / message_payload render
    it)."""

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
    text = serializers.CharField(
        max_length=services.MAX_MESSAGE_LENGTH, help_text=f"1..{services.MAX_MESSAGE_LENGTH} characters after trimming."
    )
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


# --- Safeguarding: a message reported, hidden, restored ----------------------------------------


class ReportIn(serializers.Serializer):
    reason = serializers.ChoiceField(choices=ReportReason.choices)
    description = serializers.CharField(required=False, allow_blank=True, max_length=moderation.MAX_DESCRIPTION)


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
