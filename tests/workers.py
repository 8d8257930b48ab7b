"""Real background workers for the tests: ``celery -A k12 worker`` processes on the test
database and Redis (a queue of the test process's own), and a fake SMTP server that can answer
at once, hang, or be down. Everything started here is stopped by the fixture that started it."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from tests.e2e.servers import ROOT, app_env, free_port

ARTIFACTS = ROOT / "artifacts"


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes


class FakeSMTP:
    """Just enough SMTP for Django's backend (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT).

    - ``hang_at``: ``"greeting"`` holds the connection's greeting for ``hang_seconds``;
      ``"data"`` holds the answer to the message's final dot, and a client that goes away
      meanwhile delivers nothing (as with a real server);
    - ``hang_connections``: how many connections hang (then it answers at once again);
    - ``stop()``/``start()``: down (connection refused) and up again on the same port.
    A message counts as delivered, into ``mails``, when the server has answered 250 to it.
    """

    def __init__(self):
        self.port = free_port()
        self.mails: list[Mail] = []
        self.connections = 0
        self.hang_at: str | None = None
        self.hang_seconds = 0.0
        self.hang_connections = 0
        self.data_received = threading.Event()
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> FakeSMTP:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None

    @contextlib.contextmanager
    def down(self):
        """Connection refused while inside; up again on the same port after."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def hang(self, at: str, seconds: float, connections: int = 1) -> None:
        self.hang_at, self.hang_seconds, self.hang_connections = at, seconds, connections
        self.data_received.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                hang = self.hang_at if self.hang_connections > 0 else None
                if hang:
                    self.hang_connections -= 1
            threading.Thread(target=self._serve, args=(conn, hang), daemon=True).start()

    def _hold(self, conn: socket.socket) -> bool:
        """Wait ``hang_seconds``; False if the client went away meanwhile."""
        deadline = time.monotonic() + self.hang_seconds
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([conn], [], [], min(left, 0.1))
            if readable and not conn.recv(1, socket.MSG_PEEK):
                return False
        return True

    def _serve(self, conn: socket.socket, hang: str | None) -> None:
        with conn, conn.makefile("rb") as lines:

            def reply(text: str) -> None:
                conn.sendall(text.encode() + b"\r\n")

            try:
                if hang == "greeting" and not self._hold(conn):
                    return
                reply("220 fake ESMTP")
                sender, recipients = "", []
                while line := lines.readline():
                    command = line.decode(errors="replace").strip()
                    verb = command[:4].upper()
                    if verb in ("EHLO", "HELO"):
                        reply("250 fake")
                    elif verb == "MAIL":
                        sender, recipients = command[10:].strip("<> "), []
                        reply("250 OK")
                    elif verb == "RCPT":
                        recipients.append(command[8:].strip("<> "))
                        reply("250 OK")
                    elif verb == "DATA":
                        reply("354 go ahead")
                        data = b""
                        while (chunk := lines.readline()) not in (b".\r\n", b""):
                            data += chunk
                        self.data_received.set()
                        if hang == "data" and not self._hold(conn):
                            return  # the client died before we accepted: nothing delivered
                        reply("250 queued")
                        self.mails.append(Mail(sender, recipients, data))
                    elif verb == "QUIT":
                        reply("221 bye")
                        return
                    else:  # RSET, NOOP
                        reply("250 OK")
            except OSError:
                return

    def wait_for_mails(self, count: int, timeout: float = 60.0) -> list[Mail]:
        deadline = time.monotonic() + timeout
        while len(self.mails) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.mails)


class CeleryWorker:
    """One ``celery -A k12 worker`` process (and its pool), in a process group of its own so
    that ``kill()`` takes the whole worker down at once, as a machine dying would."""

    def __init__(self, env: dict[str, str], name: str, concurrency: int = 1):
        self.env = env
        self.name = name
        self.concurrency = concurrency
        self.proc: subprocess.Popen | None = None
        self.log = ARTIFACTS / f"celery-{name}-{os.getpid()}.log"

    def start(self, timeout: float = 90.0) -> CeleryWorker:
        ARTIFACTS.mkdir(exist_ok=True)
        self.log.write_bytes(b"")
        out = open(self.log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "k12",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(self.concurrency),
                "--hostname",
                f"{self.name}-{os.getpid()}@%h",
                "--queues",
                self.env["CELERY_QUEUE"],
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while b" ready." not in self.log.read_bytes():
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker {self.name} not ready: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL to the worker and its pool: no goodbye, no acknowledgement."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


def worker_env(database_url: str, redis_url: str, queue: str, smtp: FakeSMTP, **extra: str) -> dict[str, str]:
    return app_env(
        database_url,
        redis_url,
        CELERY_QUEUE=queue,
        CELERY_TASK_ALWAYS_EAGER="0",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp.port),
        LOG_LEVEL="INFO",
        DB_POOL_MAX="0",  # as compose.yaml's workers: prefork children close a pool after each task
        **extra,
    )


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy (which is returned) or time runs
    out (AssertionError). For waiting on another process, never for asserting a duration."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {predicate}")
        time.sleep(interval)
