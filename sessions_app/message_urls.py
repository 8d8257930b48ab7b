"""Chat routes, under /api/ (each with and without a trailing slash)."""

from __future__ import annotations

from k12.routing_helpers import route
from sessions_app.message_api import SessionMessagesView
from sessions_app.safeguarding_api import MessageHideView, MessageReportView, MessageUnhideView, SessionReadView

urlpatterns = [
    *route("sessions/<str:session_id>/messages", SessionMessagesView.as_view(), "session-messages"),
    *route("sessions/<str:session_id>/read", SessionReadView.as_view(), "session-read"),
    *route("messages/<str:message_id>/report", MessageReportView.as_view(), "message-report"),
    *route("messages/<str:message_id>/hide", MessageHideView.as_view(), "message-hide"),
    *route("messages/<str:message_id>/unhide", MessageUnhideView.as_view(), "message-unhide"),
]
