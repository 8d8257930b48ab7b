"""Shapes of the core resources. Names are snake_case in requests and responses; camelCase
stays only where clients already send or read it (the allocation request, the /api/admin/stats
keys: admin_app/serializers.py)."""

from __future__ import annotations

import django_filters
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

from k12 import permissions
from k12.filters import StrictFilterSet, UtcDateTimeFilter
from k12.models import Booking, BookingStatus, Student, Subject, TutorAvailability, User
from k12.services import MAX_DURATION_MINUTES, MIN_DURATION_MINUTES


def uuid_ref(queryset, **kwargs) -> serializers.PrimaryKeyRelatedField:
    """A reference by id: a malformed UUID or an unknown id is a 400 field error."""
    return serializers.PrimaryKeyRelatedField(queryset=queryset, pk_field=serializers.UUIDField(), **kwargs)


class EmailTokenObtainSerializer(TokenObtainPairSerializer):
    """``{email, password}`` → ``{access, refresh}``; the email is matched case-insensitively."""

    def validate(self, attrs):
        attrs[self.username_field] = get_user_model().objects.normalize_email(attrs[self.username_field]).lower()
        return super().validate(attrs)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()


# Documents k12.formats.me_payload, which renders it. A comment, not a docstring: the schema would
# publish a docstring as the component's description.
class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "role"]


class PersonSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "first_name", "last_name"]


class SubjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Subject
        fields = ["id", "name"]


class StudentSerializer(serializers.ModelSerializer):
    parent_id = serializers.UUIDField(read_only=True)
    user_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = Student
        fields = [
            "id",
            "first_name",
            "last_name",
            "grade",
            "parent_id",
            "user_id",
            "recording_consent",
            "created_at",
        ]
        read_only_fields = ["recording_consent"]


@extend_schema_field({"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]:[0-5][0-9]$", "example": "08:00:00"})
class LocalTimeField(serializers.TimeField):
    """A wall-clock time in the window's own ``timezone``, without an offset (OpenAPI's "time"
    format requires one)."""


class AvailabilityWindowSerializer(serializers.ModelSerializer):
    start_time = LocalTimeField(read_only=True)
    end_time = LocalTimeField(read_only=True)

    class Meta:
        model = TutorAvailability
        fields = ["weekday", "start_time", "end_time", "timezone"]


class StudentTutorSerializer(serializers.Serializer):
    """One of a student's active allocations: whom a session for that subject can be booked with,
    and when (weekly windows, ``weekday`` 0 = Monday, times in ``timezone``)."""

    allocation_id = serializers.UUIDField(source="id")
    subject = SubjectSerializer()
    tutor = PersonSerializer()
    availability = AvailabilityWindowSerializer(source="tutor.availability", many=True)


class RecordingConsentSerializer(serializers.Serializer):
    granted = serializers.BooleanField(
        help_text="true grants consent to record the child's sessions; false withdraws it."
    )


class StudentCreateSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=100, trim_whitespace=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    grade = serializers.IntegerField(min_value=0, max_value=12, help_text="0 is kindergarten.")
    parent_id = uuid_ref(
        User.objects.all(),
        required=False,
        help_text="Admins only: the parent to add the child to. Parents add to themselves.",
    )


class StudentBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Student
        fields = ["id", "first_name", "last_name", "grade"]


class CapabilitiesSerializer(serializers.Serializer):
    """What the caller may do with the session now (``k12.permissions.booking_capabilities``)."""

    send_message = serializers.BooleanField()
    upload_recording = serializers.BooleanField(help_text="The session's tutor or staff, with recording consent.")
    cancel = serializers.BooleanField(help_text="The session's parent or tutor or staff, while it is scheduled.")
    report = serializers.BooleanField(help_text="Report one of its messages: its participants.")
    moderate = serializers.BooleanField(help_text="Hide or restore its messages: staff.")


class BookingSerializer(serializers.ModelSerializer):
    student = StudentBriefSerializer(read_only=True)
    tutor = PersonSerializer(read_only=True)
    subject = SubjectSerializer(read_only=True)
    parent_id = serializers.UUIDField(source="student.parent_id", read_only=True)
    cancelled_by = serializers.UUIDField(source="cancelled_by_id", read_only=True, allow_null=True)
    unread = serializers.SerializerMethodField(help_text="Chat messages from others after your read cursor.")

    can = serializers.SerializerMethodField(help_text="What the caller may do with this session now.")

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_unread(self, booking) -> int | None:
        return getattr(booking, "unread", None)

    @extend_schema_field(CapabilitiesSerializer)
    def get_can(self, booking) -> dict[str, bool]:
        request = self.context.get("request")
        return permissions.booking_capabilities(getattr(request, "user", None), booking)

    class Meta:
        model = Booking
        fields = [
            "id",
            "student",
            "tutor",
            "subject",
            "parent_id",
            "starts_at",
            "ends_at",
            "duration_minutes",
            "status",
            "cancelled_by",
            "cancelled_at",
            "created_at",
            "unread",
            "can",
        ]


class BookingCreateSerializer(serializers.Serializer):
    student_id = uuid_ref(Student.objects.all())
    tutor_id = uuid_ref(User.objects.all())
    subject_id = uuid_ref(Subject.objects.all())
    starts_at = serializers.DateTimeField()
    duration_minutes = serializers.IntegerField(min_value=MIN_DURATION_MINUTES, max_value=MAX_DURATION_MINUTES)


class BookingRescheduleSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    duration_minutes = serializers.IntegerField(
        min_value=MIN_DURATION_MINUTES,
        max_value=MAX_DURATION_MINUTES,
        required=False,
        help_text="Unchanged if left out.",
    )


class BookingCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class BookingFilter(StrictFilterSet):
    """``status``, ``from`` (starts at or after) and ``to`` (starts before), ISO 8601."""

    status = django_filters.ChoiceFilter(choices=BookingStatus.choices)
    to = UtcDateTimeFilter(field_name="starts_at", lookup_expr="lt", label="Starts before (ISO 8601).")


# `from` is a Python keyword: declared after the class.
BookingFilter.base_filters["from"] = UtcDateTimeFilter(
    field_name="starts_at", lookup_expr="gte", label="Starts at or after (ISO 8601)."
)


class NotificationOut(serializers.Serializer):
    """Documentation of ``k12.notifications.notification_payload``'s shape (that function renders it)."""

    id = serializers.UUIDField()
    kind = serializers.CharField(
        help_text="allocation_created, allocation_ended, booking_created, booking_moved, booking_cancelled, "
        "message_hidden"
    )
    title = serializers.CharField()
    body = serializers.CharField()
    data = serializers.DictField(help_text="Ids of what it is about, e.g. `sessionId` or `allocationId`.")
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)
