"""REST routes of what happens inside a session, mounted under /api/."""

from __future__ import annotations

from sessions_app.message_urls import urlpatterns as message_urls
from sessions_app.recording_urls import urlpatterns as recording_urls

urlpatterns = [*message_urls, *recording_urls]
