#!/usr/bin/env python
"""Chat over REST: what a page and a POST cost at 100, 10,000 and 1,000,000 messages, and
requests/s against the peer (the reference backend in ``--peer-dir``), measured in one run.

    .venv/bin/python bench/messages.py --save    # everything; also writes bench/results/messages-<date>.txt
    .venv/bin/python bench/messages.py --no-peer # our figures only
    .venv/bin/python bench/messages.py --smoke   # seconds: sizes 10 and 100, no peer, wrk for 1 s

What it does, in order:
1. Recreates the PostgreSQL database ``k12_bench`` (127.0.0.1:5432, user postgres, trust auth),
   migrates it, and loads one session per size with INSERT ... SELECT generate_series: per-session
   ``seq`` 1..N, ``last_message_seq = N``, three senders in turn, the peer fixture's phrases as
   texts. Plus a fourth session of 100 messages, used only by the wrk comparison.
2. Starts the app the production way for REST: docker/Dockerfile's command (granian's WSGI
   workers, one Python thread each, ``k12.wsgi``; ``--server gthread|sync`` runs gunicorn
   instead, for comparison), DEBUG off with
   an explicit secret and hosts, a pooled connection per worker (``DB_POOL_MAX=1``), the Redis
   channel layer (every POST's broadcast goes through it), on a free loopback port.
3. Over real HTTP (one sequential client, a new connection per request), interleaving sizes and
   kinds: the newest page (limit 100), a middle page by cursor
   (``before=<id of message N/2>``), a POST. Median and p99 per size, the 1,000,000/100 ratio.
4. The SQL each request runs and ``EXPLAIN (ANALYZE, BUFFERS)`` of the page queries at 1,000,000.
5. wrk (2 threads, 16 connections, 10 s, ``--timeout 10s``, the same for both sides), medians of
   ``--reps`` runs after an unmeasured warm-up, peer and ours alternating: GET of a 100-message
   session, then POST ``{"text":"hello"}``. The peer (``--peer-dir``, default /tmp/nest-seed) must
   have been copied and set up beforehand (``./setup.sh``); this script reloads its fixture
   (``./db.sh``) and starts it (``./start.sh``). GETs run before POSTs, so the peer's session still
   has exactly 100 messages (it returns all of them).
6. Optionally (``--sweep-workers 2,3,4``) one GET and one POST wrk run per worker count.

Every server it starts is stopped on exit, also on failure or Ctrl-C; every wait and loop has a
deadline. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from urllib.parse import urlsplit

from common import add_arguments  # bench/common.py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.e2e.servers import stop_process  # noqa: E402
from tests.e2e.slow_clients import rest_command  # noqa: E402  (docker/Dockerfile's REST process)

BIN = ROOT / ".venv" / "bin"
APP = ROOT  # the tree whose code is measured: the work tree, or with --snapshot an export of HEAD
WRK_DIR = Path(__file__).resolve().parent / "wrk"
RESULTS = Path(__file__).resolve().parent / "results"

# The phrases of the peer's fixture: bodies of the same size on both sides.
PHRASES = [
    "Hi! Ready for today?",
    "Can we go over the homework from last week?",
    "Sure, let us start with question 3.",
    "I did not understand the part about fractions.",
    "Great progress today, keep practising the exercises on page 42.",
    "Running five minutes late, sorry!",
    "Please bring the worksheet next time.",
    "Thanks, see you on Thursday.",
    "Could we move the session to 5pm?",
    "Here is the summary: forces, Newton\u2019s laws, and two worked examples.",
    "What does \u201cphotosynthesis\u201d produce again?",
    "Well done \U0001f44d",
]
PAGE = 100
# The environment we were started with: the peer gets it (never our DATABASE_URL and friends).
BASE_ENV = dict(os.environ)


# --------------------------------------------------------------------------- output


class Tee:
    """Print to the terminal and, with --save, to the results file."""

    def __init__(self, stream, path: Path | None):
        self.stream = stream
        self.file = path.open("w", encoding="utf-8") if path else None

    def write(self, text):
        self.stream.write(text)
        if self.file:
            self.file.write(text)
        return len(text)

    def flush(self):
        self.stream.flush()
        if self.file:
            self.file.flush()


def say(*parts) -> None:
    print(*parts, flush=True)


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.2f} ms" if ms < 100 else f"{ms:.0f} ms"


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


# --------------------------------------------------------------------------- machine


def cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def busy_pct(interval: float = 1.0) -> float:
    b0, t0 = cpu_times()
    time.sleep(interval)
    b1, t1 = cpu_times()
    return 100.0 * (b1 - b0) / max(1, t1 - t0)


QUIET_WAIT = 60.0  # --quiet-wait


def wait_quiet(threshold: float = 15.0, max_wait: float | None = None) -> float:
    """Wait (at most max_wait s) until the machine is under threshold % busy; return the last figure."""
    deadline = time.monotonic() + (QUIET_WAIT if max_wait is None else max_wait)
    busy = busy_pct()
    while busy >= threshold and time.monotonic() < deadline:
        busy = busy_pct()
    return busy


def _ticks(pid: int) -> tuple[int, int, str]:
    """(utime + stime, ppid, comm) of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        raw = f.read()
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12]), int(fields[1]), comm


