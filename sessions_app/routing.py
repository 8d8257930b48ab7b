"""WebSocket routes: the live session room (the guide's `encounters` namespace)."""

from __future__ import annotations

websocket_urlpatterns: list = []
