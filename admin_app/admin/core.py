"""The desk's pages for the core models (people, subjects, students, allocations, sessions,
notifications). Adding and cancelling go through the same services as the API
(``ServiceCreateAdminMixin``), so staff get the same checks and notifications."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Exists, OuterRef, Prefetch
from django.http import JsonResponse
from django.urls import path, reverse

from admin_app import selectors
from admin_app.admin.base import ReadOnlyAdmin, ServiceCreateAdminMixin, refusal_text
from admin_app.admin.paginator import EstimatedCountPaginator
from admin_app.export import CsvExportMixin
from k12 import permissions, services
from k12.errors import Conflict, Forbidden, Invalid
from k12.models import (
    Allocation,
    AllocationStatus,
    Booking,
    BookingStatus,
    Notification,
    Role,
    Student,
    Subject,
    TutorAvailability,
    TutorSubject,
    User,
)


class TutorSubjectInline(admin.TabularInline):
    model = TutorSubject
    extra = 0
    autocomplete_fields = ["subject"]


class AvailabilityInline(admin.TabularInline):
    model = TutorAvailability
    extra = 0


class ChildInline(admin.TabularInline):
    """A parent's children. A child's login is linked, and a child moved to another parent, on
    the child's own page (through the services); children are never deleted here."""

    model = Student
    fk_name = "parent"
    extra = 0
    fields = ["first_name", "last_name", "grade", "user"]
    readonly_fields = ["user"]
    show_change_link = True
    can_delete = False


@admin.register(User)
class UserAdmin(CsvExportMixin, DjangoUserAdmin):
    csv_columns = [
        ("id", "id"),
        ("email", "email"),
        ("first name", "first_name"),
        ("last name", "last_name"),
        ("role", "role"),
        ("active", "is_active"),
        ("joined", "date_joined"),
        ("last login", "last_login"),
    ]
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "role", "is_active", "date_joined"]
    list_filter = ["role", "is_active", "is_staff"]
    search_fields = ["email", "first_name", "last_name"]
    readonly_fields = ["date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Person", {"fields": ["first_name", "last_name", "role"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "first_name", "last_name", "role", "password1", "password2"]}),
    ]
    inlines = [TutorSubjectInline, AvailabilityInline, ChildInline]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["deactivate_users", "reactivate_users"]

    # Accounts are deactivated, never deleted: their messages, recordings and sessions stay.
    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        obj.email = obj.email.lower()
        # Admin-site access follows the role, whatever the checkbox said.
        obj.is_staff = permissions.is_staff_role(obj.role)
        activate = None
        if change and "is_active" in form.changed_data:
            # the checkbox goes through the service (audit, revoked tokens, sockets closed)
            activate, obj.is_active = obj.is_active, not obj.is_active
        super().save_model(request, obj, form, change)
        if activate is not None:
            try:
                services.user_set_active(user=obj, changed_by=request.user, active=activate, request=request)
            except (Conflict, Forbidden) as exc:
                self.message_user(request, refusal_text(exc), messages.ERROR)

    def _set_active(self, request, queryset, active: bool) -> int:
        done = 0
        for user in queryset.filter(is_active=not active):
            try:
                services.user_set_active(user=user, changed_by=request.user, active=active, request=request)
            except Conflict as exc:
                self.message_user(request, refusal_text(exc), messages.WARNING)
                continue
            done += 1
        return done

    @admin.action(description="Deactivate the selected accounts (kept, with everything they wrote)")
    def deactivate_users(self, request, queryset):
        done = self._set_active(request, queryset, False)
        self.message_user(request, f"Deactivated {done} account(s).", messages.SUCCESS)

    @admin.action(description="Reactivate the selected accounts")
    def reactivate_users(self, request, queryset):
        done = self._set_active(request, queryset, True)
        self.message_user(request, f"Reactivated {done} account(s).", messages.SUCCESS)


@admin.register(Subject)
class SubjectAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


