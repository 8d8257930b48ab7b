"""The production proxy under slow clients, for tests/e2e/test_deploy.py and bench/slow_clients.py:
docker/nginx.conf rendered for local ports in front of the REST and upload processes, clients that trickle
request bodies a byte at a time, and probes that time ordinary requests meanwhile."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import requests

from tests.e2e.servers import ROOT, free_port, stop_process, wait_for_port


def render_nginx(tmp_path: Path, listen: int, api: int, ws: int, uploads: int | None, conf: str | None = None) -> Path:
    """docker/nginx.conf (or ``conf``, another version of it) with local ports and paths."""
    conf = conf if conf is not None else (ROOT / "docker" / "nginx.conf").read_text()
    replacements = [
        ("server api:8000;", f"server 127.0.0.1:{api};"),
        ("server ws:8001;", f"server 127.0.0.1:{ws};"),
        ("listen 80;", f"listen 127.0.0.1:{listen};"),
        ("/tmp/", f"{tmp_path}/"),
        ("error_log /dev/stderr warn;", f"error_log {tmp_path}/error.log warn;"),
        ("access_log /dev/stdout;", f"access_log {tmp_path}/access.log;"),
    ]
    if uploads is not None:
        replacements.append(("server uploads:8002;", f"server 127.0.0.1:{uploads};"))
    for old, new in replacements:
        assert old in conf, old
        conf = conf.replace(old, new)
    path = tmp_path / "nginx.conf"
    path.write_text(conf)
    return path


class Nginx:
    def __init__(self, conf: Path, prefix: Path, port: int):
        self.conf, self.prefix, self.port = conf, prefix, port
        self.proc: subprocess.Popen | None = None

    def start(self) -> Nginx:
        check = subprocess.run(
            ["nginx", "-t", "-c", str(self.conf), "-p", str(self.prefix)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(["nginx", "-c", str(self.conf), "-p", str(self.prefix), "-g", "daemon off;"])
        wait_for_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


class Gunicorn:
    """gunicorn serving k12.wsgi; ``args`` as in compose.yaml's upload pool."""

    def __init__(self, env: dict[str, str], args: list[str]):
        self.env, self.args = env, args
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}", *self.args, "k12.wsgi:application"]

    def start(self) -> Gunicorn:
        self.proc = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        stop_process(self.proc, group=True)
        self.proc = None


def dockerfile_command() -> list[str]:
    """docker/Dockerfile's CMD: the REST process of production."""
    text = (ROOT / "docker" / "Dockerfile").read_text()
    return json.loads(text[text.index("\nCMD ") + 5 :].replace("\\\n", " ").splitlines()[0])


def rest_command(port: int, args: list[str] = ()) -> list[str]:
    """The REST process as docker/Dockerfile runs it (granian serving k12.wsgi), on a local
    ``port``, with ``args`` (``--workers 2``, say) in place of the Dockerfile's values."""
    argv = dockerfile_command()
    options = {"--host": "127.0.0.1", "--port": str(port), "--log-level": "warning"}
    options.update(zip(args[::2], args[1::2], strict=True))
    for name, value in options.items():
        if name in argv:
            argv[argv.index(name) + 1] = value
        else:
            argv[-1:-1] = [name, value]
    return [sys.executable, "-m", *argv]


class Granian(Gunicorn):
    """``rest_command`` as a server of the tests."""

    def command(self) -> list[str]:
        return rest_command(self.port, self.args)


class Tricklers:
    """Clients that send a request's headers, announce a body of ``length`` bytes, and then send
    it one byte every ``interval`` seconds, as the adversarial pass did."""

    def __init__(self, port: int, interval: float = 1.0):
        self.port, self.interval = port, interval
        self.sockets: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)

    def add(self, path: str, *, length: int = 100_000, content_type="application/json", headers=None) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            f"Content-Type: {content_type}",
            f"Content-Length: {length}",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.sockets.append(sock)

    def start(self) -> Tricklers:
        self.thread.start()
        return self

    def _trickle(self) -> None:
        while not self.stopping.wait(self.interval):
            for sock in self.sockets:
                try:
                    sock.send(b" ")
                except OSError:
                    pass  # the proxy gave up on this one

    def answered(self) -> list[bytes]:
        """The first line of each answer the proxy has sent back so far (a refused trickler)."""
        lines = []
        for sock in self.sockets:
            sock.setblocking(False)
            try:
                data = sock.recv(200)
                if data:
                    lines.append(data.split(b"\r\n", 1)[0])
            except (BlockingIOError, OSError):
                pass
            finally:
                sock.setblocking(True)
        return lines

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def timed_gets(url: str, count: int, headers=None, timeout: float = 10.0, give_up: int | None = None):
    """Seconds each of ``count`` sequential GETs took to answer 200, None for one that failed;
    after ``give_up`` failures in a row the rest are not tried (and not listed)."""
    session = requests.Session()
    out: list[float | None] = []
    for _ in range(count):
        if give_up is not None and len(out) >= give_up and all(v is None for v in out[-give_up:]):
            break
        start = time.perf_counter()
        try:
            ok = session.get(url, headers=headers, timeout=timeout).status_code == 200
        except requests.RequestException:
            ok = False
        out.append(time.perf_counter() - start if ok else None)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def trickle_the_adversarial_load(port: int, session_id: str, parent_token: str, tutor_token: str) -> Tricklers:
    """50 clients trickling bodies to ordinary endpoints (anonymous logins and a parent's posts)
    and 5 trickling a 10 MB recording upload as the session's tutor, started."""
    tricklers = Tricklers(port)
    for i in range(50):
        if i % 2:
            tricklers.add("/api/auth/token")
        else:
            tricklers.add(f"/api/sessions/{session_id}/messages", headers={"Authorization": f"Bearer {parent_token}"})
    for _ in range(5):
        tricklers.add(
            f"/api/sessions/{session_id}/recordings",
            length=10_000_000,
            content_type="multipart/form-data; boundary=x",
            headers={"Authorization": f"Bearer {tutor_token}"},
        )
    return tricklers.start()


def upload_in_background(base: str, session_id: str, token: str, clip: bytes, timeout: float = 120) -> Future:
    """A recording upload (a WebM clip) started in another thread; its Future gives the response."""
    return ThreadPoolExecutor(1).submit(
        requests.post,
        f"{base}/api/sessions/{session_id}/recordings",
        files={"file": ("clip.webm", clip, "video/webm")},
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )
