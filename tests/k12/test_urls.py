"""The URL map's order."""

from __future__ import annotations

import uuid

from django.urls import resolve


def test_the_chat_routes_are_tried_first():
    """Django tries the patterns in order and records each one it passes over; the chat's
    messages, the API's most frequent requests, come first under /api/."""
    session = uuid.uuid4()
    for path, name, tried in (
        (f"/api/sessions/{session}/messages", "session-message-list-noslash", 1),
        (f"/api/sessions/{session}/messages/", "session-message-list", 2),
    ):
        match = resolve(path)
        assert match.url_name == name
        assert len(match.tried) == tried, [str(p[-1].pattern) for p in match.tried]