class ActiveTutorFilter(admin.SimpleListFilter):
    """Students with or without an active allocation (the dashboard's "students without a tutor")."""

    title = "active tutor"
    parameter_name = "tutor"

    def lookups(self, request, model_admin):
        return [("any", "Has a tutor"), ("none", "Without a tutor")]

    def queryset(self, request, queryset):
        active = Allocation.objects.filter(student=OuterRef("pk"), status=AllocationStatus.ACTIVE)
        if self.value() == "any":
            return queryset.filter(Exists(active))
        if self.value() == "none":
            return queryset.filter(~Exists(active))
        return queryset


@admin.register(Student)
class StudentAdmin(CsvExportMixin, admin.ModelAdmin):
    csv_columns = [
        ("id", "id"),
        ("first name", "first_name"),
        ("last name", "last_name"),
        ("grade", "grade"),
        ("parent", "parent__email"),
        ("own login", "user__email"),
        ("recording consent", "recording_consent"),
        ("created", "created_at"),
    ]
    list_display = ["first_name", "last_name", "grade", "parent", "user", "created_at"]
    list_filter = [ActiveTutorFilter, "grade"]
    search_fields = ["first_name", "last_name", "parent__email", "user__email"]
    list_select_related = ["parent", "user"]
    raw_id_fields = ["parent", "user"]
    readonly_fields = ["recording_consent_changed_at", "recording_consent_changed_by"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    # A child's sessions hold its conversations: children are never deleted.
    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Moving a child to another parent, or its login, changes who sees its sessions: that
        # goes through the services (audited, open sockets told at once).
        # So does the parent's consent to record (audited, like the parent's own change).
        stored = Student.objects.get(pk=obj.pk)
        parent, login, consent = obj.parent, obj.user, obj.recording_consent
        obj.parent_id, obj.user_id = stored.parent_id, stored.user_id
        obj.recording_consent = stored.recording_consent
        super().save_model(request, obj, form, change)
        try:
            if "recording_consent" in form.changed_data:
                services.recording_consent_set(student=obj, changed_by=request.user, granted=consent, request=request)
            if "parent" in form.changed_data:
                services.student_parent_set(student=obj, changed_by=request.user, parent=parent, request=request)
            if "user" in form.changed_data:
                services.student_login_set(student=obj, changed_by=request.user, login=login, request=request)
        except Invalid as exc:
            self.message_user(request, refusal_text(exc), messages.ERROR)
        obj.refresh_from_db()


@admin.register(TutorAvailability)
class TutorAvailabilityAdmin(admin.ModelAdmin):
    list_display = ["tutor", "weekday", "start_time", "end_time", "timezone"]
    list_filter = ["weekday", "timezone"]
    search_fields = ["tutor__email", "tutor__first_name", "tutor__last_name"]
    list_select_related = ["tutor"]
    raw_id_fields = ["tutor"]


class TutorChoiceField(forms.ModelChoiceField):
    """Each tutor with the subjects they teach, so staff pick one who teaches the subject."""

    def label_from_instance(self, tutor: User) -> str:
        subjects = ", ".join(subject.name for subject in tutor.subjects.all()) or "no subjects"
        return f"{tutor.display_name} <{tutor.email}> ({subjects})"


def match_label(tutor: User) -> str:
    """A tutor offered by ``selectors.tutor_matches``, with what staff weigh when choosing."""
    n = tutor.active_allocations
    hours = selectors.free_weekly_hours(tutor)
    return (
        f"{tutor.display_name} <{tutor.email}> · {hours:g} h free a week · {n} active allocation{'s' if n != 1 else ''}"
    )


class TutorMatchChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, tutor: User) -> str:
        return match_label(tutor)


class TutorMatchQuery(forms.Form):
    """The subject (required) and the student (optional) that tutors are matched for."""

    subject = forms.ModelChoiceField(Subject.objects.all())
    student = forms.ModelChoiceField(Student.objects.all(), required=False)


