"""The API's viewsets for the core domain (sessions, students, subjects, notifications), and the
base every API viewset builds on. Thin: parse, call one service or selector, render.

``ApiViewSet`` gives each viewset the house rules: strict query strings (``k12.filters``:
unknown or invalid parameters are a 400 naming them), Link-header pagination with array bodies
(``k12.pagination``), and ``get_object`` that fetches by id unscoped (404 when it does not
exist, malformed ids included) and then asks the view's permission classes, which call
``k12.permissions`` (403 when it exists and the caller may not).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from k12 import notifications, permissions, selectors, services
from k12.authentication import Viewer, load_viewer
from k12.filters import EmptyFilterSet, StrictFilterBackend, reject_unknown_query_params
from k12.models import Booking, Notification, Student, Subject
from k12.pagination import LinkHeaderCursorPagination
from k12.schema import R400, R401, R403, R404, R409
from k12.serializers import (
    BookingCancelSerializer,
    BookingCreateSerializer,
    BookingFilter,
    BookingRescheduleSerializer,
    BookingSerializer,
    NotificationOut,
    RecordingConsentSerializer,
    StudentCreateSerializer,
    StudentSerializer,
    StudentTutorSerializer,
    SubjectSerializer,
)


class ApiViewSet(GenericViewSet):
    filter_backends = [StrictFilterBackend]
    filterset_class = EmptyFilterSet
    pagination_class = LinkHeaderCursorPagination
    # Query parameters an action accepts besides its filters and paging: {action: (names)}.
    extra_query_params: dict[str, tuple[str, ...]] = {}
    object_label = "Object"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication (401) first, then the query
        reject_unknown_query_params(self, request)  # (a method the view does not route: its 405)

    def check_permissions(self, request):
        super().check_permissions(request)  # 401 for the anonymous, the views' own guards
        self.load_objects(request)
        # Read by now: the view, the throttle and the services use the user itself from here on,
        # not through the lazy proxy's attribute lookups.
        if isinstance(request.user, Viewer):
            request.user = request.user.resolved()

    def load_objects(self, request) -> None:
        """After authentication: read what the request is about. Here, the token's user alone
        (401 if it is gone or inactive); a view about one session reads the user with it."""
        load_viewer(request.user)

    def get_object(self):
        object_id = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        obj = permissions.get_or_404(self.get_queryset(), object_id, self.object_label)
        self.check_object_permissions(self.request, obj)
        return obj


# --- Sessions ---------------------------------------------------------------------------------


class SessionPagination(LinkHeaderCursorPagination):
    ordering = ("starts_at", "id")


@extend_schema_view(
    list=extend_schema(
        tags=["sessions"],
        summary="Sessions the caller takes part in (admin: all), soonest first.",
        responses={200: BookingSerializer(many=True), 400: R400, 401: R401},
    ),
    create=extend_schema(
        tags=["sessions"],
        summary="Book a session (the student's parent, or an admin).",
        request=BookingCreateSerializer,
        responses={201: BookingSerializer, 400: R400, 401: R401, 403: R403, 409: R409},
    ),
    retrieve=extend_schema(tags=["sessions"], responses={200: BookingSerializer, 401: R401, 403: R403, 404: R404}),
)
class SessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = BookingSerializer
    permission_classes = [permissions.BookingAccess]
    booking_actions = {"retrieve": "view", "cancel": "cancel", "reschedule": "reschedule"}
    filterset_class = BookingFilter
    pagination_class = SessionPagination
    object_label = "Session"
    lookup_url_kwarg = "session_id"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Booking.objects.none()
        if self.action == "list":
            return selectors.sessions_annotated(selectors.sessions_visible_to(self.request.user), self.request.user)
        qs = Booking.objects.select_related("student", "tutor", "subject")
        # the room opens at the first unread message: the detail carries the count too
        return selectors.sessions_annotated(qs, self.request.user) if self.action == "retrieve" else qs

    def create(self, request: Request) -> Response:
        body = BookingCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        booking = services.booking_create(
            created_by=request.user,
            student=d["student_id"],
            tutor=d["tutor_id"],
            subject=d["subject_id"],
            starts_at=d["starts_at"],
            duration_minutes=d["duration_minutes"],
        )
        booking.unread = 0  # a session just booked has no messages yet
        return Response(self.get_serializer(booking).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["sessions"],
        summary="Cancel a scheduled session (its parent or tutor, or an admin).",
        request=BookingCancelSerializer,
        responses={200: BookingSerializer, 400: R400, 401: R401, 403: R403, 404: R404, 409: R409},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, session_id: str) -> Response:
        booking = self.get_object()
        body = BookingCancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        booking = services.booking_cancel(
            booking=booking, cancelled_by=request.user, reason=body.validated_data["reason"]
        )
        return Response(self.get_serializer(booking).data)

    @extend_schema(
        tags=["sessions"],
        summary="Move a scheduled session to another time (the student's parent, or an admin).",
        request=BookingRescheduleSerializer,
        responses={200: BookingSerializer, 400: R400, 401: R401, 403: R403, 404: R404, 409: R409},
    )
    @action(detail=True, methods=["post"])
    def reschedule(self, request: Request, session_id: str) -> Response:
        booking = self.get_object()
        body = BookingRescheduleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        booking = services.booking_reschedule(
            booking=booking,
            changed_by=request.user,
            starts_at=body.validated_data["starts_at"],
            duration_minutes=body.validated_data.get("duration_minutes"),
        )
        return Response(self.get_serializer(booking).data)


# --- Subjects and students --------------------------------------------------------------------


@extend_schema_view(list=extend_schema(tags=["people"], responses={200: SubjectSerializer(many=True), 401: R401}))
class SubjectViewSet(mixins.ListModelMixin, ApiViewSet):
    serializer_class = SubjectSerializer
    queryset = Subject.objects.order_by("name")
    pagination_class = None


class StudentPagination(LinkHeaderCursorPagination):
    ordering = ("-created_at", "id")


@extend_schema_view(
    list=extend_schema(
        tags=["people"],
        summary="The caller's students: a parent's children, a tutor's allocated students, all for an admin.",
        responses={200: StudentSerializer(many=True), 400: R400, 401: R401},
    ),
    create=extend_schema(
        tags=["people"],
        summary="A parent adds their own child; an admin adds a child to the parent named by `parent_id`.",
        request=StudentCreateSerializer,
        responses={201: StudentSerializer, 400: R400, 401: R401, 403: R403},
    ),
)
class StudentViewSet(mixins.ListModelMixin, ApiViewSet):
    serializer_class = StudentSerializer
    permission_classes = [permissions.StudentAccess]
    student_actions = {"recording_consent": "view", "tutors": "view"}
    pagination_class = StudentPagination
    object_label = "Student"
    lookup_url_kwarg = "student_id"

    def get_queryset(self):
        if self.action == "list":
            return permissions.students_visible_to(self.request.user)
        return Student.objects.all()

    def create(self, request: Request) -> Response:
        body = StudentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        parent = data.get("parent_id")
        if parent is None:
            if not permissions.adds_own_children(request.user):
                raise ValidationError({"parent_id": ["This field is required."]})
            parent = request.user
        student = services.student_create(
            created_by=request.user,
            parent=parent,
            first_name=data["first_name"],
            last_name=data["last_name"],
            grade=data["grade"],
        )
        return Response(StudentSerializer(student).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["people"],
        summary="The parent grants (`true`) or withdraws (`false`) consent to record their child's sessions.",
        description="Without consent, uploads are refused and recordings are hidden from all but staff.",
        request=RecordingConsentSerializer,
        responses={200: StudentSerializer, 400: R400, 401: R401, 403: R403, 404: R404},
    )
    @action(detail=True, methods=["post"], url_path="recording-consent")
    def recording_consent(self, request: Request, student_id: str) -> Response:
        student = self.get_object()
        body = RecordingConsentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        student = services.recording_consent_set(
            student=student, changed_by=request.user, granted=body.validated_data["granted"], request=request
        )
        return Response(StudentSerializer(student).data)

    @extend_schema(
        tags=["people"],
        summary="The student's tutors: each active allocation's subject and tutor, with their weekly availability.",
        description="What a parent books a session from (`POST /api/sessions`).",
        request=None,
        responses={200: StudentTutorSerializer(many=True), 401: R401, 403: R403, 404: R404},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def tutors(self, request: Request, student_id: str) -> Response:
        student = self.get_object()
        return Response(StudentTutorSerializer(selectors.student_tutors(student), many=True).data)


# --- Notifications ----------------------------------------------------------------------------


class NotificationPagination(LinkHeaderCursorPagination):
    ordering = ("-created_at", "-id")


@extend_schema_view(
    list=extend_schema(
        tags=["notifications"],
        summary="The caller's notifications, newest first; `Link` announces the neighbouring pages.",
        responses={200: NotificationOut(many=True), 400: R400, 401: R401},
    )
)
class NotificationViewSet(mixins.ListModelMixin, ApiViewSet):
    """The body of each item is exactly what the WebSocket push carries (``notification_payload``),
    so a client renders a pushed notification and a listed one the same way."""

    serializer_class = NotificationOut
    permission_classes = [permissions.NotificationAccess]
    notification_actions = {"read": "read"}
    pagination_class = NotificationPagination
    object_label = "Notification"
    lookup_url_kwarg = "notification_id"

    def get_queryset(self):
        if self.action == "list":
            return permissions.notifications_visible_to(self.request.user)
        return Notification.objects.all()

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([notifications.notification_payload(n) for n in page])

    @extend_schema(
        tags=["notifications"],
        summary="Mark one of your notifications as read. Repeating it keeps the first read time.",
        request=None,
        responses={200: NotificationOut, 401: R401, 403: R403, 404: R404},
    )
    @action(detail=True, methods=["post"])
    def read(self, request: Request, notification_id: str) -> Response:
        notification = notifications.notification_mark_read(notification=self.get_object())
        return Response(notifications.notification_payload(notification))


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
