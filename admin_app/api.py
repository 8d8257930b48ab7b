"""/api/admin/*: the staff's API (guide §7, holes closed). Admin-only: anonymous 401, any other
role 403 (``IsAdminRole``, from the one access rule). Thin: parse, call a selector or a
service, render."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from admin_app import selectors
from admin_app.serializers import (
    AdminStudentSerializer,
    AdminTutorSerializer,
    AllocationCreateSerializer,
    AllocationFilterSerializer,
    AllocationResultSerializer,
    AllocationSerializer,
    SearchSerializer,
    StatsSerializer,
)
from k12 import permissions, services
from k12.api import PAGE_PARAMS, R400, R401, R403, R404, R409
from k12.pagination import LinkHeaderCursorPagination

SEARCH = OpenApiParameter("q", str, description="Search words; each must match (case-insensitive).")


class StaffView(APIView):
    permission_classes = [permissions.IsAdminRole]


class StaffPagination(LinkHeaderCursorPagination):
    def get_page_size(self, request):
        # `?limit=` with no value is malformed input (a 400), not a request for the default.
        if request.query_params.get(self.page_size_query_param) == "":
            raise ValidationError({"limit": ["A whole number is required."]})
        return super().get_page_size(request)


class StudentPagination(StaffPagination):
    ordering = ("-created_at", "id")


class TutorPagination(StaffPagination):
    ordering = ("-date_joined", "id")


class AllocationPagination(StaffPagination):
    ordering = ("-created_at", "id")


def _search_term(request: Request) -> str:
    params = SearchSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data.get("q", "")


class StatsView(StaffView):
    @extend_schema(tags=["admin"], responses={200: StatsSerializer, 401: R401, 403: R403})
    def get(self, request: Request) -> Response:
        """The guide's `{students, parents, tutors, upcomingSessions}` plus the staff's KPIs."""
        return Response(selectors.dashboard_stats())


class StudentListView(StaffView):
    @extend_schema(
        tags=["admin"],
        parameters=[SEARCH, *PAGE_PARAMS],
        responses={200: AdminStudentSerializer(many=True), 400: R400, 401: R401, 403: R403},
    )
    def get(self, request: Request) -> Response:
        """Every student with `parent: {email}`, newest first; `?q=` searches names and emails."""
        paginator = StudentPagination()
        page = paginator.paginate_queryset(selectors.admin_students(q=_search_term(request)), request, self)
        return paginator.get_paginated_response(AdminStudentSerializer(page, many=True).data)


class TutorListView(StaffView):
    @extend_schema(
        tags=["admin"],
        parameters=[SEARCH, *PAGE_PARAMS],
        responses={200: AdminTutorSerializer(many=True), 400: R400, 401: R401, 403: R403},
    )
    def get(self, request: Request) -> Response:
        """Every tutor with the names of the subjects they teach; `?q=` searches names, emails, subjects."""
        paginator = TutorPagination()
        page = paginator.paginate_queryset(selectors.admin_tutors(q=_search_term(request)), request, self)
        return paginator.get_paginated_response(AdminTutorSerializer(page, many=True).data)


class AllocationListView(StaffView):
    @extend_schema(
        tags=["admin"],
        parameters=[
            OpenApiParameter("status", str, enum=["active", "ended"]),
            OpenApiParameter("studentId", str),
            OpenApiParameter("tutorId", str),
            OpenApiParameter("subjectId", str),
            *PAGE_PARAMS,
        ],
        responses={200: AllocationSerializer(many=True), 400: R400, 401: R401, 403: R403},
    )
    def get(self, request: Request) -> Response:
        """Allocations, newest first, filtered by status, student, tutor or subject."""
        filters = AllocationFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        qs = selectors.admin_allocations(
            status=f.get("status"),
            student_id=f.get("studentId"),
            tutor_id=f.get("tutorId"),
            subject_id=f.get("subjectId"),
        )
        paginator = AllocationPagination()
        page = paginator.paginate_queryset(qs, request, self)
        return paginator.get_paginated_response(AllocationSerializer(page, many=True).data)

    @extend_schema(
        tags=["admin"],
        request=AllocationCreateSerializer,
        responses={201: AllocationResultSerializer, 400: R400, 401: R401, 403: R403, 409: R409},
    )
    def post(self, request: Request) -> Response:
        """Allocate a tutor: the tutor must teach the subject; one active tutor per student and
        subject (409). The tutor is notified in the app, live and by email."""
        body = AllocationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        allocation = services.allocation_create(
            created_by=request.user, student=d["studentId"], tutor=d["tutorId"], subject=d["subjectId"]
        )
        result = {"success": True, "message": "Tutor assigned", "allocation": AllocationSerializer(allocation).data}
        return Response(result, status=status.HTTP_201_CREATED)


class AllocationEndView(StaffView):
    @extend_schema(
        tags=["admin"],
        request=None,
        responses={200: AllocationResultSerializer, 401: R401, 403: R403, 404: R404, 409: R409},
    )
    def post(self, request: Request, allocation_id: str) -> Response:
        """End an active allocation (409 if it has already ended). The tutor is notified."""
        allocation = permissions.access_allocation(request.user, allocation_id)
        allocation = services.allocation_end(allocation=allocation, ended_by=request.user)
        result = {"success": True, "message": "Allocation ended", "allocation": AllocationSerializer(allocation).data}
        return Response(result)
