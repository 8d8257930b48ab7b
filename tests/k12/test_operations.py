"""Demo data, probes, docs, and the settings that refuse to start unsafely."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from k12.models import Allocation, Booking, Student, Subject, TutorAvailability, TutorSubject, User

ROOT = Path(__file__).resolve().parents[2]


def snapshot():
    return {
        "users": sorted(User.objects.values_list("email", "role", "first_name", "last_name", "password")),
        "subjects": sorted(Subject.objects.values_list("name", flat=True)),
        "teaches": sorted(TutorSubject.objects.values_list("tutor__email", "subject__name")),
        "availability": TutorAvailability.objects.count(),
        "students": sorted(Student.objects.values_list("first_name", "parent__email", "user__email", "grade")),
        "allocations": sorted(
            Allocation.objects.values_list("student__first_name", "tutor__email", "subject__name", "status")
        ),
        "bookings": sorted(Booking.objects.values_list("id", "starts_at", "tutor__email")),
    }


@pytest.mark.django_db
def test_seed_demo_is_the_demo_set_and_idempotent():
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    first = snapshot()
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    assert snapshot() == first
    assert {e for e, *_ in first["users"]} == {
        "admin@k12.test",
        "parent1@k12.test",
        "parent2@k12.test",
        "student1@k12.test",
        "tutor1@k12.test",
        "tutor2@k12.test",
    }
    assert first["subjects"] == ["English", "Math", "Physics"]
    assert first["teaches"] == [
        ("tutor1@k12.test", "Math"),
        ("tutor1@k12.test", "Physics"),
        ("tutor2@k12.test", "English"),
    ]
    assert [(s[1], s[2]) for s in first["students"]] in (
        [("parent2@k12.test", None), ("parent1@k12.test", "student1@k12.test")],
        [("parent1@k12.test", "student1@k12.test"), ("parent2@k12.test", None)],
    )
    assert len(first["allocations"]) == 2 and len(first["bookings"]) == 2
    assert User.objects.get(email="parent1@k12.test").check_password("demo-pass-123")


@pytest.mark.django_db
def test_seed_demo_password_option():
    call_command("seed_demo", password="another-pass-456", stdout=open(os.devnull, "w"))
    assert User.objects.get(email="tutor1@k12.test").check_password("another-pass-456")


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_channel_layer_and_storage(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "channel_layer": "ok", "storage": "ok"}


@pytest.mark.django_db
def test_readyz_reports_a_broken_channel_layer(client, settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        response = client.get("/readyz")
    finally:
        channel_layers.backends.clear()
    assert response.status_code == 503
    assert response.json()["checks"]["channel_layer"].startswith("error")


@pytest.mark.django_db
def test_schema_and_docs_are_served_locally(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/sessions/{session_id}/cancel" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html


def _manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env.update(extra)
    return env


def test_refuses_to_start_without_secret_key_or_hosts_when_debug_is_off():
    result = _manage("check", env=_clean_env(DJANGO_DEBUG="0"))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr and "DJANGO_ALLOWED_HOSTS" in result.stderr


PRODUCTION_ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "x7$kP2!vQ9#mR4@wL8^tZ1&nB6*cF3(hJ5)dG0-sA_eY+uI=oK~lM" * 2,
    "DJANGO_ALLOWED_HOSTS": "k12.example.com",
    "DJANGO_BEHIND_PROXY": "1",
    "CSRF_TRUSTED_ORIGINS": "https://k12.example.com",
    "CORS_ALLOWED_ORIGINS": "https://app.k12.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/k12",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "AWS_STORAGE_BUCKET_NAME": "k12-recordings",
}


def test_check_deploy_passes_with_production_variables():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_clean_env(**PRODUCTION_ENV))
    assert result.returncode == 0, result.stdout + result.stderr
