"""The moderation queue in the API: ``GET /api/admin/reports`` and
``POST /api/admin/reports/{id}/resolve``. Staff only (anonymous 401, any other role 403). Resolving
goes through the same services as the Django admin's actions (``sessions_app.chat.moderation``), so
it is audited the same way."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from k12 import permissions
from k12.errors import Conflict
from k12.filters import StrictFilterSet
from k12.formats import iso
from k12.pagination import LinkHeaderCursorPagination
from k12.schema import R400, R401, R403, R404, R409
from k12.viewsets import ApiViewSet
from sessions_app.chat import moderation
from sessions_app.chat.payloads import message_payload
from sessions_app.models import MessageReport, ReportReason, ReportStatus

RESOLVED = (ReportStatus.ACTIONED, ReportStatus.DISMISSED)
RESOLUTIONS = {ReportStatus.ACTIONED: "hidden", ReportStatus.DISMISSED: "dismissed"}


class ReportFilter(StrictFilterSet):
    """``status`` (open or resolved: hidden or dismissed) and ``reason``."""

    status = django_filters.ChoiceFilter(choices=[("open", "open"), ("resolved", "resolved")], method="by_status")
    reason = django_filters.ChoiceFilter(choices=ReportReason.choices)

    def by_status(self, queryset, name, value):
        if value == "open":
            return queryset.filter(status=ReportStatus.OPEN)
        return queryset.filter(status__in=RESOLVED)


class ReportPagination(LinkHeaderCursorPagination):
    ordering = ("-created_at", "-id")


def _person(user) -> dict | None:
    if user is None:
        return None
    return {"id": str(user.id), "email": user.email, "name": user.display_name, "role": user.role}


def report_payload(report: MessageReport) -> dict:
    """A report as staff read it: the message with its text even when hidden, its session, the
    reporter (null for an automatic report), what was found, and where it stands."""
    message = report.message
    booking = message.session
    student = booking.student
    return {
        "id": str(report.id),
        "status": "open" if report.status == ReportStatus.OPEN else "resolved",
        "resolution": RESOLUTIONS.get(report.status),
        "reason": report.reason,
        "description": report.description,
        "matched_spans": report.matched_spans,
        "reporter": _person(report.reporter),
        "created_at": iso(report.created_at),
        "resolved_at": iso(report.resolved_at) if report.resolved_at else None,
        "resolved_by": _person(report.resolved_by),
        "message": {
            **message_payload(message, staff=True),
            "session_id": str(booking.id),
            "hidden_at": iso(message.hidden_at) if message.hidden_at else None,
        },
        "session": {
            "id": str(booking.id),
            "subject": booking.subject.name,
            "starts_at": iso(booking.starts_at),
            "status": booking.status,
            "tutor": _person(booking.tutor),
            "student": {"id": str(student.id), "first_name": student.first_name, "last_name": student.last_name},
        },
    }


class AdminReportOut(serializers.Serializer):
    """Documents ``report_payload``'s shape (that function renders it)."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["open", "resolved"])
    resolution = serializers.ChoiceField(choices=["hidden", "dismissed"], allow_null=True)
    reason = serializers.ChoiceField(choices=ReportReason.choices)
    description = serializers.CharField(allow_blank=True)
    matched_spans = serializers.ListField(
        child=serializers.DictField(), help_text="[{kind, start, end, text}]: what an automatic report found."
    )
    reporter = serializers.DictField(allow_null=True, help_text="null when raised automatically.")
    created_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_by = serializers.DictField(allow_null=True)
    message = serializers.DictField(help_text="{id, from, user_id, text (even when hidden), created_at, hidden, ...}")
    session = serializers.DictField()


class ReportResolveIn(serializers.Serializer):
    action = serializers.ChoiceField(
        choices=["hide", "dismiss"], help_text="hide: hide the message (closes its open reports); dismiss: keep it."
    )


@extend_schema_view(
    list=extend_schema(
        tags=["admin"],
        summary="The moderation queue, newest first.",
        responses={200: AdminReportOut(many=True), 400: R400, 401: R401, 403: R403},
    )
)
class ReportViewSet(mixins.ListModelMixin, ApiViewSet):
    permission_classes = [permissions.ModerationAccess]
    filterset_class = ReportFilter
    pagination_class = ReportPagination
    object_label = "Report"
    lookup_url_kwarg = "report_id"

    def get_serializer_class(self):
        # what OPTIONS describes; the responses are rendered by report_payload
        return ReportResolveIn if self.action == "resolve" else AdminReportOut

    def get_queryset(self):
        return MessageReport.objects.select_related(
            "message__user",
            "message__session__subject",
            "message__session__tutor",
            "message__session__student",
            "reporter",
            "resolved_by",
        )

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([report_payload(report) for report in page])

    @extend_schema(
        tags=["admin"],
        summary="Resolve a report: hide its message or dismiss it. Audited.",
        request=ReportResolveIn,
        responses={200: AdminReportOut, 400: R400, 401: R401, 403: R403, 404: R404, 409: R409},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, report_id: str) -> Response:
        report = self.get_object()
        body = ReportResolveIn(data=request.data)
        body.is_valid(raise_exception=True)
        if report.status != ReportStatus.OPEN:
            raise Conflict("This report is already resolved.")
        if body.validated_data["action"] == "hide":
            moderation.message_hide(
                message=report.message,
                moderator=request.user,
                reason=f"Reported: {report.reason}",
                request=request,
            )
        else:
            moderation.report_dismiss(report=report, moderator=request.user, request=request)
        return Response(report_payload(self.get_queryset().get(pk=report.pk)))
