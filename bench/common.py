"""What the benchmarks share: the ``--smoke`` and ``--database-url`` options, and the database a
run uses (its own, made and dropped, or one it is given).

``--smoke`` runs a script for seconds at tiny sizes, without the peer: not a measurement, a check
that it still runs against the code as it is. tests/bench/test_bench_smoke.py runs every script
so, on the test's own database (``--database-url``) and Redis, as part of ``make test``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
PG = "postgres://postgres@127.0.0.1:5432"


def add_arguments(parser, database: bool = True) -> None:
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="seconds at tiny sizes, no peer: a check that the script runs, not a measurement",
    )
    if not database:
        return
    parser.add_argument(
        "--database-url",
        help="an existing, migrated PostgreSQL database to run on: emptied first and left in place "
        "(the smoke tests give theirs); without it the script makes its own and drops it at the end",
    )


class Database:
    """The run's database: ``given`` (a URL) is emptied and kept; otherwise ``name`` on the local
    PostgreSQL is made afresh, migrated, and dropped by ``drop()``."""

    def __init__(self, name: str, given: str | None = None):
        self.given = given
        self.url = given or f"{PG}/{name}"
        self.name = urlsplit(self.url).path.lstrip("/")

    def fresh(self) -> str:
        """An empty, migrated database; returns its URL."""
        if self.given:
            manage(self.url, "flush", "--noinput")
        else:
            psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            psql(f'CREATE DATABASE "{self.name}"')
            manage(self.url, "migrate", "--noinput")
        return self.url

    def drop(self) -> None:
        if not self.given:
            psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def psql(sql: str) -> None:
    subprocess.run(["psql", f"{PG}/postgres", "-q", "-c", sql], check=True, capture_output=True)


def manage(database_url: str, *args: str) -> None:
    from tests.e2e.servers import app_env

    argv = [sys.executable, "manage.py", *args, "-v", "0"]
    subprocess.run(argv, cwd=ROOT, env=app_env(database_url, ""), check=True, capture_output=True)


def node_client(argv: list[str], on_phase: Callable[[str, int], None]) -> dict:
    """Run a Node client of the benchmarks (``argv``: ``node <script> ...``) to its end. It prints
    ``PHASE <name>`` as it passes a mark, where ``on_phase(name, its pid)`` samples the servers at
    once, and last ``RESULT <json>``, which is returned. Its stderr is read on a thread of its own
    (a full pipe would stall it) and shown when it ends without a result."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stderr: list[str] = []
    threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True).start()
    line = None
    try:
        for out in proc.stdout:
            if out.startswith("PHASE "):
                on_phase(out.split()[1], proc.pid)
            elif out.startswith("RESULT "):
                line = out
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    if line is None:
        raise RuntimeError(f"{Path(argv[1]).name} failed: {''.join(stderr)[-3000:]}")
    return json.loads(line[len("RESULT ") :])
