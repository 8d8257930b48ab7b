"""/api/admin/*: the staff's API, mounted under /api/admin/."""

from __future__ import annotations

urlpatterns: list = []
