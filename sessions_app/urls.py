"""REST routes of what happens inside a session (messages, recordings), mounted under /api/."""

from __future__ import annotations

urlpatterns: list = []
