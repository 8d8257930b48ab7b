"""The built-in web client's pages, mounted at the site root (k12/urls.py)."""

from __future__ import annotations

from django.urls import path

from sessions_app import web

urlpatterns = [
    path("", web.sessions_page, name="web-sessions"),
    path("login/", web.LoginView.as_view(), name="web-login"),
    path("logout/", web.LogoutView.as_view(), name="web-logout"),
    path("children/", web.children_page, name="web-children"),
    path("favicon.ico", web.favicon, name="web-favicon"),
    path("sessions/<str:session_id>/", web.room_page, name="web-room"),
]
