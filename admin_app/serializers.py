"""Shapes of /api/admin/*: the guide's field names (snake_case out, camelCase request bodies)."""

from __future__ import annotations

from rest_framework import serializers

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
    studentId = uuid_ref(Student.objects.all())
    tutorId = uuid_ref(User.objects.all())
    subjectId = uuid_ref(Subject.objects.all())


class AllocationResultSerializer(serializers.Serializer):
    """The guide's answer to an allocation, with the allocation itself."""

    success = serializers.BooleanField()
    message = serializers.CharField()
    allocation = AllocationSerializer()


class SearchSerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="Words that must all match (case-insensitive)."
    )


class AllocationFilterSerializer(serializers.Serializer):
    """Query-string filters. DRF reads `?status=` as "not given" (HTML form semantics); in a
    query string an empty filter is malformed, so it is a 400 like any other bad value."""

    status = serializers.ChoiceField(choices=AllocationStatus.choices, required=False)
    studentId = serializers.UUIDField(required=False)
    tutorId = serializers.UUIDField(required=False)
    subjectId = serializers.UUIDField(required=False)

    def to_internal_value(self, data):
        blank = {name: ["May not be blank."] for name in self.fields if data.get(name, None) == ""}
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)
