"""REST views of the core domain: auth, me, subjects, students, sessions. Thin: parse, call a
service or selector, render."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, generics, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from k12 import permissions, selectors, services, throttling
from k12.models import Role, Subject, User
from k12.pagination import LinkHeaderCursorPagination
from k12.serializers import (
    BookingCancelSerializer,
    BookingCreateSerializer,
    BookingFilterSerializer,
    BookingSerializer,
    EmailTokenObtainSerializer,
    MeSerializer,
    RecordingConsentSerializer,
    RefreshSerializer,
    StudentCreateSerializer,
    StudentSerializer,
    SubjectSerializer,
    TokenPairSerializer,
)

logger = logging.getLogger(__name__)

DETAIL = inline_serializer("Detail", {"detail": serializers.CharField()})
R400 = OpenApiResponse(description="Invalid input: `{field: [messages]}`.")
R401 = OpenApiResponse(DETAIL, description="Not authenticated.")
R403 = OpenApiResponse(DETAIL, description="Authenticated, but not allowed.")
R404 = OpenApiResponse(DETAIL, description="No such object.")
R409 = OpenApiResponse(DETAIL, description="Conflicts with the current state.")
R429 = OpenApiResponse(DETAIL, description="Too many requests; see the Retry-After header.")
PAGE_PARAMS = [
    OpenApiParameter("limit", int, description="Page size, 1 to 200 (default 100)."),
    OpenApiParameter("cursor", str, description="Opaque cursor from a Link header."),
]


def json_object(request: Request) -> dict:
    """The request body, which must be a JSON object (an array, a string or null is a 400)."""
    if not isinstance(request.data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["Expected a JSON object."]})
    return request.data


def exception_handler(exc, context):
    """DRF's handler, plus Django's ValidationError as a 400 (never a 500 for bad input)."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})
    return drf_exception_handler(exc, context)


# --- Auth -------------------------------------------------------------------------------------


@extend_schema(tags=["auth"], responses={200: TokenPairSerializer, 400: R400, 401: R401, 429: R429})
class TokenView(TokenObtainPairView):
    """`{email, password}` → `{access, refresh}`."""

    serializer_class = EmailTokenObtainSerializer
    throttle_classes = [throttling.LoginIPThrottle, throttling.LoginAccountThrottle]


@extend_schema(tags=["auth"], responses={200: TokenPairSerializer, 400: R400, 401: R401, 429: R429})
class RefreshView(TokenRefreshView):
    """`{refresh}` → `{access, refresh}`: rotated, the old refresh token is blacklisted."""

    throttle_classes = [throttling.RefreshIPThrottle, throttling.RefreshAccountThrottle]


class LogoutView(APIView):
    """`{refresh}` → 205: the refresh token is blacklisted and stops working."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'  # a bad refresh token is a 401, as on /auth/token/refresh

    @extend_schema(
        tags=["auth"],
        request=RefreshSerializer,
        responses={205: OpenApiResponse(description="Logged out."), 400: R400, 401: R401},
    )
    def post(self, request: Request) -> Response:
        body = RefreshSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            RefreshToken(body.validated_data["refresh"]).blacklist()
        except TokenError as exc:
            raise exceptions.AuthenticationFailed(str(exc), code="token_not_valid") from exc
        return Response(status=status.HTTP_205_RESET_CONTENT)


class MeView(APIView):
    @extend_schema(tags=["auth"], responses={200: MeSerializer, 401: R401})
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)


# --- Subjects and students --------------------------------------------------------------------


@extend_schema(tags=["people"], responses={200: SubjectSerializer(many=True), 401: R401})
class SubjectListView(generics.ListAPIView):
    serializer_class = SubjectSerializer
    queryset = Subject.objects.order_by("name")
    pagination_class = None


class StudentListView(APIView):
    @extend_schema(
        tags=["people"],
        parameters=PAGE_PARAMS,
        responses={200: StudentSerializer(many=True), 400: R400, 401: R401},
    )
    def get(self, request: Request) -> Response:
        """The caller's students: a parent's children, a tutor's allocated students, all for an admin."""
        paginator = LinkHeaderCursorPagination()
        page = paginator.paginate_queryset(selectors.students_visible_to(request.user), request, self)
        return paginator.get_paginated_response(StudentSerializer(page, many=True).data)

    @extend_schema(
        tags=["people"],
        request=StudentCreateSerializer,
        responses={201: StudentSerializer, 400: R400, 401: R401, 403: R403},
    )
    def post(self, request: Request) -> Response:
        """A parent adds their own child; an admin adds a child to the parent named by `parentId`."""
        body = StudentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        parent: User | None = data.get("parentId")
        if parent is None:
            if request.user.role != Role.PARENT:
                raise exceptions.ValidationError({"parentId": ["This field is required."]})
            parent = request.user
        student = services.student_create(
            created_by=request.user,
            parent=parent,
            first_name=data["first_name"],
            last_name=data["last_name"],
            grade=data["grade"],
        )
        return Response(StudentSerializer(student).data, status=status.HTTP_201_CREATED)


