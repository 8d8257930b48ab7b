"""Shapes of /api/admin/*: snake_case out; camelCase in the request bodies and stats keys staff
clients already send and read."""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from admin_app import selectors
from k12.filters import StrictFilterSet
from k12.models import Allocation, AllocationStatus, Student, Subject, User
from k12.serializers import PersonSerializer, StudentBriefSerializer, SubjectSerializer, uuid_ref


class StatsSerializer(serializers.Serializer):
    """Documents ``admin_app.selectors.dashboard_stats`` (which renders it)."""

    students = serializers.IntegerField()
    parents = serializers.IntegerField()
    tutors = serializers.IntegerField()
    upcomingSessions = serializers.IntegerField(help_text="Scheduled sessions that have not started.")
    sessionsThisWeek = serializers.IntegerField(help_text="Not cancelled, starting Monday to Sunday (UTC).")
    activeAllocations = serializers.IntegerField()
    studentsWithoutTutor = serializers.IntegerField(help_text="Students with no active allocation.")
    recordingsStored = serializers.IntegerField()


class ParentEmailSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["email"]


class AdminStudentSerializer(serializers.ModelSerializer):
    parent_id = serializers.UUIDField(read_only=True)
    user_id = serializers.UUIDField(read_only=True, allow_null=True)
    parent = ParentEmailSerializer(read_only=True)

    class Meta:
        model = Student
        fields = ["id", "first_name", "last_name", "grade", "parent_id", "user_id", "created_at", "parent"]


class AdminTutorSerializer(serializers.ModelSerializer):
    subjects = serializers.SerializerMethodField()
    free_weekly_hours = serializers.SerializerMethodField(
        help_text="With `subject`: weekly availability less the sessions booked in the coming 7 days, in hours."
    )
    active_allocations = serializers.SerializerMethodField(
        help_text="With `subject`: how many students the tutor teaches now, in any subject."
    )

    class Meta:
        model = User
        fields = [
            "id",
            "first_name",
            "last_name",
            "email",
            "is_active",
            "subjects",
            "free_weekly_hours",
            "active_allocations",
        ]

    def get_subjects(self, tutor: User) -> list[str]:
        # .all() reads the selector's prefetch: no query per tutor.
        return [subject.name for subject in tutor.subjects.all()]

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_free_weekly_hours(self, tutor: User) -> float | None:
        return selectors.free_weekly_hours(tutor) if hasattr(tutor, "free_minutes") else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_active_allocations(self, tutor: User) -> int | None:
        return getattr(tutor, "active_allocations", None)


class AllocationSerializer(serializers.ModelSerializer):
    student = StudentBriefSerializer(read_only=True)
    tutor = PersonSerializer(read_only=True)
    subject = SubjectSerializer(read_only=True)
    created_by = serializers.UUIDField(source="created_by_id", read_only=True, allow_null=True)
    ended_by = serializers.UUIDField(source="ended_by_id", read_only=True, allow_null=True)

    class Meta:
        model = Allocation
        fields = ["id", "student", "tutor", "subject", "status", "created_by", "created_at", "ended_by", "ended_at"]


class AllocationCreateSerializer(serializers.Serializer):
    """``{studentId, tutorId, subjectId}``, as staff clients send it; the API's snake_case names
    (``student_id``, ...) are accepted too."""

    studentId = uuid_ref(Student.objects.all())
    tutorId = uuid_ref(User.objects.all())
    subjectId = uuid_ref(Subject.objects.all())

    SNAKE = {"student_id": "studentId", "tutor_id": "tutorId", "subject_id": "subjectId"}

    def to_internal_value(self, data):
        if isinstance(data, dict):
            data = {
                self.SNAKE.get(name, name): value for name, value in data.items() if self.SNAKE.get(name) not in data
            }
        return super().to_internal_value(data)


class AllocationResultSerializer(serializers.Serializer):
    """The answer to an allocation (``success``, ``message``), with the allocation itself."""

    success = serializers.BooleanField()
    message = serializers.CharField()
    allocation = AllocationSerializer()


class SearchFilter(StrictFilterSet):
    blank_allowed = ("q",)
    q = django_filters.CharFilter(
        method="search", max_length=100, label="Search words; each must match (case-insensitive)."
    )

    def search(self, queryset, name, value):
        return queryset  # the view's selector searches (admin_app.selectors)


@extend_schema_field(OpenApiTypes.UUID)
class IdOf(django_filters.ModelChoiceFilter):
    """An object named by its id in the query string (an unknown or malformed id is a 400)."""


class TutorFilter(SearchFilter):
    """``q``; ``subject``: only the active tutors who teach it, best fit first, with their load;
    ``available_for`` (with ``subject``): leave out that student's current tutor of it."""

    subject = IdOf(
        queryset=Subject.objects.all(), method="matched", label="Match tutors for this subject (best fit first)."
    )
    available_for = IdOf(
        queryset=Student.objects.all(), method="matched", label="With `subject`: the student being allocated."
    )

    def matched(self, queryset, name, value):
        return queryset  # the view's selector matches (admin_app.selectors.tutor_matches)

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if valid and self.form.cleaned_data.get("available_for") and not self.form.cleaned_data.get("subject"):
            self.form.add_error("available_for", "Give `subject` too: tutors are matched for a subject.")
            return False
        return valid


class AllocationFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=AllocationStatus.choices)
    student_id = django_filters.UUIDFilter()
    tutor_id = django_filters.UUIDFilter()
    subject_id = django_filters.UUIDFilter()
