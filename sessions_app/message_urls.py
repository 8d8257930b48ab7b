"""Chat routes, under /api/."""

from __future__ import annotations

from django.urls import path

from sessions_app.message_api import SessionMessagesView

urlpatterns = [
    path("sessions/<str:session_id>/messages", SessionMessagesView.as_view(), name="session-messages-noslash"),
    path("sessions/<str:session_id>/messages/", SessionMessagesView.as_view(), name="session-messages"),
]
