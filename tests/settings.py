"""The test run's settings: k12/settings.py itself, with the environment a developer's shell
would give it (DEBUG on, a throwaway key). `make test` adds DATABASE_URL and REDIS_URL so the
suite runs against the real PostgreSQL and Redis."""

import os
import uuid

from tests.e2e.servers import UNTHROTTLED

os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
# Rate limits out of the way, except in the tests about them (tests/k12/test_throttling.py).
for _name, _rate in UNTHROTTLED.items():
    os.environ.setdefault(_name, _rate)

# Background tasks run eagerly, in the test, except in the tests that start real workers
# (tests/workers.py), which switch this off for their duration.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")

from k12.settings import *  # noqa: E402,F403

# Each test process has a queue of its own: its workers take only its tasks.
CELERY_TASK_DEFAULT_QUEUE = f"k12-test-{uuid.uuid4().hex[:12]}"

# Hashing a password the production way takes ~0.3 s; the tests create thousands of users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
