"""The Django admin as the staff's desk: the index opens with the KPIs (the same selector as
/api/admin/stats) and a chart of sessions per day for the coming weeks."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.urls import NoReverseMatch, reverse

from admin_app import charts, selectors
from k12 import permissions


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    value: int
    url: str | None


# (stats key, label, admin changelist to open, its query string)
KPI_LINKS = [
    ("students", "Students", "admin:k12_student_changelist", ""),
    ("parents", "Parents", "admin:k12_user_changelist", "?role__exact=parent"),
    ("tutors", "Tutors", "admin:k12_user_changelist", "?role__exact=tutor"),
    ("upcomingSessions", "Upcoming sessions", "admin:k12_booking_changelist", "?status__exact=scheduled"),
    ("sessionsThisWeek", "Sessions this week", None, ""),
    ("activeAllocations", "Active allocations", "admin:k12_allocation_changelist", "?status__exact=active"),
    ("studentsWithoutTutor", "Students without a tutor", "admin:k12_student_changelist", "?tutor=none"),
    ("recordingsStored", "Recordings stored", "admin:sessions_app_sessionrecording_changelist", ""),
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
    kpis = [Kpi(key, label, stats[key], _url(name, query)) for key, label, name, query in KPI_LINKS]
    return {
        "kpis": kpis,
        "chart": charts.bar_chart(selectors.sessions_per_day()),
        "chart_days": selectors.CHART_DAYS,
    }


class StaffAdminSite(admin.AdminSite):
    site_header = "K12 staff desk"
    site_title = "K12 staff desk"
    index_title = "Dashboard"
    index_template = "admin_app/index.html"
    # The frontend is a separate app; there is no site at "/" to link to.
    site_url = None

    def has_permission(self, request) -> bool:
        # The same people as /api/admin/*: the one access rule decides.
        return permissions.can_use_staff_desk(request.user)

    def index(self, request, extra_context=None):
        return super().index(request, extra_context={**dashboard_context(), **(extra_context or {})})
