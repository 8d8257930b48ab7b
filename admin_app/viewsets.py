"""/api/admin/*: the staff's API, as viewsets on the API's router.
Admin-only: anonymous 401, any other role 403 (``IsAdminRole``, from the one access rule).
Thin: parse, call a selector or a service, render."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from admin_app import selectors
from admin_app.serializers import (
    AdminStudentSerializer,
    AdminTutorSerializer,
    AllocationCreateSerializer,
    AllocationFilter,
    AllocationResultSerializer,
    AllocationSerializer,
    SearchFilter,
    StatsSerializer,
    TutorFilter,
)
from k12 import permissions, services
from k12.filters import reject_unknown_query_params
from k12.models import Allocation, User
from k12.pagination import LinkHeaderCursorPagination
from k12.schema import R400, R401, R403, R404, R409
from k12.viewsets import ApiViewSet


class StaffViewSet(ApiViewSet):
    permission_classes = [permissions.IsAdminRole]


class NewestFirst(LinkHeaderCursorPagination):
    ordering = ("-created_at", "id")


class TutorPagination(LinkHeaderCursorPagination):
    ordering = ("-date_joined", "id")

    def get_ordering(self, request, queryset, view):
        # Matched for a subject: best fit first, as tutor_matches orders them (keyset on the
        # free minutes, an integer).
        if "free_minutes" in queryset.query.annotations:
            return ("-free_minutes", "active_allocations", "id")
        return super().get_ordering(request, queryset, view)


class StatsView(APIView):
    """One document, not a collection: a plain view on the same guard."""

    permission_classes = [permissions.IsAdminRole]

    @extend_schema(
        tags=["admin"],
        summary="`{students, parents, tutors, upcomingSessions}` plus the staff's KPIs.",
        responses={200: StatsSerializer, 401: R401, 403: R403},
    )
    def get(self, request: Request) -> Response:
        reject_unknown_query_params(self, request)
        return Response(selectors.dashboard_stats())


@extend_schema_view(
    list=extend_schema(
        tags=["admin"],
        summary="Every student with `parent: {email}`, newest first; `?q=` searches names and emails.",
        responses={200: AdminStudentSerializer(many=True), 400: R400, 401: R401, 403: R403},
    )
)
class AdminStudentViewSet(mixins.ListModelMixin, StaffViewSet):
    serializer_class = AdminStudentSerializer
    filterset_class = SearchFilter
    pagination_class = NewestFirst

    def get_queryset(self):
        return selectors.admin_students(q=self.request.query_params.get("q"))


@extend_schema_view(
    list=extend_schema(
        tags=["admin"],
        summary="Every tutor with the names of the subjects they teach; `?q=` searches names, emails, subjects.",
        description=(
            "`?subject=<id>`: only the active tutors who teach it, best fit first (most free hours a week, then "
            "fewest active allocations), each with `free_weekly_hours` and `active_allocations`; "
            "`&available_for=<student id>` leaves out that student's current tutor of the subject."
        ),
        responses={200: AdminTutorSerializer(many=True), 400: R400, 401: R401, 403: R403},
    )
)
class AdminTutorViewSet(mixins.ListModelMixin, StaffViewSet):
    serializer_class = AdminTutorSerializer
    filterset_class = TutorFilter
    pagination_class = TutorPagination

    def get_queryset(self):
        params = TutorFilter(self.request.query_params, queryset=User.objects.none())
        # An invalid query string is refused by the filter backend (400 naming the parameter).
        data = params.form.cleaned_data if params.is_valid() else {}
        return selectors.admin_tutors(
            q=self.request.query_params.get("q"), subject=data.get("subject"), student=data.get("available_for")
        )


@extend_schema_view(
    list=extend_schema(
        tags=["admin"],
        summary="Allocations, newest first, filtered by status, student, tutor or subject.",
        responses={200: AllocationSerializer(many=True), 400: R400, 401: R401, 403: R403},
    ),
    create=extend_schema(
        tags=["admin"],
        summary="Allocate a tutor: the tutor must teach the subject; one active tutor per student and subject.",
        description="409 when the student already has one. The tutor is notified in the app, live and by email.",
        request=AllocationCreateSerializer,
        responses={201: AllocationResultSerializer, 400: R400, 401: R401, 403: R403, 409: R409},
    ),
)
class AllocationViewSet(mixins.ListModelMixin, StaffViewSet):
    serializer_class = AllocationSerializer
    filterset_class = AllocationFilter
    pagination_class = NewestFirst
    lookup_url_kwarg = "allocation_id"
    object_label = "Allocation"

    def get_queryset(self):
        if self.action == "list":
            return selectors.admin_allocations()
        return Allocation.objects.select_related("student", "tutor", "subject")

    def create(self, request: Request) -> Response:
        body = AllocationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        allocation = services.allocation_create(
            created_by=request.user, student=d["studentId"], tutor=d["tutorId"], subject=d["subjectId"]
        )
        result = {"success": True, "message": "Tutor assigned", "allocation": AllocationSerializer(allocation).data}
        return Response(result, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["admin"],
        summary="End an active allocation (409 if it has already ended). The tutor is notified.",
        request=None,
        responses={200: AllocationResultSerializer, 401: R401, 403: R403, 404: R404, 409: R409},
    )
    @action(detail=True, methods=["post"])
    def end(self, request: Request, allocation_id: str) -> Response:
        allocation = services.allocation_end(allocation=self.get_object(), ended_by=request.user)
        result = {"success": True, "message": "Allocation ended", "allocation": AllocationSerializer(allocation).data}
        return Response(result)
