"""REST chat: GET/POST /api/sessions/{id}/messages (the guide's endpoints, holes closed)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from k12 import permissions, throttling
from k12.api import R400, R401, R403, R404, R429, json_object
from k12.pagination import DEFAULT_LIMIT, MAX_LIMIT, cursor_links, parse_limit
from sessions_app import message_fastpath, selectors, services
from sessions_app.payloads import message_payload


class MessageOut(serializers.Serializer):
    """The guide's message shape (documentation only: payloads.message_payload renders it)."""

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


class SessionMessagesView(APIView):
    throttle_classes = [throttling.MessagePostThrottle]

    def dispatch(self, request, *args, **kwargs):
        # The hot path answers the ordinary request (a valid Bearer token, access, valid input)
        # and declines everything else, which DRF serves below (sessions_app/message_fastpath.py).
        response = message_fastpath.serve(request, kwargs.get("session_id", ""), self.default_response_headers)
        if response is not None:
            return response
        return super().dispatch(request, *args, **kwargs)

    def check_throttles(self, request):
        verdict = getattr(request._request, message_fastpath.THROTTLE_VERDICT, None)
        if verdict is None:
            return super().check_throttles(request)
        allowed, wait = verdict  # already counted by the hot path: not counted twice
        if not allowed:
            self.throttled(request, wait)

    @extend_schema(
        tags=["chat"],
        parameters=[
            OpenApiParameter("limit", int, description=f"1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})."),
            OpenApiParameter("before", OpenApiTypes.UUID, description="Page backwards from this message id."),
            OpenApiParameter("after", OpenApiTypes.UUID, description="Page forwards from this message id."),
        ],
        responses={200: MessageOut(many=True), 400: R400, 401: R401, 403: R403, 404: R404},
    )
    def get(self, request: Request, session_id: str) -> Response:
        """The session's chat, oldest first. Without a cursor, the newest `limit` messages; the
        `Link` header announces the neighbouring pages (`rel="prev"` older, `rel="next"` newer)."""
        booking = permissions.access_booking(request.user, session_id, "view")
        params = request.query_params
        limit = parse_limit(params.get("limit"))
        page = selectors.messages_page(booking, before=params.get("before"), after=params.get("after"), limit=limit)
        staff = permissions.is_admin(request.user)
        response = Response([message_payload(m, staff=staff) for m in page.messages])
        if page.messages:
            link = cursor_links(
                request,
                first_id=page.messages[0].id,
                last_id=page.messages[-1].id,
                has_older=page.has_older,
                has_newer=page.has_newer,
                limit=limit,
            )
            if link:
                response["Link"] = link
        return response

    @extend_schema(
        tags=["chat"],
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
    )
    def post(self, request: Request, session_id: str) -> Response:
        """Send a message. Broadcast once to the session's live room after it is stored."""
        booking = permissions.access_booking(request.user, session_id, "message")
        body = json_object(request)
        message, created = services.message_create(
            booking=booking, sender=request.user, text=body.get("text"), client_id=body.get("client_id")
        )
        payload = message_payload(message, staff=permissions.is_admin(request.user))
        return Response(payload, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
