"""The connection health check (k12/db/postgresql): no round trip while a reused connection is
quiet; a connection the server ended is replaced before the request uses it."""

from __future__ import annotations

import select
import time
from unittest import mock

import psycopg
import pytest
from django.conf import settings
from django.db import close_old_connections, connection, connections

from tests.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def persistent_connection():
    """As under gunicorn: the connection outlives the request (CONN_MAX_AGE > 0)."""
    old = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 60
    connection.close()
    yield
    connection.settings_dict["CONN_MAX_AGE"] = old
    connection.close()


def _server_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate(pid: int) -> None:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_quiet_connection_is_reused_without_asking_the_server(world, persistent_connection):
    client = client_for(world.parent)
    assert client.get("/api/me").status_code == 200
    pid = _server_pid()
    with mock.patch.object(type(connections["default"]), "is_usable", autospec=True, return_value=True) as select_one:
        close_old_connections()  # what request_started runs (Django's test client skips it)
        assert client.get("/api/me").status_code == 200
    assert _server_pid() == pid  # same connection
    assert select_one.call_count == 0  # Django's SELECT 1 check was not needed


def test_a_connection_the_server_ended_is_replaced(world, persistent_connection):
    client = client_for(world.parent)
    assert client.get("/api/me").status_code == 200
    pid = _server_pid()
    _terminate(pid)
    # the server's goodbye reaches the socket a moment later (as it would between two requests)
    deadline = time.monotonic() + 5
    while not select.select([connection.connection.fileno()], [], [], 0.05)[0] and time.monotonic() < deadline:
        pass
    close_old_connections()  # what request_started runs (Django's test client skips it)
    assert client.get("/api/me").status_code == 200  # not a 500: checked and replaced first
    assert _server_pid() != pid


def test_the_backend_is_the_projects():
    assert settings.DATABASES["default"]["ENGINE"] == "k12.db.postgresql"
