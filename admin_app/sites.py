"""The Django admin as the staff's desk: the index opens with the KPIs (the same selector as
/api/admin/stats) and a chart of sessions per day for the coming weeks; the week timetable
(sessions per tutor per day) is a page of its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db.models.base import ModelBase
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone

from admin_app import charts, selectors
from k12 import permissions
from k12.models import Subject


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    value: int
    url: str | None
    hint: str = ""


# (stats key, label, what it counts when the label alone could mislead, admin page to open, its query string)
KPI_LINKS = [
    ("students", "Students", "", "admin:k12_student_changelist", ""),
    ("parents", "Parents", "", "admin:k12_user_changelist", "?role__exact=parent"),
    ("tutors", "Tutors", "", "admin:k12_user_changelist", "?role__exact=tutor"),
    ("upcomingSessions", "Upcoming sessions", "", "admin:k12_booking_changelist", "?status__exact=scheduled"),
    ("sessionsThisWeek", "Sessions this week", "not cancelled, Monday to Sunday", "admin:timetable", ""),
    ("activeAllocations", "Active allocations", "", "admin:k12_allocation_changelist", "?status__exact=active"),
    (
        "studentsWithoutTutor",
        "Students without a tutor",
        "no active allocation at all, in any subject",
        "admin:k12_student_changelist",
        "?tutor=none",
    ),
    ("recordingsStored", "Recordings stored", "", "admin:sessions_app_sessionrecording_changelist", ""),
]


def _url(name: str | None, query: str) -> str | None:
    if name is None:
        return None
    try:
        return reverse(name) + query
    except NoReverseMatch:  # e.g. recordings not registered (yet)
        return None


def dashboard_context() -> dict:
    stats = selectors.dashboard_stats()
    kpis = [Kpi(key, label, stats[key], _url(name, query), hint) for key, label, hint, name, query in KPI_LINKS]
    return {
        "kpis": kpis,
        "chart": charts.bar_chart(selectors.sessions_per_day()),
        "chart_days": selectors.CHART_DAYS,
    }


class TimetableForm(forms.Form):
    """The timetable's query string: any day of the wanted week, and a subject."""

    week = forms.DateField(required=False, input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"}))
    subject = forms.ModelChoiceField(Subject.objects.order_by("name"), required=False, empty_label="All subjects")


# Models a coordinator must not touch: permission groups (rights follow the role) and
# simplejwt's token tables (maintained by logout and flushexpiredtokens). Their apps register
# them with admin.site; the desk declines.
OFF_THE_DESK = {"auth.group", "token_blacklist.outstandingtoken", "token_blacklist.blacklistedtoken"}


class StaffLoginForm(AdminAuthenticationForm):
    """The desk's login: admitted by the one access rule, not by Django's ``is_staff`` flag."""

    def confirm_login_allowed(self, user):
        AuthenticationForm.confirm_login_allowed(self, user)  # an inactive account
        if not permissions.can_use_staff_desk(user):
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class StaffAdminSite(admin.AdminSite):
    login_form = StaffLoginForm
    site_header = "K12 staff desk"
    site_title = "K12 staff desk"
    index_title = "Dashboard"
    index_template = "admin_app/index.html"
    # The frontend is a separate app; there is no site at "/" to link to.
    site_url = None

    def register(self, model_or_iterable, admin_class=None, **options):
        models = [model_or_iterable] if isinstance(model_or_iterable, ModelBase) else model_or_iterable
        kept = [model for model in models if model._meta.label_lower not in OFF_THE_DESK]
        if kept:
            super().register(kept, admin_class, **options)

    def has_permission(self, request) -> bool:
        # The same people as /api/admin/*: the one access rule decides.
        return permissions.can_use_staff_desk(request.user)

    def index(self, request, extra_context=None):
        return super().index(request, extra_context={**dashboard_context(), **(extra_context or {})})

    def get_urls(self):
        return [path("timetable/", self.admin_view(self.timetable_view), name="timetable"), *super().get_urls()]

    def timetable_view(self, request):
        """Sessions per tutor per day for one week (``?week=<a day of it>``, ``?subject=<id>``)."""
        form = TimetableForm(request.GET)
        valid = form.is_valid()
        data = form.cleaned_data if valid else {}
        week = data.get("week") or timezone.now().astimezone(UTC).date()
        subject = data.get("subject")
        timetable = selectors.week_timetable(week_start=week, subject=subject)
        query = f"&subject={subject.pk}" if subject else ""
        context = {
            **self.each_context(request),
            "title": "Week timetable",
            "form": form,
            "timetable": timetable,
            "subject": subject,
            "previous_url": f"?week={timetable.previous_week.isoformat()}{query}",
            "next_url": f"?week={timetable.next_week.isoformat()}{query}",
            "this_week_url": f"?{query[1:]}" if query else "?",
        }
        return TemplateResponse(request, "admin_app/timetable.html", context, status=200 if valid else 400)
