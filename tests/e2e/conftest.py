"""One pair of daphne processes per test session, sharing a Redis of their own and the test
PostgreSQL database. Tests that use them are grouped on one xdist worker (`live` group)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from django.utils.crypto import get_random_string
from playwright.sync_api import sync_playwright

from tests.conftest import PASSWORD
from tests.e2e.browser import launch_chromium
from tests.e2e.servers import Daphne, RedisServer, app_env, database_url

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(scope="session")
def e2e_redis():
    redis = RedisServer().start()
    yield redis
    redis.stop()


@pytest.fixture(scope="session")
def daphnes(django_db_setup, django_db_blocker, e2e_redis):
    with django_db_blocker.unblock():
        settings = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.fail("end-to-end tests need PostgreSQL: run them with DATABASE_URL set (make test does)")
    ARTIFACTS.mkdir(exist_ok=True)
    # the same signing key as this process, so tokens minted by the tests are valid there
    # Background tasks (a recording's processing, email) run in the server process here, as with
    # `make run`: these tests are about the servers and the browser; tests/k12/test_email_worker.py
    # drives real workers.
    env = app_env(
        database_url(settings),
        e2e_redis.url,
        DJANGO_SECRET_KEY=django_settings.SECRET_KEY,
        CELERY_TASK_ALWAYS_EAGER="1",
    )
    servers = [Daphne(env, log=ARTIFACTS / f"daphne-{i}.log") for i in (1, 2)]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def chromium():
    """A headless chromium for one test (tests/e2e/browser.py).

    While it is open, Playwright's event loop runs in the test's thread and Django refuses ORM
    calls from such a thread: set data up in fixtures requested before this one, and talk to the
    servers over HTTP while the browser is open."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def people(world):
    """The world's parent and tutor with passwords the servers can check: the test settings hash
    with MD5 for speed, which k12.settings (what daphne runs) does not accept."""
    for user in (world.parent, world.tutor):
        user.password = PBKDF2PasswordHasher().encode(PASSWORD, get_random_string(12), iterations=1000)
        user.save(update_fields=["password"])
    return world
