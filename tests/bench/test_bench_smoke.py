"""Every benchmark runs: each bench/ script with ``--smoke`` (seconds, tiny sizes, no peer) on
this test's own database and Redis, against the code as it is. A rule change that breaks a
benchmark fails here instead of at the next measurement. The figures mean nothing at these sizes;
what is checked is that the script ends well and prints its table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.e2e.servers import app_env, database_url

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

# What each script's smoke run must print: its table's header and rows (regular expressions,
# one per line of output).
PRINTS = {
    "background.py": [
        r"^\| mode \| requests \| p50 ms \| p99 ms \|$",
        r"^\| worker, fast SMTP \| 3 \|",
        r"^\| 1 \| 5 \| [\d.]+ \| \d+ \|$",  # one worker sent the 5 emails
        r"^\| [\d.]+ \| [\d.]+ \| [\d.]+ \| True \| True \|$",  # the MP4: faststart and a poster
    ],
    "contact_details.py": [
        r"^\| corpus \| lines \| flagged \| rate \| CPU per message \|$",
        r"^\| ordinary lesson chat \| \d+ \| \d+ \|",
        r"^\| contact details \| \d+ \| \d+ \|",
    ],
    "fanout.py": [
        r"^clients deliveries +p50 ms",
        r"^ +5 +50 +[\d.]+ +[\d.]+ +[\d.]+ +0 +0 +0 ",  # 5 sockets x 10 messages, none lost
    ],
    "load.py": [
        r"^users=4 requests=\d+ .* errors=0 .* lost=0 duplicated=0$",
        r"^  live delivery \(commit to socket\): p50",
    ],
    "messages.py": [
        r"^\| messages \| newest p50 \| newest p99 \| rows \|",
        r"^\| +100 \|",
        r"^## SQL per request at 100 messages",
        r"^POST: HTTP 201, \d+ queries$",
        r"^\| workers \| GET req/s \|",
        r"^\| +1 \| +\d+ \|",  # wrk ran
    ],
    "rooms.py": [
        r"^server +sockets rooms messages deliveries",
        r"^ours-ws +12 +4 +\d+ +\d+ .* 0 +0 +0 ",
        r"^ours-sio +12 +4 +\d+ +\d+ .* 0 +0 +0 ",
    ],
    "slow_clients.py": [
        r"^layout +probe +answered failed",
        r"^after +/healthz +5 +0 ",
        r"^after +/api/me +5 +0 ",
        r"^after: the upload made meanwhile answered 201$",
    ],
    "upload_memory.py": [
        r"^upload: .* -> 201, .* stored bytes identical: True$",
        r"^peak RSS growth: [\d.]+ MiB \(budget 64 MiB\)$",
    ],
}


def test_every_benchmark_has_a_smoke_run_here():
    scripts = {path.name for path in BENCH.glob("*.py") if '__name__ == "__main__"' in path.read_text()}
    assert scripts == set(PRINTS)


@pytest.mark.xdist_group("bench")  # one at a time: each starts servers, and some collect static files
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("script", sorted(PRINTS))
def test_the_benchmark_runs(script):
    url = database_url(connection.settings_dict)
    argv = [sys.executable, str(BENCH / script), "--smoke"]
    if script != "contact_details.py":  # reads no database
        argv += ["--database-url", url]
    if script == "messages.py":  # the others start a Redis of their own
        argv += ["--redis", settings.REDIS_URL]
    env = app_env(url, settings.REDIS_URL, PYTHONUNBUFFERED="1")
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)  # the test settings' choice: a script run by hand has none
    connection.close()  # the script empties the database first
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    lines = result.stdout.splitlines()
    missing = [p for p in PRINTS[script] if not any(re.search(p, line) for line in lines)]
    assert missing == [], result.stdout[-4000:]
