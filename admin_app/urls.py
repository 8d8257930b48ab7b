"""/api/admin/*: the staff's API, registered on the API's router (k12/urls.py); the stats, one
document rather than a collection, as a view of its own."""

from __future__ import annotations

from admin_app import viewsets
from admin_app.reports import ReportViewSet
from k12.routers import route


def register(router) -> None:
    router.register("admin/students", viewsets.AdminStudentViewSet, basename="admin-student")
    router.register("admin/tutors", viewsets.AdminTutorViewSet, basename="admin-tutor")
    router.register("admin/allocations", viewsets.AllocationViewSet, basename="admin-allocation")
    router.register("admin/reports", ReportViewSet, basename="admin-report")


urlpatterns = [*route("admin/stats", viewsets.StatsView.as_view(), "admin-stats")]