@admin.register(Allocation)
class AllocationAdmin(CsvExportMixin, ServiceCreateAdminMixin, admin.ModelAdmin):
    """Allocating calls ``allocation_create``: the API's checks (the tutor teaches the subject,
    one active tutor per student and subject) and its notifications. Allocations are ended,
    never edited."""

    csv_columns = [
        ("id", "id"),
        ("student first name", "student__first_name"),
        ("student last name", "student__last_name"),
        ("subject", "subject__name"),
        ("tutor", "tutor__email"),
        ("status", "status"),
        ("created", "created_at"),
        ("created by", "created_by__email"),
        ("ended", "ended_at"),
        ("ended by", "ended_by__email"),
    ]
    list_display = ["student", "subject", "tutor", "status", "created_at", "ended_at"]
    list_filter = ["status", "subject"]
    search_fields = [
        "student__first_name",
        "student__last_name",
        "tutor__email",
        "tutor__first_name",
        "tutor__last_name",
        "subject__name",
    ]
    list_select_related = ["student", "tutor", "subject"]
    autocomplete_fields = ["student"]
    raw_id_fields = ["created_by", "ended_by"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["end_allocations"]
    service_field_map = {"studentId": "student", "tutorId": "tutor", "subjectId": "subject"}

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["student", "subject", "tutor"]
        return ["student", "subject", "tutor", "status", "created_by", "created_at", "ended_by", "ended_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    class Media:
        # Offers, once a subject is chosen, only the tutors who teach it, best fit first.
        js = ["admin_app/allocate.js"]

    def get_urls(self):
        matches = path("tutors/", self.admin_site.admin_view(self.tutor_matches_view), name="k12_allocation_tutors")
        return [matches, *super().get_urls()]

    def tutor_matches_view(self, request):
        """``selectors.tutor_matches`` for the add form's script: ``?subject=<id>&student=<id>``."""
        if not self.has_add_permission(request):
            return JsonResponse({"detail": "Not allowed."}, status=403)
        query = TutorMatchQuery(request.GET)
        if not query.is_valid():
            return JsonResponse(query.errors.get_json_data(), status=400)
        subject, student = query.cleaned_data["subject"], query.cleaned_data["student"]
        tutors = [
            {
                "id": str(tutor.pk),
                "label": match_label(tutor),
                "free_weekly_hours": selectors.free_weekly_hours(tutor),
                "active_allocations": tutor.active_allocations,
            }
            for tutor in selectors.tutor_matches(subject=subject, student=student)
        ]
        return JsonResponse({"subject": subject.name, "tutors": tutors})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "tutor":
            query = TutorMatchQuery(request.GET)
            if request.method == "GET" and query.is_valid():
                # "Allocate a tutor" opened for a subject (and student): only the matches.
                kwargs["queryset"] = selectors.tutor_matches(**query.cleaned_data)
                kwargs["form_class"] = TutorMatchChoiceField
            else:
                # Every active tutor: allocation_create decides, and says why a pick is wrong.
                kwargs["queryset"] = (
                    User.objects.filter(role=Role.TUTOR, is_active=True)
                    .prefetch_related(Prefetch("subjects", queryset=Subject.objects.order_by("name")))
                    .order_by("first_name", "last_name", "email")
                )
                kwargs["form_class"] = TutorChoiceField
            kwargs["widget"] = forms.Select(attrs={"data-matches-url": reverse("admin:k12_allocation_tutors")})
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        # Allocating is not the place to edit or delete a person or a subject.
        for flag in ("can_change_related", "can_delete_related"):
            if hasattr(field.widget, flag):
                setattr(field.widget, flag, False)
        return field

    def create_via_service(self, request, data):
        return services.allocation_create(
            created_by=request.user, student=data["student"], tutor=data["tutor"], subject=data["subject"]
        )

    @admin.action(description="End the selected allocations")
    def end_allocations(self, request, queryset):
        done = 0
        active = queryset.filter(status=AllocationStatus.ACTIVE).select_related("student", "tutor", "subject")
        for allocation in active:
            try:
                services.allocation_end(allocation=allocation, ended_by=request.user)
            except Conflict:
                continue  # ended by someone else meanwhile: the outcome staff asked for
            done += 1
        self.message_user(request, f"Ended {done} allocation(s).", messages.SUCCESS)


@admin.register(Booking)
class BookingAdmin(CsvExportMixin, ServiceCreateAdminMixin, admin.ModelAdmin):
    csv_columns = [
        ("id", "id"),
        ("starts", "starts_at"),
        ("ends", "ends_at"),
        ("minutes", "duration_minutes"),
        ("status", "status"),
        ("subject", "subject__name"),
        ("tutor", "tutor__email"),
        ("student first name", "student__first_name"),
        ("student last name", "student__last_name"),
        ("parent", "student__parent__email"),
        ("cancelled", "cancelled_at"),
        ("cancel reason", "cancel_reason"),
        ("legal hold", "legal_hold"),
    ]
    list_display = ["starts_at", "subject", "tutor", "student", "duration_minutes", "status"]
    list_filter = ["status", "subject", "legal_hold", "starts_at"]
    search_fields = ["id", "tutor__email", "student__first_name", "student__last_name", "student__parent__email"]
    list_select_related = ["subject", "tutor", "student"]
    raw_id_fields = ["student", "tutor"]
    date_hierarchy = "starts_at"
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    show_facets = admin.ShowFacets.NEVER
    actions = ["cancel_sessions", "set_legal_hold", "clear_legal_hold"]

    # Sessions are cancelled, never deleted: they hold the child's conversation and recordings.
    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    service_field_map = {"student_id": "student", "tutor_id": "tutor", "subject_id": "subject"}

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["student", "tutor", "subject", "starts_at", "duration_minutes"]
        return [
            "student",
            "tutor",
            "subject",
            "starts_at",
            "ends_at",
            "duration_minutes",
            "status",
            "created_by",
            "created_at",
            "cancelled_by",
            "cancelled_at",
            "cancel_reason",
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def create_via_service(self, request, data):
        return services.booking_create(
            created_by=request.user,
            student=data["student"],
            tutor=data["tutor"],
            subject=data["subject"],
            starts_at=data["starts_at"],
            duration_minutes=data["duration_minutes"],
        )

    @admin.action(description="Put the selected sessions under legal hold (kept past retention)")
    def set_legal_hold(self, request, queryset):
        for booking in queryset:
            services.booking_set_legal_hold(booking=booking, changed_by=request.user, hold=True, request=request)
        self.message_user(request, "Legal hold set.", messages.SUCCESS)

    @admin.action(description="Release the selected sessions from legal hold")
    def clear_legal_hold(self, request, queryset):
        for booking in queryset:
            services.booking_set_legal_hold(booking=booking, changed_by=request.user, hold=False, request=request)
        self.message_user(request, "Legal hold released.", messages.SUCCESS)

    @admin.action(description="Cancel the selected sessions")
    def cancel_sessions(self, request, queryset):
        done = 0
        for booking in queryset.filter(status=BookingStatus.SCHEDULED).select_related("student", "tutor", "subject"):
            try:
                services.booking_cancel(booking=booking, cancelled_by=request.user, reason="Cancelled by staff")
            except Conflict:  # cancelled meanwhile by someone else
                continue
            done += 1
        self.message_user(request, f"Cancelled {done} session(s).", messages.SUCCESS)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """Read-only: a notification is made by the service that tells someone of an event (with its
    push and email), never typed in by hand. Staff see each one's email: sent, still being
    retried, or failed and why."""

    list_display = ["created_at", "user", "kind", "title", "read_at", "email_status", "email_attempts", "email_error"]
    list_filter = ["email_status", "kind", "created_at"]
    search_fields = ["user__email", "title"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]

    def has_delete_permission(self, request, obj=None) -> bool:
        # Unlike the desk's other read-only rows, a notification is neither part of a conversation
        # nor of the audit trail: staff with the model's delete permission may remove one.
        return admin.ModelAdmin.has_delete_permission(self, request, obj)
