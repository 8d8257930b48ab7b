"""Recording routes (filled by the recordings work)."""

from __future__ import annotations

urlpatterns: list = []
