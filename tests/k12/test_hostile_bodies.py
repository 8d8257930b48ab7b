"""Hostile request bodies get DRF-shaped JSON 4xx answers, never a 500 or Django's HTML pages:
JSON nested deeper than the decoder recurses (400, on every JSON endpoint, nothing logged as an
error), a body over the size limit (413), and the errors Django itself answers under /api/."""

from __future__ import annotations

import logging
import re
import uuid

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from tests.conftest import client_for

pytestmark = pytest.mark.django_db

NESTED = "[" * 100_000


def json_operations() -> list[tuple[str, str]]:
    """(method, path template) of every operation whose request body is JSON."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                found.append((method.upper(), path))
    return sorted(found)


JSON_OPERATIONS = json_operations()


def concrete(path: str, world) -> str:
    """The path with its parameters filled: the world's session and child where named, a fresh
    UUID elsewhere (a 404 then is fine: the point is that nothing answers 500)."""
    known = {"session_id": world.booking.id, "student_id": world.child.id}
    return re.sub(r"\{(\w+)\}", lambda m: str(known.get(m.group(1), uuid.uuid4())), path)


def test_there_are_json_endpoints_to_check():
    assert ("POST", "/api/auth/token") in JSON_OPERATIONS
    assert len(JSON_OPERATIONS) >= 10


@pytest.mark.parametrize("role", ["anonymous", "admin", "tutor"])
@pytest.mark.parametrize(("method", "path"), JSON_OPERATIONS)
def test_deeply_nested_json_is_a_400_everywhere(world, role, method, path, caplog):
    client = client_for(world.user(role))
    with caplog.at_level(logging.ERROR):
        response = client.generic(method, concrete(path, world), NESTED, content_type="application/json")
    assert response.status_code < 500, response.content[:200]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and body
    if response.status_code == 400:
        assert body == {"detail": "JSON parse error - nested too deeply."}
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("role", ["anonymous", "parent"])
def test_deeply_nested_login_and_message_are_400(world, role):
    client = client_for(world.user(role))
    login = client.post("/api/auth/token", NESTED, content_type="application/json")
    assert login.status_code == 400 and login.json() == {"detail": "JSON parse error - nested too deeply."}
    if role == "parent":
        post = client.post(f"/api/sessions/{world.booking.id}/messages", NESTED, content_type="application/json")
        assert post.status_code == 400, post.content[:200]


def test_a_body_over_the_limit_is_a_413_in_json(world, settings):
    big = '{"email": "' + "a" * (10 * 1024 * 1024) + '", "password": "x"}'
    response = Client().post("/api/auth/token", big, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {"detail": f"Request bodies are limited to {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."}


def test_the_limit_is_the_setting(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = client_for(world.parent)
    url = f"/api/sessions/{world.booking.id}/messages"
    assert client.post(url, {"text": "a" * 900}, format="json").status_code == 201
    response = client.post(url, {"text": "a" * 1000}, format="json")
    assert response.status_code == 413 and response.json() == {"detail": "Request bodies are limited to 1000 bytes."}


def test_an_unknown_api_path_is_a_json_404():
    response = Client().get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_crash_under_api_is_a_json_500(world, monkeypatch):
    from k12 import api

    def crash(self, request):
        raise RuntimeError("bug")

    monkeypatch.setattr(api.MeView, "get", crash)
    response = Client(raise_request_exception=False).get(
        "/api/me", HTTP_AUTHORIZATION=client_for(world.parent)._credentials["HTTP_AUTHORIZATION"]
    )
    assert response.status_code == 500
    assert response.json() == {"detail": "A server error occurred."}


def test_pages_outside_the_api_keep_their_html_errors():
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_date_time_with_an_offset_postgresql_refuses_is_read_in_utc(world):
    client = client_for(world.parent)
    response = client.get("/api/sessions", {"from": "0219-01-21T21:37:09-17:00", "to": "3336-07-28T22:21:15Z"})
    assert response.status_code == 200, response.content[:200]
    assert [s["id"] for s in response.json()] == [str(world.booking.id)]
    off_the_calendar = client.get("/api/sessions", {"from": "0001-01-01T00:00:00+05:00"})
    assert off_the_calendar.status_code == 400 and "from" in off_the_calendar.json()
