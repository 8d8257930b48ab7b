"""URL map. REST under /api/ (with and without a trailing slash), the admin, docs, probes."""

from __future__ import annotations

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from k12 import api, health, notification_api
from k12.routing_helpers import route

api_patterns = [
    *route("auth/token", api.TokenView.as_view(), "auth-token"),
    *route("auth/token/refresh", api.RefreshView.as_view(), "auth-refresh"),
    *route("auth/logout", api.LogoutView.as_view(), "auth-logout"),
    *route("me", api.MeView.as_view(), "me"),
    *route("subjects", api.SubjectListView.as_view(), "subjects"),
    *route("students", api.StudentListView.as_view(), "students"),
    *route("sessions", api.SessionListView.as_view(), "sessions"),
    *route("sessions/<str:session_id>", api.SessionDetailView.as_view(), "session-detail"),
    *route("sessions/<str:session_id>/cancel", api.SessionCancelView.as_view(), "session-cancel"),
    *route("students/<str:student_id>/recording-consent", api.StudentRecordingConsentView.as_view(), "student-consent"),
    *route("notifications", notification_api.NotificationListView.as_view(), "notifications"),
    *route(
        "notifications/<str:notification_id>/read",
        notification_api.NotificationReadView.as_view(),
        "notification-read",
    ),
    path("", include("sessions_app.urls")),
    path("admin/", include("admin_app.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Browsers ask for /favicon.ico on pages that name no icon (the Django admin's).
    path("favicon.ico", RedirectView.as_view(url=static("web/favicon.svg"), permanent=True)),
    path("", include("sessions_app.web_urls")),
]
