"""Safeguarding endpoints: report a message, staff hide/restore it, mark a session's chat read."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from k12 import permissions
from k12.api import R400, R401, R403, R404, R409, json_object
from sessions_app import moderation, selectors, services
from sessions_app.message_api import MessageOut
from sessions_app.models import ReportReason
from sessions_app.payloads import iso, message_payload


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


class ReadIn(serializers.Serializer):
    up_to = serializers.UUIDField(help_text="The newest message id the user has seen.")


class ReadOut(serializers.Serializer):
    session_id = serializers.UUIDField()
    unread = serializers.IntegerField()


class MessageReportView(APIView):
    @extend_schema(
        tags=["safeguarding"],
        request=ReportIn,
        responses={201: ReportOut, 400: R400, 401: R401, 403: R403, 404: R404, 409: R409},
    )
    def post(self, request: Request, message_id: str) -> Response:
        """A participant reports a message to the staff's moderation queue."""
        message = permissions.access_message(request.user, message_id)
        body = json_object(request)
        report = moderation.message_report(
            message=message,
            reporter=request.user,
            reason=body.get("reason"),
            description=body.get("description", ""),
            request=request,
        )
        return Response(
            {
                "id": str(report.id),
                "message_id": str(message.id),
                "reason": report.reason,
                "description": report.description,
                "status": report.status,
                "created_at": iso(report.created_at),
            },
            status=status.HTTP_201_CREATED,
        )


class MessageHideView(APIView):
    hide = True

    @extend_schema(
        tags=["safeguarding"], request=HideIn, responses={200: MessageOut, 400: R400, 401: R401, 403: R403, 404: R404}
    )
    def post(self, request: Request, message_id: str) -> Response:
        """Staff hide a message (or restore it): stored, audited, announced to the live room."""
        message = permissions.access_message(request.user, message_id)
        if not permissions.can_moderate(request.user):
            raise exceptions.PermissionDenied("Only staff can moderate messages.")
        body = HideIn(data=json_object(request))
        body.is_valid(raise_exception=True)
        if self.hide:
            message = moderation.message_hide(
                message=message, moderator=request.user, reason=body.validated_data.get("reason", ""), request=request
            )
        else:
            message = moderation.message_unhide(message=message, moderator=request.user, request=request)
        return Response(message_payload(message, staff=True))


class MessageUnhideView(MessageHideView):
    hide = False


class SessionReadView(APIView):
    @extend_schema(tags=["chat"], request=ReadIn, responses={200: ReadOut, 400: R400, 401: R401, 403: R403, 404: R404})
    def post(self, request: Request, session_id: str) -> Response:
        """Mark the session's chat read up to a message; answers how many are still unread."""
        booking = permissions.access_booking(request.user, session_id, "view")
        body = json_object(request)
        services.read_cursor_advance(booking=booking, user=request.user, up_to=body.get("up_to"))
        annotated = selectors.sessions_with_unread(type(booking).objects.filter(pk=booking.pk), request.user)
        return Response({"session_id": str(booking.id), "unread": annotated.values_list("unread", flat=True)[0]})
