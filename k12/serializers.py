"""Shapes of the core resources. Field names follow the contract (and the guide before it):
snake_case on output, the guide's camelCase on the session and allocation request bodies."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

from k12.models import Booking, BookingStatus, Student, Subject, User
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


class RecordingConsentSerializer(serializers.Serializer):
    granted = serializers.BooleanField(
        help_text="true grants consent to record the child's sessions; false withdraws it."
    )


class StudentCreateSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=100, trim_whitespace=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    grade = serializers.IntegerField(min_value=0, max_value=12, help_text="0 is kindergarten.")
    parentId = uuid_ref(
        User.objects.all(),
        required=False,
        help_text="Admins only: the parent to add the child to. Parents add to themselves.",
    )


class StudentBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Student
        fields = ["id", "first_name", "last_name", "grade"]


class BookingSerializer(serializers.ModelSerializer):
    student = StudentBriefSerializer(read_only=True)
    tutor = PersonSerializer(read_only=True)
    subject = SubjectSerializer(read_only=True)
    parent_id = serializers.UUIDField(source="student.parent_id", read_only=True)
    cancelled_by = serializers.UUIDField(source="cancelled_by_id", read_only=True, allow_null=True)
    unread = serializers.SerializerMethodField(help_text="Chat messages from others after your read cursor (lists).")

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_unread(self, booking) -> int | None:
        return getattr(booking, "unread", None)

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
        ]


class BookingCreateSerializer(serializers.Serializer):
    studentId = uuid_ref(Student.objects.all())
    tutorId = uuid_ref(User.objects.all())
    subjectId = uuid_ref(Subject.objects.all())
    startsAt = serializers.DateTimeField()
    durationMinutes = serializers.IntegerField(min_value=MIN_DURATION_MINUTES, max_value=MAX_DURATION_MINUTES)


class BookingCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class StrictDateTimeField(serializers.DateTimeField):
    """DRF reads an empty string as "no value" (HTML forms); in a query string `?to=` is a
    malformed date-time and gets a 400 like any other."""

    def get_value(self, dictionary):
        if dictionary.get(self.field_name) == "":
            return ""  # DRF would turn this into "absent" for form-like input
        return super().get_value(dictionary)

    def to_internal_value(self, value):
        if value == "":
            self.fail("invalid", format="ISO 8601")
        return super().to_internal_value(value)


class BookingFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=BookingStatus.choices, required=False)
    # `from` is a Python keyword: the field is renamed in __init__.
    from_ = StrictDateTimeField(required=False)
    to = StrictDateTimeField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = self.fields.pop("from_")
