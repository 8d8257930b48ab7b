"""WebSocket routes: the live session room, /ws/encounters/ (the socket.io namespace's name)."""

from __future__ import annotations

from django.urls import re_path

from sessions_app.chat.consumers import SessionChatConsumer

websocket_urlpatterns = [
    re_path(r"^ws/encounters/?$", SessionChatConsumer.as_asgi()),
]
