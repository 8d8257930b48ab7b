"""The built-in web client's pages, mounted at the site root (k12/urls.py)."""

from __future__ import annotations

from django.urls import path

from sessions_app.web import views

urlpatterns = [
    path("", views.sessions_page, name="web-sessions"),
    path("login/", views.LoginView.as_view(), name="web-login"),
    path("logout/", views.LogoutView.as_view(), name="web-logout"),
    path("children/", views.children_page, name="web-children"),
    path("favicon.ico", views.favicon, name="web-favicon"),
    path("sessions/<str:session_id>/", views.room_page, name="web-room"),
]
