"""REST notifications: GET /api/notifications (mine, newest first), POST /api/notifications/{id}/read.

The body of each item is exactly what the WebSocket push carries (``notification_payload``), so
a client renders a pushed notification and a listed one the same way.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from k12 import notifications, permissions
from k12.api import PAGE_PARAMS, R400, R401, R403, R404
from k12.pagination import LinkHeaderCursorPagination


class NotificationOut(serializers.Serializer):
    """Documentation of ``notification_payload``'s shape (that function renders it)."""

    id = serializers.UUIDField()
    kind = serializers.CharField(help_text="allocation_created, allocation_ended, booking_created, booking_cancelled")
    title = serializers.CharField()
    body = serializers.CharField()
    data = serializers.DictField(help_text="Ids of what it is about, e.g. `sessionId` or `allocationId`.")
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class NotificationPagination(LinkHeaderCursorPagination):
    ordering = ("-created_at", "-id")

    def get_page_size(self, request):
        # `?limit=` with no value is malformed input (a 400, as `?to=` is on /api/sessions), not
        # a request for the default.
        if request.query_params.get(self.page_size_query_param) == "":
            raise ValidationError({"limit": ["A whole number is required."]})
        return super().get_page_size(request)


class NotificationListView(APIView):
    @extend_schema(
        tags=["notifications"],
        parameters=PAGE_PARAMS,
        responses={200: NotificationOut(many=True), 400: R400, 401: R401},
    )
    def get(self, request: Request) -> Response:
        """The caller's notifications, newest first; `Link` announces the neighbouring pages."""
        paginator = NotificationPagination()
        page = paginator.paginate_queryset(permissions.notifications_visible_to(request.user), request, self)
        return paginator.get_paginated_response([notifications.notification_payload(n) for n in page])


class NotificationReadView(APIView):
    @extend_schema(
        tags=["notifications"],
        request=None,
        responses={200: NotificationOut, 401: R401, 403: R403, 404: R404},
    )
    def post(self, request: Request, notification_id: str) -> Response:
        """Mark one of your notifications as read. Repeating it keeps the first read time."""
        notification = permissions.access_notification(request.user, notification_id)
        notification = notifications.notification_mark_read(notification=notification)
        return Response(notifications.notification_payload(notification))
