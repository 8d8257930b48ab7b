"""Shapes of /api/admin/*: the guide's field names (snake_case out, camelCase request bodies)."""

from __future__ import annotations

import django_filters
from rest_framework import serializers

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

    class Meta:
        model = User
        fields = ["id", "first_name", "last_name", "email", "is_active", "subjects"]

    def get_subjects(self, tutor: User) -> list[str]:
        # .all() reads the selector's prefetch: no query per tutor.
        return [subject.name for subject in tutor.subjects.all()]


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
    """The guide's ``{studentId, tutorId, subjectId}``; the API's snake_case names
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
    """The guide's answer to an allocation, with the allocation itself."""

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


class AllocationFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=AllocationStatus.choices)
    student_id = django_filters.UUIDFilter()
    tutor_id = django_filters.UUIDFilter()
    subject_id = django_filters.UUIDFilter()
