"""PostgreSQL through Django's connection pool (psycopg_pool): a request borrows a connection and
gives it back; the live room's database work under daphne does the same; a connection the server
ended is replaced before anyone uses it; the pool and persistent connections do not mix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection

from tests.conftest import client_for

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def server_pids():
    """The PostgreSQL backend pid of every query run meanwhile on this thread's connection."""
    pids = []

    def record(execute, sql, params, many, context):
        pids.append(context["connection"].connection.info.backend_pid)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield pids


def request(client, path="/api/me"):
    """One request, ended the way request_finished ends it (Django's test client skips that)."""
    try:
        return client.get(path)
    finally:
        connection.close()


def _terminate_all_others() -> None:
    """What a PostgreSQL restart does to the pool's connections, for this test database only."""
    params = connection.get_connection_params()
    for name in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(name, None)
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute(f"SELECT pg_terminate_backend(pid) {others}")
        deadline = time.monotonic() + 10
        while other.execute(f"SELECT count(*) {others}").fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.05)  # gone, as after a restart


def test_postgresql_is_pooled_and_checked_by_django():
    database = settings.DATABASES["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 8, "timeout": 5}
    assert database["CONN_MAX_AGE"] == 0 and database["CONN_HEALTH_CHECKS"] is True


def test_requests_reuse_a_pooled_connection(world):
    client = client_for(world.parent)
    request(client)  # the pool has its connections now
    before = connection.pool.get_stats()
    for _ in range(3):
        with server_pids() as pids:
            assert request(client).status_code == 200
        assert len(set(pids)) == 1  # one connection for the whole request ...
        assert connection.connection is None  # ... given back at its end
    after = connection.pool.get_stats()
    assert after["requests_num"] - before["requests_num"] == 3  # each request borrowed once
    assert after.get("connections_num") == before.get("connections_num")  # and none connected


def test_a_connection_the_server_ended_is_replaced_before_a_request_uses_it(world):
    client = client_for(world.parent)
    with server_pids() as before:
        assert request(client).status_code == 200
    _terminate_all_others()
    with server_pids() as after:
        assert request(client).status_code == 200  # not a 500: checked and replaced first
    assert set(after).isdisjoint(before)


async def test_the_live_rooms_database_work_reuses_a_pooled_connection(world):
    """Under daphne each unit of database work (database_sync_to_async) starts and ends by closing
    old connections: with the pool that is a borrow and a give-back, not a connect."""

    def backend_pid() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]

    await database_sync_to_async(backend_pid)()
    before = connection.pool.get_stats()
    for _ in range(5):
        await database_sync_to_async(backend_pid)()
    after = connection.pool.get_stats()
    assert after["requests_num"] - before["requests_num"] == 5
    assert after.get("connections_num") == before.get("connections_num")


def _settings_in_a_new_process(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "DB_"))}
    code = (
        "import json; from k12 import settings as s; d = s.DATABASES['default'];"
        "print(json.dumps({'pool': d.get('OPTIONS', {}).get('pool'), 'age': d['CONN_MAX_AGE']}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_DEBUG": "1", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/k12", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.django_db(transaction=False)
def test_the_pool_is_sized_from_the_environment_and_refuses_persistent_connections():
    sized = _settings_in_a_new_process(DB_POOL_MIN="2", DB_POOL_MAX="16", DB_POOL_TIMEOUT="3")
    assert json.loads(sized.stdout) == {"pool": {"min_size": 2, "max_size": 16, "timeout": 3}, "age": 0}
    mixed = _settings_in_a_new_process(DB_CONN_MAX_AGE="60")
    assert mixed.returncode != 0 and "DB_CONN_MAX_AGE must be 0" in mixed.stderr
    unpooled = _settings_in_a_new_process(DB_POOL_MAX="0", DB_CONN_MAX_AGE="60")
    assert json.loads(unpooled.stdout) == {"pool": None, "age": 60}


@pytest.mark.django_db(transaction=False)
def test_a_statement_can_be_bounded_from_the_environment():
    """The REST process's workers run one request at a time and no server timer ends a request,
    so production bounds each statement (docker/compose.yaml's api service)."""
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'k12.settings'; django.setup();"
        "from django.db import connection; c = connection.cursor(); c.execute('SHOW statement_timeout');"
        "print(c.fetchone()[0])"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DB_"))}
    shown = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_DEBUG": "1",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
            "DB_STATEMENT_TIMEOUT_MS": "1500",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.stdout.strip() == "1500ms", shown.stderr[-2000:]


@pytest.mark.parametrize(("setting", "prepared"), [(None, True), ("0", False)])
def test_a_query_run_again_and_again_is_prepared_once_per_connection(setting, prepared):
    """The parameters are bound by the server, so a query is the same text each time and a
    connection keeps it parsed and planned after a few runs; DB_PREPARED_STATEMENTS=0 (behind
    a pooler in transaction mode) keeps every statement unprepared."""
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'k12.settings'; django.setup();"
        "from django.db import connection; c = connection.cursor();"
        "[c.execute('SELECT %s::int + 1', [n]) for n in range(8)];"
        "c.execute('SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s', ['SELECT $1::int + 1%']);"
        "print(c.fetchone()[0])"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DB_"))}
    env = {**clean, "DJANGO_DEBUG": "1", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres"}
    if setting is not None:
        env["DB_PREPARED_STATEMENTS"] = setting
    shown = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert shown.stdout.strip() == ("1" if prepared else "0"), shown.stderr[-2000:]
