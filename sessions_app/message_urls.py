"""Chat routes (filled by the messages work)."""

from __future__ import annotations

urlpatterns: list = []
