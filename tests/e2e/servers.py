"""Real servers for end-to-end tests and benchmarks: a Redis of our own and daphne processes
serving this project, each on a free port. Everything started here is stopped by the caller."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port} after {timeout}s")


def stop_process(proc: subprocess.Popen | None, timeout: float = 10, *, group: bool = False) -> None:
    """Ask a server we started to end (SIGTERM) and wait for it; kill it if it has not ended
    within ``timeout`` seconds. Nothing to do if it never started or has ended. ``group``: the
    server was started in a session of its own (``start_new_session``) and has worker
    processes; whatever is left of its process group is killed too, so no worker outlives a
    master that died first (it would keep its database connections)."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


class RedisServer:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian package redis-server)")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


DAPHNE_BACKLOG = 1024


class Daphne:
    def __init__(self, env: dict[str, str], port: int | None = None, log: Path | None = None):
        self.port = port or free_port()
        self.env = env
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/encounters/"

    def start(self) -> Daphne:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            # as docker/compose.yaml's ws service listens (its backlog)
            [sys.executable, "-m", "daphne", "-e", f"tcp:port={self.port}:interface=127.0.0.1:backlog={DAPHNE_BACKLOG}"]
            + ["k12.asgi:application"],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


def database_url(settings: dict) -> str:
    """The URL of the database a Django connection's ``settings_dict`` describes (the test
    database, for the servers and workers the tests start)."""
    host = settings["HOST"] or "127.0.0.1"
    port = settings["PORT"] or 5432
    auth = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
    return f"postgres://{auth}@{host}:{port}/{settings['NAME']}"


# Every rate limit's setting, lifted: tests and benchmarks act far faster than a person, and the
# limits have tests of their own (tests/k12/test_throttling.py).
UNTHROTTLED = {
    f"THROTTLE_{scope}": "1000000/min"
    for scope in (
        "LOGIN_IP",
        "LOGIN_ACCOUNT",
        "LOGIN_ACCOUNT_TOTAL",
        "REFRESH_IP",
        "REFRESH_ACCOUNT",
        "MESSAGES",
        "UPLOADS",
    )
}


def app_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="k12.settings",
        DJANGO_DEBUG="1",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LOG_LEVEL="WARNING",
    )
    # load tests and benchmarks post far faster than a person; rate limits have their own tests
    for name, rate in UNTHROTTLED.items():
        env.setdefault(name, rate)
    env.update(extra)
    return env


@contextmanager
def running(*servers):
    started = []
    try:
        for server in servers:
            started.append(server.start())
        yield started
    finally:
        for server in reversed(started):
            server.stop()
