"""/api/admin/*: the staff's API, mounted under /api/admin/."""

from __future__ import annotations

from admin_app import api
from admin_app.reports import ReportViewSet
from k12.routers import Router
from k12.routing_helpers import route

router = Router()
router.register("reports", ReportViewSet, basename="admin-report")

urlpatterns: list = [
    *route("stats", api.StatsView.as_view(), "admin-stats"),
    *route("students", api.StudentListView.as_view(), "admin-students"),
    *route("tutors", api.TutorListView.as_view(), "admin-tutors"),
    *route("allocations", api.AllocationListView.as_view(), "admin-allocations"),
    *route("allocations/<str:allocation_id>/end", api.AllocationEndView.as_view(), "admin-allocation-end"),
    *router.urls,
]