# --- Sessions ---------------------------------------------------------------------------------


class SessionPagination(LinkHeaderCursorPagination):
    ordering = ("starts_at", "id")


class SessionListView(APIView):
    @extend_schema(
        tags=["sessions"],
        parameters=[
            OpenApiParameter("status", str, enum=["scheduled", "completed", "cancelled"]),
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="Starts at or after (ISO 8601)."),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="Starts before (ISO 8601)."),
            *PAGE_PARAMS,
        ],
        responses={200: BookingSerializer(many=True), 400: R400, 401: R401},
    )
    def get(self, request: Request) -> Response:
        """Sessions the caller takes part in (admin: all), soonest first."""
        filters = BookingFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        qs = selectors.sessions_visible_to(
            request.user, status=f.get("status"), starts_from=f.get("from"), starts_to=f.get("to")
        )
        from sessions_app.selectors import sessions_with_unread

        paginator = SessionPagination()
        page = paginator.paginate_queryset(sessions_with_unread(qs, request.user), request, self)
        return paginator.get_paginated_response(BookingSerializer(page, many=True).data)

    @extend_schema(
        tags=["sessions"],
        request=BookingCreateSerializer,
        responses={201: BookingSerializer, 400: R400, 401: R401, 403: R403, 409: R409},
    )
    def post(self, request: Request) -> Response:
        """Book a session (the student's parent, or an admin)."""
        body = BookingCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        booking = services.booking_create(
            created_by=request.user,
            student=d["studentId"],
            tutor=d["tutorId"],
            subject=d["subjectId"],
            starts_at=d["startsAt"],
            duration_minutes=d["durationMinutes"],
        )
        return Response(BookingSerializer(booking).data, status=status.HTTP_201_CREATED)


class SessionDetailView(APIView):
    @extend_schema(tags=["sessions"], responses={200: BookingSerializer, 401: R401, 403: R403, 404: R404})
    def get(self, request: Request, session_id: str) -> Response:
        booking = permissions.access_booking(request.user, session_id, "view")
        return Response(BookingSerializer(booking).data)


class SessionCancelView(APIView):
    @extend_schema(
        tags=["sessions"],
        request=BookingCancelSerializer,
        responses={200: BookingSerializer, 400: R400, 401: R401, 403: R403, 404: R404, 409: R409},
    )
    def post(self, request: Request, session_id: str) -> Response:
        """Cancel a scheduled session (its parent or tutor, or an admin)."""
        booking = permissions.access_booking(request.user, session_id, "cancel")
        body = BookingCancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        booking = services.booking_cancel(
            booking=booking, cancelled_by=request.user, reason=body.validated_data["reason"]
        )
        return Response(BookingSerializer(booking).data)


class StudentRecordingConsentView(APIView):
    @extend_schema(
        tags=["people"],
        request=RecordingConsentSerializer,
        responses={200: StudentSerializer, 400: R400, 401: R401, 403: R403, 404: R404},
    )
    def post(self, request: Request, student_id: str) -> Response:
        """The parent grants (`true`) or withdraws (`false`) consent to record their child's
        sessions. Without consent, uploads are refused and recordings are hidden from all but staff."""
        student = permissions.access_student(request.user, student_id)
        body = RecordingConsentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        student = services.recording_consent_set(
            student=student, changed_by=request.user, granted=body.validated_data["granted"], request=request
        )
        return Response(StudentSerializer(student).data)
