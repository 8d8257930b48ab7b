"""Fixtures shared by the tests that send notification email through real workers."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from k12.celery import app as celery_app
from tests.e2e.servers import database_url
from tests.workers import FakeSMTP, worker_env


@pytest.fixture(scope="module")
def smtp():
    server = FakeSMTP().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def test_database_url(django_db_setup, django_db_blocker) -> str:
    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.fail("real workers need Redis and PostgreSQL: set REDIS_URL and DATABASE_URL (make test does)")
    with django_db_blocker.unblock():
        return database_url(connection.settings_dict)


@pytest.fixture
def through_the_broker(smtp):
    """Tasks go to the real broker (and the module's workers) instead of running in the test."""
    smtp.mails.clear()
    smtp.hang(None, 0, 0)
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = True


def allocation_body(world) -> dict:
    return {"studentId": str(world.child.id), "tutorId": str(world.tutor.id), "subjectId": str(world.physics.id)}


def email_worker_env(database_url: str, smtp: FakeSMTP, **extra: str) -> dict[str, str]:
    """A worker's environment: this test process's database, Redis and queue, the fake SMTP."""
    return worker_env(
        database_url,
        settings.REDIS_URL,
        settings.CELERY_TASK_DEFAULT_QUEUE,
        smtp,
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        EMAIL_TIMEOUT="30",
        **extra,
    )