def _all_procs() -> dict[int, tuple[int, int, str]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                out[int(entry)] = _ticks(int(entry))
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cpu_snapshot(root_pid: int, dbname: str) -> tuple[int, dict[int, int]]:
    """CPU ticks so far of a process and its descendants, and of each PostgreSQL backend connected
    to ``dbname`` (its process title names the database)."""
    procs = _all_procs()
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        for pid, (_, ppid, _) in procs.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    server = sum(procs[p][0] for p in tree if p in procs)
    backends = {
        pid: ticks
        for pid, (ticks, _, comm) in procs.items()
        if comm.startswith("postgres") and f" {dbname} " in _cmdline(pid)
    }
    return server, backends


def cpu_delta_ms(before, after, requests: int) -> tuple[float, float]:
    """(server, PostgreSQL) CPU milliseconds per request between two cpu_snapshot()s."""
    hz = os.sysconf("SC_CLK_TCK")
    server = (after[0] - before[0]) / hz
    postgres = sum(t - before[1].get(pid, 0) for pid, t in after[1].items()) / hz
    return 1000 * server / max(1, requests), 1000 * postgres / max(1, requests)


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# --------------------------------------------------------------------------- servers

_SERVERS: list[Server] = []


class Server:
    """A process group we started; stop() ends it (TERM, then KILL of its own group)."""

    def __init__(self, name: str, argv: list[str], *, cwd: Path, env: dict, log: Path):
        self.name, self.argv, self.cwd, self.env, self.log = name, argv, cwd, env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        _SERVERS.append(self)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        stop_process(proc, 15, group=True)  # started in a session of its own: its workers too
        if self in _SERVERS:
            _SERVERS.remove(self)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def stop_all() -> None:
    for server in list(_SERVERS):
        with contextlib.suppress(Exception):
            server.stop()


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def wait_http(server: Server, port: int, path: str, headers: dict, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited:\n{server.tail()}")
        try:
            status, _, _ = request(port, "GET", path, headers, timeout=5)
            if status == 200:
                return
            last = f"HTTP {status}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready on :{port}{path} within {timeout:.0f} s ({last}):\n{server.tail()}")


def request(port: int, method: str, path: str, headers: dict, body: bytes | None = None, timeout: float = 10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        t0 = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        elapsed = time.perf_counter() - t0
        return resp.status, elapsed, data
    finally:
        conn.close()


# --------------------------------------------------------------------------- our app


def app_env(args) -> dict:
    env = dict(BASE_ENV)
    env.update(
        DJANGO_SETTINGS_MODULE="k12.settings",
        DATABASE_URL=f"{args.pg}/{args.db}",
        REDIS_URL=args.redis,
        CHANNEL_LAYER_PREFIX="k12bench",
        CACHE_KEY_PREFIX="k12bench",
        DB_POOL_MAX="1",  # a worker's one thread: one pooled connection, kept between requests
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-" + "k" * 50,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        # TLS ends at the proxy in production; here the client talks to the REST process directly.
        DJANGO_SECURE_SSL_REDIRECT="0",
        JWT_ACCESS_MINUTES=str(24 * 60),
        # The per-user POST limit (60/min by default) stays in the request path (one Redis INCR a
        # POST) but must not turn a load test from one user into 429s.
        THROTTLE_MESSAGES="100000000/min",
        LOG_LEVEL="WARNING",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def start_rest(args, workers: int, logdir: Path) -> tuple[Server, int]:
    """The REST process with ``workers`` workers: production's (docker/Dockerfile), or gunicorn."""
    port = free_port()
    if args.server == "granian":
        argv = rest_command(port, ["--workers", str(workers), "--backlog", "256"])
        argv[0] = str(BIN / "python")
    else:
        argv = [
            str(BIN / "gunicorn"),
            "k12.wsgi:application",
            "--worker-class",
            args.server,
            *(["--threads", "1", "--keep-alive", "5"] if args.server == "gthread" else []),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--backlog",
            "256",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
        ]
    server = Server(f"{args.server} x{workers}", argv, cwd=APP, env=app_env(args), log=logdir / "rest.log").start()
    wait_http(server, port, "/healthz", {})
    return server, port


def create_database(args) -> None:
    import psycopg

    if not args.database_url:  # made afresh; one given is emptied and kept
        with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{args.db}"')
    subprocess.run(
        [str(BIN / "python"), "manage.py", "flush" if args.database_url else "migrate", "--noinput", "-v", "0"],
        cwd=APP,
        env=app_env(args),
        check=True,
        timeout=600,
    )


def setup_django(args) -> None:
    os.environ.update(app_env(args))
    # WhiteNoise warns once that STATIC_ROOT was never collected: irrelevant to an API benchmark.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    sys.path.insert(0, str(APP))
    import django

    django.setup()


def _bulk_insert_sql(booking, senders: list, t0: dt.datetime, n: int, seq_from: int = 0) -> tuple[str, list]:
    """INSERT ... SELECT generate_series for n messages of one session. Columns the benchmark does
    not care about (added by later features) get their model default, so the loader follows the
    model as it grows."""
    from django.db import connection

    from sessions_app.models import SessionMessage

    ours = {
        "id": ("gen_random_uuid()", []),
        "session_id": ("%s", [booking.pk]),
        "user_id": ("(%s::uuid[])[1 + g %% 3]", [senders]),
        "seq": ("%s + g", [seq_from]),
        "text": ("(%s::text[])[1 + g %% 12]", [PHRASES]),
        "created_at": ("%s::timestamptz + g * interval '2 seconds'", [t0]),
    }
    columns, exprs, params = [], [], []
    for field in SessionMessage._meta.concrete_fields:
        if field.column in ours:
            expr, values = ours[field.column]
        else:
            expr, values = "%s", [field.get_db_prep_save(field.get_default(), connection)]
        columns.append(connection.ops.quote_name(field.column))
        exprs.append(expr)
        params.extend(values)
    table = connection.ops.quote_name(SessionMessage._meta.db_table)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(exprs)} FROM generate_series(1, %s) AS g"
    return sql, [*params, n]


def load_fixture(sizes: list[int]) -> dict:
    """Users, a student, one session per size (+ one of 100 for wrk), messages by generate_series."""
    from django.db import connection
    from rest_framework_simplejwt.tokens import AccessToken

    from k12.models import Booking, Role, Student, Subject, User
    from sessions_app.models import SessionMessage

    parent = User.objects.create_user(
        "parent@bench.test", None, first_name="Paula", last_name="Parker", role=Role.PARENT
    )
    tutor = User.objects.create_user("tutor@bench.test", None, first_name="Tom", last_name="", role=Role.TUTOR)
    student = User.objects.create_user(
        "student@bench.test", None, first_name="Sam", last_name="Parker", role=Role.STUDENT
    )
    child = Student.objects.create(parent=parent, user=student, first_name="Sam", last_name="Parker", grade=7)
    math = Subject.objects.create(name="Math")
    senders = [parent.id, tutor.id, student.id]
    table_name = SessionMessage._meta.db_table
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    sessions = []
    # "wrk": the wrk comparison (GETs run before POSTs); "sweep": GETs of the worker sweep (never
    # posted to, so its statistics stay true); "stale": the stale-statistics check.
    extra = [("wrk", PAGE), ("sweep", PAGE), ("stale", PAGE)]
    for i, (label, n) in enumerate([*((f"{n:,}", n) for n in sizes), *extra]):
        starts = dt.datetime(2031, 1, 1, 10, tzinfo=dt.UTC) + dt.timedelta(days=i)
        booking = Booking.objects.create(
            student=child,
            tutor=tutor,
            subject=math,
            starts_at=starts,
            duration_minutes=60,
            ends_at=starts + dt.timedelta(minutes=60),
        )
        t0 = time.perf_counter()
        sql, params = _bulk_insert_sql(booking, senders, now - dt.timedelta(seconds=2 * n + 60), n)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        Booking.objects.filter(pk=booking.pk).update(last_message_seq=n)
        mid = SessionMessage.objects.filter(session=booking, seq=max(1, n // 2)).values_list("id", flat=True).get()
        say(f"  session {label:>9}: {n:>9,} messages loaded in {time.perf_counter() - t0:6.1f} s")
        sessions.append({"label": label, "n": n, "id": str(booking.id), "mid": str(mid), "mid_seq": max(1, n // 2)})
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table_name}")
        cursor.execute(f"VACUUM ANALYZE {Booking._meta.db_table}")
    say(f"  VACUUM ANALYZE in {time.perf_counter() - t0:.1f} s")
    # checks: seq 1..N without gaps, last_message_seq = N
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.id, b.last_message_seq, count(m.id), min(m.seq), max(m.seq), count(DISTINCT m.user_id) "
            f"FROM {Booking._meta.db_table} b JOIN {table_name} m ON m.session_id = b.id GROUP BY b.id"
        )
        for bid, last, count, lo, hi, nsenders in cursor.fetchall():
            s = next(s for s in sessions if s["id"] == str(bid))
            assert last == count == hi == s["n"] and lo == 1 and nsenders == 3, (s, last, count, lo, hi)
    token = str(AccessToken.for_user(parent))
    return {"sessions": sessions, "token": token, "parent": str(parent.id), "senders": senders}


def sql_per_request(fx: dict, big: dict) -> list[str]:
    """The SQL each request runs, in-process through Django's test client (same code, same settings)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {fx['token']}")
    out = []
    base = f"/api/sessions/{big['id']}/messages"
    for name, call in (
        ("GET newest page", lambda: client.get(base, {"limit": PAGE})),
        ("GET middle page", lambda: client.get(base, {"limit": PAGE, "before": big["mid"]})),
        ("POST", lambda: client.post(base, {"text": "hello"}, content_type="application/json")),
    ):
        call()  # warm
        with CaptureQueriesContext(connection) as ctx:
            response = call()
        assert response.status_code in (200, 201), response.status_code
        out.append(f"{name}: HTTP {response.status_code}, {len(ctx.captured_queries)} queries")
        for q in ctx.captured_queries:
            sql = re.sub(r"\s+", " ", q["sql"])
            out.append(f"    {sql[:160]}{'...' if len(sql) > 160 else ''}")
    return out


def _per_call(fn, n: int) -> float:
    """Median seconds per call of fn over n calls (after 20 unmeasured)."""
    for _ in range(20):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def breakdown(fx: dict, session: dict, n: int = 300) -> list[str]:
    """Where a request's time goes: the chat viewset's steps (sessions_app/chat/viewsets.py), run in
    its order n times in this process (no HTTP, no concurrency), each timed; and the whole
    request through Django's WSGI handler. What the whole costs beyond the steps is Django and
    DRF, the middleware, the connection health check and (POST) the rate limit."""
    import io
    from wsgiref.util import setup_testing_defaults

    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from rest_framework.renderers import JSONRenderer

    from k12 import authentication, permissions
    from sessions_app.chat import selectors, services
    from sessions_app.chat.payloads import message_payload, row_payload

    jwt = authentication.JWTAuthentication()
    render = JSONRenderer().render

    app = WSGIHandler()
    path = f"/api/sessions/{session['id']}/messages"

    def whole(method: str, query: str = "", body: bytes = b"", url: str = path, bearer: bool = True):
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": url,
            "QUERY_STRING": query,
            "HTTP_HOST": "127.0.0.1",
            "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/json",
        }
        if bearer:
            environ["HTTP_AUTHORIZATION"] = f"Bearer {fx['token']}"
        setup_testing_defaults(environ)
        status = []
        out = b"".join(app(environ, lambda s, h, exc_info=None: status.append(s)))
        assert status[0][:3] in ("200", "201"), (status, out[:200])

    raw = fx["token"]
    session_pk = uuid.UUID(session["id"])
    token_request = type("Request", (), {"META": {"HTTP_AUTHORIZATION": f"Bearer {raw}"}})()

    def select_one():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchall()

    def viewer_and_session():
        viewer, _ = jwt.authenticate(token_request)
        booking = permissions.fetch_booking(viewer, session_pk)
        return viewer, booking

    def get_steps():
        authentication._verified.clear()
        jwt.authenticate(token_request)
        yield "token: decode and verify (first use; later uses are remembered)"
        viewer, booking = viewer_and_session()
        yield "token remembered; viewer + session (1 query, full model objects)"
        permissions.can_view_booking(viewer, booking)
        yield "permissions.can_view_booking"
        page = selectors.messages_page(session_pk, limit=PAGE)
        yield "messages_page(limit=100): 1 query, 101 rows rendered as text by the database"
        data = [row_payload(row, staff=False) for row in page.messages]
        yield "row_payload x 100"
        render(data)
        yield "JSON rendering"

    def post_steps():
        viewer, booking = viewer_and_session()
        yield "token remembered; viewer + session (1 query, full model objects)"
        message, _ = services.message_create(booking=booking, sender=viewer, text="hello")
        yield "message_create: one statement (seq bump + INSERT, autocommit), then the PUBLISH on commit"
        render(message_payload(message))
        yield "payload + JSON rendering"

    def run_steps(steps, count):
        times: dict[str, list[float]] = {}
        for _ in range(count):
            t0 = time.perf_counter()
            for label in steps():
                t1 = time.perf_counter()
                times.setdefault(label, []).append(t1 - t0)
                t0 = t1
        return {label: statistics.median(t) for label, t in times.items()}

    out = [f"(median wall time, {n} runs each, one process; machine {busy_pct():.0f}% busy before)"]
    for title, method, body, steps in (
        ("GET a page of 100", "GET", b"", get_steps),
        ("POST a message", "POST", b'{"text":"hello"}', post_steps),
    ):
        run_steps(steps, 20)
        parts = run_steps(steps, n)
        total = _per_call(lambda m=method, b=body: whole(m, f"limit={PAGE}" if m == "GET" else "", b), n)
        out.append(f"  {fmt_ms(total):>9}  {title}: the whole request through Django's WSGI handler")
        for label, t in parts.items():
            out.append(f"  {fmt_ms(t):>9}    {label}")
        rest = total - sum(parts.values())
        out.append(f"  {fmt_ms(rest):>9}    the rest: Django, middleware, connection health check, throttle (POST)")
    one = _per_call(select_one, n)
    out.append(f"  {fmt_ms(one):>9}  one SELECT 1 round trip (conn_health_checks makes one a request)")
    out.append(
        f"  {fmt_ms(_per_call(lambda: whole('GET', url='/healthz', bearer=False), n)):>9}  "
        "GET /healthz through the WSGI handler (the middleware stack alone)"
    )
    return out


def stale_statistics(fx: dict, grow: int = 20_000) -> list[str]:
    """A session that grew after the last ANALYZE (what a busy new session looks like between two
    autovacuum analyzes): does its newest page still read 101 rows, or all of them?"""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from k12.models import Booking
    from sessions_app.chat import selectors
    from sessions_app.models import SessionMessage

    session = next(s for s in fx["sessions"] if s["label"] == "stale")
    booking = Booking.objects.get(pk=session["id"])
    start = booking.last_message_seq
    sql, params = _bulk_insert_sql(booking, fx["senders"], dt.datetime.now(dt.UTC), grow, seq_from=start)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    Booking.objects.filter(pk=booking.pk).update(last_message_seq=start + grow)
    total = SessionMessage.objects.filter(session=booking).count()
    with CaptureQueriesContext(connection) as ctx:
        selectors.messages_page(booking.pk, limit=PAGE)
    with connection.cursor() as cursor:
        for _ in range(2):
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + ctx.captured_queries[-1]["sql"])
            plan = [row[0] for row in cursor.fetchall()]
    reads_all = any("Sort Key" in line for line in plan)
    verdict = (
        f"PROBLEM: the page reads all {total:,} rows and sorts them (the cost grows with the history)"
        if reads_all
        else "ok: a backward range scan of (session_id, seq), 101 rows"
    )
    return [f"-- newest page of a session analyzed at {start} messages that now has {total:,}: {verdict}", *plan]


def explain_pages(big: dict) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the exact SQL messages_page runs (captured from Django)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from k12.models import Booking
    from sessions_app.chat import selectors

    booking = Booking.objects.select_related("student").get(pk=big["id"])
    out = []
    middle = f"middle page (before = seq {big['mid_seq']:,})"
    for name, kwargs in (("newest page", {}), (middle, {"before": big["mid"]})):
        with CaptureQueriesContext(connection) as ctx:
            page = selectors.messages_page(booking.pk, limit=PAGE, **kwargs)
        assert page.messages
        for q in ctx.captured_queries:
            with connection.cursor() as cursor:
                for _ in range(2):  # the second run is the warm one, as in the server
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + q["sql"])
                    plan = [row[0] for row in cursor.fetchall()]
            out.append(f"-- {name}, {big['n']:,} messages:")
            out.append(q["sql"])
            out.extend(plan)
            out.append("")
    return out


# --------------------------------------------------------------------------- latency


def measure_latency(port: int, fx: dict, samples: int, warmup: int, deadline_s: float) -> dict:
    """Sequential requests, sizes and kinds interleaved in a shuffled order each round."""
    auth = {"Authorization": f"Bearer {fx['token']}", "Host": "127.0.0.1"}
    post_headers = {**auth, "Content-Type": "application/json"}
    rng = random.Random(3)
    jobs = []
    for s in fx["sessions"]:
        if s["label"] in ("wrk", "sweep", "stale"):
            continue
        base = f"/api/sessions/{s['id']}/messages"
        jobs.append((s["label"], "newest", "GET", f"{base}?limit={PAGE}", auth, None, 200))
        jobs.append((s["label"], "middle", "GET", f"{base}?limit={PAGE}&before={s['mid']}", auth, None, 200))
        jobs.append((s["label"], "post", "POST", base, post_headers, b'{"text":"hello"}', 201))
    times: dict[tuple[str, str], list[float]] = {(j[0], j[1]): [] for j in jobs}
    rows: dict[tuple[str, str], int] = {}
    deadline = time.monotonic() + deadline_s
    done = 0
    # GETs first, then POSTs: a page is read while its session holds exactly its N messages.
    phases = [[j for j in jobs if j[2] == "GET"], [j for j in jobs if j[2] == "POST"]]
    for round_no in [r for _ in phases for r in range(warmup + samples)]:
        if round_no == 0:
            phase = phases.pop(0)
        if time.monotonic() > deadline:
            say(f"  (deadline of {deadline_s:.0f} s reached)")
            break
        order = phase[:]
        rng.shuffle(order)
        for label, kind, method, path, headers, body, expected in order:
            status, elapsed, data = request(port, method, path, headers, body)
            if status != expected:
                raise RuntimeError(f"{method} {path}: HTTP {status} {data[:300]!r}")
            if round_no >= warmup:
                times[(label, kind)].append(elapsed)
            if method == "GET":
                rows[(label, kind)] = len(json.loads(data))
        if round_no >= warmup:
            done += 1
    return {"times": times, "rows": rows, "rounds": done // 2}


# --------------------------------------------------------------------------- wrk

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(url: str, script: str, token: str, duration: int) -> dict:
    argv = [
        "wrk",
        "-t2",
        "-c16",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(WRK_DIR / script),
        url,
    ]
    done = subprocess.run(argv, env={**BASE_ENV, "TOKEN": token}, capture_output=True, text=True, timeout=duration + 60)
    out = done.stdout
    if done.returncode != 0 or "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed ({done.returncode}): {out}\n{done.stderr}")
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _seconds(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99": _seconds(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non2xx": 0,
        "errors": "",
    }
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        result["non2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors:\s+(.*)", out):
        result["errors"] = m.group(1).strip()
    return result


class Target:
    def __init__(self, name: str, server: Server, port: int, path: str, token: str, dbname: str):
        self.name, self.server, self.port, self.path, self.token = name, server, port, path, token
        self.dbname = dbname

    def url(self, kind: str) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


def compare(targets: list[Target], reps: int, duration: int, warmup: int) -> dict:
    """GETs first (all reps), then POSTs; the order of the targets alternates each rep."""
    results: dict[tuple[str, str], list[dict]] = {}
    for kind, script in (("GET", "get.lua"), ("POST", "post.lua")):
        for t in targets:
            if warmup:
                run_wrk(t.url(kind), script, t.token, warmup)
        for rep in range(reps):
            order = targets if rep % 2 == 0 else targets[::-1]
            for t in order:
                busy = wait_quiet()
                cpu0 = cpu_snapshot(t.server.proc.pid, t.dbname)
                r = run_wrk(t.url(kind), script, t.token, duration)
                cpu1 = cpu_snapshot(t.server.proc.pid, t.dbname)
                r["server_ms"], r["pg_ms"] = cpu_delta_ms(cpu0, cpu1, r["requests"])
                r["busy_before"] = busy
                r["load"] = loadavg()
                results.setdefault((t.name, kind), []).append(r)
                say(
                    f"  {kind:4} {t.name:5} run {rep + 1}/{reps}: {r['rps']:8.1f} req/s  p50 {fmt_ms(r['p50']):>9}  "
                    f"p99 {fmt_ms(r['p99']):>9}  {r['requests']:6} requests  non-2xx {r['non2xx']}  "
                    f"server CPU {r['server_ms']:.2f} ms/req  PostgreSQL CPU {r['pg_ms']:.2f} ms/req  "
                    f"{('socket errors: ' + r['errors']) if r['errors'] else ''}(machine {busy:.0f}% busy before, "
                    f"load {r['load']})"
                )
    return results


def summarize(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99", "server_ms", "pg_ms")} | {
        "min": min(r["rps"] for r in runs),
        "max": max(r["rps"] for r in runs),
        "non2xx": sum(r["non2xx"] for r in runs),
    }


# --------------------------------------------------------------------------- profile

_BOILERPLATE = ("gunicorn/", "<module>", "threading.py", "concurrent/futures", "selectors.py", "process ", "(base.py)")
_BOILERPLATE += ("(wsgiapp.py)",)


def profile(server: Server, url: str, script: str, token: str, seconds: int, logdir: Path) -> list[str]:
    """py-spy (sampling, all REST workers) during a wrk run with the comparison's settings.
    Returns the frames that hold the most samples, inclusive and self."""
    spy = BIN / "py-spy"
    if not spy.exists():
        return ["(py-spy is not installed: .venv/bin/pip install -r requirements-dev.txt)"]
    out_file = logdir / f"py-spy-{script}.txt"
    argv = [str(spy), "record", "--pid", str(server.proc.pid), "--subprocesses", "--rate", "100"]
    argv += ["--duration", str(seconds), "--format", "raw", "--output", str(out_file), "--nonblocking"]
    with (logdir / "py-spy.log").open("ab") as log:
        spy_proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            time.sleep(1)
            r = run_wrk(url, script, token, seconds)
        finally:
            try:
                spy_proc.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                spy_proc.kill()
                spy_proc.wait(timeout=10)
    if not out_file.exists():
        return ["(py-spy wrote nothing; see py-spy.log)"]
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in out_file.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        names = []
        for frame in stack.split(";"):
            m = re.match(r"(.*) \((.*?):\d+\)$", frame)
            name = f"{m.group(1)} ({m.group(2).split('site-packages/')[-1].split('/app/')[-1]})" if m else frame
            names.append(name)
        for name in set(names):
            inclusive[name] = inclusive.get(name, 0) + n
        own[names[-1]] = own.get(names[-1], 0) + n
    lines = [
        f"{r['rps']:.0f} req/s while sampled (py-spy slows the workers); {total} samples, % of all samples "
        "(waiting on PostgreSQL included)"
    ]
    lines.append("  inclusive (the frame and what it calls):")
    shown = 0
    for name, n in sorted(inclusive.items(), key=lambda kv: -kv[1]):
        if any(b in name for b in _BOILERPLATE) or n < total * 0.02:
            continue
        lines.append(f"    {100 * n / total:5.1f}%  {name}")
        shown += 1
        if shown >= 45:
            break
    lines.append("  self (time in the frame itself):")
    for name, n in sorted(own.items(), key=lambda kv: -kv[1])[:15]:
        lines.append(f"    {100 * n / total:5.1f}%  {name}")
    return lines


# --------------------------------------------------------------------------- the peer


def peer_env(**extra) -> dict:
    env = {k: v for k, v in BASE_ENV.items() if k not in ("DATABASE_URL", "JWT_SECRET", "PORT", "HOST")}
    db = BASE_ENV.get("PEER_DB_NAME")
    if db:  # a database of one's own on a shared machine (db.sh reads DB_NAME, start.sh DATABASE_URL)
        env.update(DB_NAME=db, DATABASE_URL=f"postgresql://postgres@127.0.0.1:5432/{db}")
    return {**env, **extra}


def peer_prepare(peer_dir: Path, logdir: Path) -> dict:
    if not (peer_dir / "dist" / "main.js").exists():
        raise RuntimeError(
            f"{peer_dir} is not set up: cp -r ../shared/peers/nest-seed {peer_dir} && cd {peer_dir} && ./setup.sh"
        )
    with (logdir / "peer-db.log").open("wb") as log:
        subprocess.run(
            ["./db.sh"], cwd=peer_dir, env=peer_env(), stdout=log, stderr=subprocess.STDOUT, check=True, timeout=300
        )
    return json.loads((peer_dir / "fixture.json").read_text())


def peer_start(peer_dir: Path, port: int, logdir: Path, fixture: dict) -> Server:
    env = peer_env(PORT=str(port))
    server = Server("peer", ["./start.sh"], cwd=peer_dir, env=env, log=logdir / "peer.log").start()
    headers = {"Authorization": f"Bearer {fixture['tokens']['parent']}"}
    wait_http(server, port, f"/sessions/{fixture['booking1Id']}/recordings", headers)
    return server


# --------------------------------------------------------------------------- main


def versions() -> str:
    def first_line(argv):
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"

    return "; ".join(
        [
            f"Python {sys.version.split()[0]}",
            first_line([str(BIN / "granian"), "--version"]),
            first_line([str(BIN / "gunicorn"), "--version"]),
            first_line(["psql", "--version"]),
            f"node {first_line(['node', '-v'])}",
            first_line(["wrk", "-v"]),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--db", default="k12_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--sizes", default="100,10000,1000000")
    parser.add_argument("--workers", type=int, default=3, help="REST workers (see README, Benchmarks)")
    parser.add_argument(
        "--server",
        default="granian",
        choices=["granian", "gthread", "sync"],
        help="granian (docker/Dockerfile: production's REST tier), or gunicorn's gthread (one thread, "
        "keep-alive) or sync (a connection per request) workers, for comparison",
    )
    parser.add_argument("--samples", type=int, default=400, help="measured rounds of the latency part")
    parser.add_argument("--peer-dir", type=Path, default=Path("/tmp/nest-seed"))
    parser.add_argument("--peer-port", type=int, default=3000)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--reps", type=int, default=5, help="wrk runs per target and kind (medians)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured wrk load per target first")
    parser.add_argument(
        "--quiet-wait", type=float, default=60.0, help="seconds to wait for a quiet machine before each wrk run"
    )
    parser.add_argument("--sweep-workers", default="", help="e.g. 2,3,4: one GET and one POST wrk run per count")
    parser.add_argument(
        "--snapshot",
        action="store_true",
        help="measure the committed HEAD (git archive to a temporary folder), not the work tree",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the REST workers during an extra GET and POST wrk run"
    )
    parser.add_argument("--save", action="store_true", help="also write bench/results/messages-<date>[-<tag>].txt")
    parser.add_argument("--tag", default="", help="with --save: a suffix for the file's name")
    add_arguments(parser)
    args = parser.parse_args()
    if args.database_url:
        url = urlsplit(args.database_url)
        args.pg, args.db = f"{url.scheme}://{url.netloc}", url.path.lstrip("/")
    if args.smoke:
        args.sizes, args.samples, args.no_peer, args.quiet_wait = "10,100", 10, True, 0.0
        args.sweep_workers, args.duration, args.warmup, args.workers = "1", 1, 1, 1
    sizes = [int(x) for x in args.sizes.split(",")]
    global QUIET_WAIT
    QUIET_WAIT = args.quiet_wait

    if args.save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        name = "-".join(part for part in ("messages", dt.date.today().isoformat(), args.tag) if part)
        sys.stdout = Tee(sys.__stdout__, RESULTS / f"{name}.txt")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    atexit.register(stop_all)
    if shutil.which("wrk") is None and not (args.no_peer and not args.sweep_workers and not args.profile):
        say("wrk is missing: apt-get install -y wrk")
        return 2
    logdir = Path(tempfile.mkdtemp(prefix="k12-bench-"))
    global APP
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    code = f"commit {head.stdout.strip()}"
    if args.snapshot:
        APP = logdir / "app"
        APP.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(APP)], input=archive.stdout, check=True)
    else:
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True)
        code += " + uncommitted changes in the work tree" if dirty.stdout.strip() else ""
    started = time.monotonic()
    try:
        say(f"# bench/messages.py, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
        say(f"code measured: {code} ({APP})")
        say(f"machine: {os.cpu_count()} cores; {versions()}")
        say(f"load average at start: {loadavg()}; machine busy now: {busy_pct():.0f}%; server logs in {logdir}")
        say()
        say(f"## Fixture: database {args.db}")
        t0 = time.perf_counter()
        create_database(args)
        say(f"  created and migrated in {time.perf_counter() - t0:.1f} s")
        setup_django(args)
        fx = load_fixture(sizes)
        from django.db import connection

        connection.close()

        say()
        say(
            f"## Our app: {args.server}, {args.workers} workers on k12.wsgi, DEBUG off, "
            "pooled connections (DB_POOL_MAX=1), "
            "Redis channel layer"
        )
        server, port = start_rest(args, args.workers, logdir)
        say(f"  listening on 127.0.0.1:{port}")
        say()
        say(
            f"## Latency over HTTP: {args.samples} rounds (after 20 unmeasured), one sequential client, "
            "sizes and kinds shuffled each round"
        )
        say(f"  machine busy before: {wait_quiet():.0f}%, load {loadavg()}")
        lat = measure_latency(port, fx, args.samples, 2 if args.smoke else 20, deadline_s=300)
        say(f"  load after: {loadavg()}")
        say()
        rows = []
        meds = {}
        for s in fx["sessions"]:
            if s["label"] in ("wrk", "sweep", "stale"):
                continue
            cells = [f"{s['n']:,}"]
            for kind in ("newest", "middle", "post"):
                t = lat["times"][(s["label"], kind)]
                meds[(s["n"], kind)] = (statistics.median(t), pct(t, 99))
                cells += [fmt_ms(statistics.median(t)), fmt_ms(pct(t, 99))]
                if kind != "post":
                    cells.append(str(lat["rows"][(s["label"], kind)]))
            rows.append(cells)
        say(
            table(
                [
                    "messages",
                    "newest p50",
                    "newest p99",
                    "rows",
                    "middle p50",
                    "middle p99",
                    "rows",
                    "POST p50",
                    "POST p99",
                ],
                rows,
            )
        )
        say(f"  ({lat['rounds']} samples per cell; the middle page is before=<message N/2>, limit {PAGE})")
        big, small = max(sizes), min(sizes)
        say()
        for kind, label in (("newest", "newest page"), ("middle", "middle page")):
            (m1, p1), (m0, p0) = meds[(big, kind)], meds[(small, kind)]
            say(
                f"page-time({big:,}) / page-time({small:,}), {label}: median {m1 / m0:.2f}, p99 {p1 / p0:.2f}"
                f"   (target <= 1.5)"
            )
        say("  (at 100 messages the middle page holds 49 rows; the newest-page ratio compares two full pages)")

        say()
        say(f"## SQL per request at {big:,} messages (in-process, same code and settings)")
        big_session = next(s for s in fx["sessions"] if s["n"] == big)
        for line in sql_per_request(fx, big_session):
            say(line)
        say()
        say("## Where a request's time goes (the view's steps in order, in-process, 100-message session)")
        for line in breakdown(fx, next(s for s in fx["sessions"] if s["n"] == small), n=20 if args.smoke else 300):
            say(line)
        say()
        say(f"## EXPLAIN (ANALYZE, BUFFERS) of the page queries at {big:,} messages (warm, second run)")
        for line in explain_pages(big_session):
            say(line)
        say("## Plan with stale statistics (no ANALYZE since the session grew; autovacuum analyzes after 10 % of")
        say("## the table changed, so a new session can grow large long before its statistics know it)")
        for line in stale_statistics(fx, grow=500 if args.smoke else 20_000):
            say(line)
        say()
        connection.close()

        if not args.no_peer:
            say(f"## Peer vs ours, wrk -t2 -c16 -d{args.duration}s --timeout 10s --latency")
            peer_fx = peer_prepare(args.peer_dir, logdir)
            peer_port = args.peer_port if port_is_free(args.peer_port) else free_port()
            peer = peer_start(args.peer_dir, peer_port, logdir, peer_fx)
            ours_wrk = next(s for s in fx["sessions"] if s["label"] == "wrk")
            peer_path = f"/sessions/{peer_fx['booking1Id']}/messages"
            ours_path = f"/api/sessions/{ours_wrk['id']}/messages"
            # what each GET returns
            peer_auth = {"Authorization": f"Bearer {peer_fx['tokens']['parent']}"}
            _, _, pbody = request(peer_port, "GET", peer_path, peer_auth)
            _, _, obody = request(port, "GET", ours_path, {"Authorization": f"Bearer {fx['token']}"})
            say(
                f"  peer: node on :{peer_port}, GET {peer_path} -> {len(json.loads(pbody))} messages, "
                f"{len(pbody):,} bytes"
            )
            say(
                f"  ours: {args.server} x{args.workers} on :{port}, GET {ours_path} -> "
                f"{len(json.loads(obody))} messages, {len(obody):,} bytes"
            )
            say(f"  {args.reps} runs per side and kind after {args.warmup} s of unmeasured load each; GETs first")
            targets = [
                Target(
                    "peer",
                    peer,
                    peer_port,
                    peer_path,
                    peer_fx["tokens"]["parent"],
                    BASE_ENV.get("PEER_DB_NAME", "nest_seed"),
                ),
                Target("ours", server, port, ours_path, fx["token"], args.db),
            ]
            res = compare(targets, args.reps, args.duration, args.warmup)
            peer.stop()
            say()
            rows = []
            summ = {key: summarize(runs) for key, runs in res.items()}
            for kind in ("GET", "POST"):
                for name in ("peer", "ours"):
                    s = summ[(name, kind)]
                    rows.append(
                        [
                            f"{kind} {'100-message session' if kind == 'GET' else 'a message'}",
                            name,
                            f"{s['rps']:.0f}",
                            f"{s['min']:.0f}-{s['max']:.0f}",
                            fmt_ms(s["p50"]),
                            fmt_ms(s["p99"]),
                            str(s["non2xx"]),
                            f"{s['server_ms']:.2f} ms",
                            f"{s['pg_ms']:.2f} ms",
                        ]
                    )
            headers = ["load", "server", "req/s (median)", "min-max", "p50", "p99", "non-2xx"]
            headers += ["server CPU/req", "PG CPU/req"]
            say(table(headers, rows))
            say()
            for kind in ("GET", "POST"):
                ratio = summ[("ours", kind)]["rps"] / summ[("peer", kind)]["rps"]
                pairs = [o["rps"] / p["rps"] for o, p in zip(res[("ours", kind)], res[("peer", kind)], strict=True)]
                verdict = "met" if ratio >= 1.5 else "MISSED"
                say(
                    f"ours/peer req/s, {kind}: {ratio:.2f}x (ratio of medians; per back-to-back pair "
                    f"{', '.join(f'{x:.2f}' for x in pairs)})   target >= 1.5x: {verdict}"
                )
        if args.profile:
            for kind, script, label in (("GET", "get.lua", "sweep"), ("POST", "post.lua", "wrk")):
                sess = next(s for s in fx["sessions"] if s["label"] == label)
                url = f"http://127.0.0.1:{port}/api/sessions/{sess['id']}/messages"
                say()
                say(f"## Profile of our {kind} under wrk (py-spy, all {args.workers} workers, {args.duration} s)")
                say(f"  machine busy before: {wait_quiet():.0f}%")
                for line in profile(server, url, script, fx["token"], args.duration, logdir):
                    say(line)
        server.stop()

        if args.sweep_workers:
            say()
            say(f"## {args.server} worker count: one GET and one POST wrk run per count (same settings)")
            rows = []
            ours_wrk = next(s for s in fx["sessions"] if s["label"] == "wrk")
            ours_sweep = next(s for s in fx["sessions"] if s["label"] == "sweep")
            for w in [int(x) for x in args.sweep_workers.split(",")]:
                srv, p = start_rest(args, w, logdir)
                cells = [str(w)]
                for kind, script, sess in (("GET", "get.lua", ours_sweep), ("POST", "post.lua", ours_wrk)):
                    t = Target("ours", srv, p, f"/api/sessions/{sess['id']}/messages", fx["token"], args.db)
                    run_wrk(t.url(kind), script, fx["token"], max(2, args.warmup))
                    busy = wait_quiet()
                    cpu0 = cpu_snapshot(srv.proc.pid, args.db)
                    r = run_wrk(t.url(kind), script, fx["token"], args.duration)
                    server_ms, _ = cpu_delta_ms(cpu0, cpu_snapshot(srv.proc.pid, args.db), r["requests"])
                    cells += [f"{r['rps']:.0f}", fmt_ms(r["p50"]), fmt_ms(r["p99"])]
                    cells += [f"{server_ms:.2f} ms", f"{busy:.0f}%"]
                srv.stop()
                rows.append(cells)
            headers = ["workers", "GET req/s", "p50", "p99", "CPU/req", "busy before"]
            headers += ["POST req/s", "p50", "p99", "CPU/req", "busy before"]
            say(table(headers, rows))
        say()
        say(f"load average at end: {loadavg()}; total {time.monotonic() - started:.0f} s")
        return 0
    except SystemExit as exc:
        say(f"stopped (exit {exc.code}); stopping the servers")
        raise
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
