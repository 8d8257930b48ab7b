"""The desk's CSV export served by daphne (ASGI), as `make run` serves it: the response streams
its batches asynchronously from the request's thread, and every row arrives."""

from __future__ import annotations

import csv
import io
import re

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from django.utils.crypto import get_random_string

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff(world):
    world.admin.password = PBKDF2PasswordHasher().encode(PASSWORD, get_random_string(12), iterations=1000)
    world.admin.is_superuser = True
    world.admin.save(update_fields=["password", "is_superuser"])
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO k12_auditevent (created_at, actor_email, action, target_type, target_id, data)
               SELECT now() - make_interval(secs => n), 'staff@example.test', 'recording.url_viewed',
                      'sessions_app.sessionrecording', n::text, '{}'::jsonb
               FROM generate_series(1, 5000) AS n"""
        )
    return world.admin


def test_the_audit_export_streams_under_daphne(staff, daphnes):
    server = daphnes[0]
    with requests.Session() as browser:
        login = browser.get(f"{server.http}/admin/login/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
        answer = browser.post(
            f"{server.http}/admin/login/?next=/admin/",
            data={"csrfmiddlewaretoken": token, "username": staff.email, "password": PASSWORD, "next": "/admin/"},
            headers={"Referer": f"{server.http}/admin/login/"},
            timeout=10,
        )
        assert answer.url.endswith("/admin/"), answer.text[:300]
        with browser.get(f"{server.http}/admin/k12/auditevent/export.csv", stream=True, timeout=30) as response:
            assert response.status_code == 200
            assert "Content-Length" not in response.headers  # streamed, not collected first
            chunks = [chunk for chunk in response.iter_content(chunk_size=None) if chunk]
    table = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert len(table) == 5001
    assert table[0][:3] == ["id", "time", "action"]
    assert {row[2] for row in table[1:]} == {"recording.url_viewed"}
