"""URL map. REST under /api/: the resources on one router (``api_router``, each route with and
without a trailing slash), plus the auth views; the admin, docs, probes."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

import admin_app.urls
import sessions_app.urls
from k12 import api, health, viewsets
from k12.routers import Router, route

api_router = Router()
# Django tries the patterns in order and records each one it passes over: what happens inside a
# session (the chat's messages above all) is asked for most, so its routes come first.
sessions_app.urls.register(api_router)
api_router.register("sessions", viewsets.SessionViewSet, basename="session")
api_router.register("subjects", viewsets.SubjectViewSet, basename="subject")
api_router.register("students", viewsets.StudentViewSet, basename="student")
api_router.register("notifications", viewsets.NotificationViewSet, basename="notification")
admin_app.urls.register(api_router)

api_patterns = [
    *api_router.urls,
    *route("auth/token", api.TokenView.as_view(), "auth-token"),
    *route("auth/token/refresh", api.RefreshView.as_view(), "auth-refresh"),
    *route("auth/logout", api.LogoutView.as_view(), "auth-logout"),
    *route("me", api.MeView.as_view(), "me"),
    *admin_app.urls.urlpatterns,
    *sessions_app.urls.urlpatterns,
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # the split view serves Swagger UI's init script from its own URL (no inline script)
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="k12/swagger_ui.html"),
        name="docs",
    ),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("sessions_app.web.urls")),
]
