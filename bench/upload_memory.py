"""How much memory a 1 GiB recording upload costs the server.

Starts a real server the way production serves HTTP (gunicorn, one sync worker; docker/), with
local file storage and a throwaway SQLite database in a temporary directory (or the PostgreSQL
database of ``--database-url``, emptied first), creates a tutor and a session of a child whose
parent has given consent to record, synthesises a real media file of the requested size
(raw video in Matroska, made with PyAV), uploads it with a streaming client (http.client, the
multipart body written chunk by chunk with a Content-Length), and prints the server process's
peak RSS growth over its idle, warmed-up baseline. The upload must be accepted: a real recording,
probed and measured, whose stored bytes are checked against the sample.

    .venv/bin/python bench/upload_memory.py                    # 1 GiB through gunicorn
    .venv/bin/python bench/upload_memory.py --server daphne --size-mib 256
    .venv/bin/python bench/upload_memory.py --smoke              # seconds: 4 MiB

Peak RSS comes from the kernel's high-water mark (VmHWM in /proc/<pid>/status, reset after the
warm-up through /proc/<pid>/clear_refs), cross-checked by sampling VmRSS every 20 ms.
Exit status 1 if the growth reaches the 64 MiB budget (--budget-mib).
"""

from __future__ import annotations

import argparse
import fractions
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import add_arguments, manage  # noqa: E402  (bench/common.py)

from tests.e2e.servers import RedisServer  # noqa: E402

BIN = Path(sys.executable).parent
MIB = 1024 * 1024

SETUP = """
import datetime, json
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken
from k12.models import Booking, Role, Student, Subject, User
from k12.services import recording_consent_set
tutor = User.objects.create_user("bench.tutor@k12.test", "x-bench-pass-1", first_name="Bench", role=Role.TUTOR)
parent = User.objects.create_user("bench.parent@k12.test", "x-bench-pass-1", first_name="Bench", role=Role.PARENT)
child = Student.objects.create(parent=parent, first_name="Kid", grade=5)
recording_consent_set(student=child, changed_by=parent, granted=True)  # no consent, no upload (409)
starts = timezone.now() + datetime.timedelta(days=1)
booking = Booking.objects.create(student=child, tutor=tutor, subject=Subject.objects.create(name="Math"),
    starts_at=starts, ends_at=starts + datetime.timedelta(hours=1), duration_minutes=60)
print(json.dumps({"session": str(booking.id), "token": str(AccessToken.for_user(tutor))}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_sample(path: Path, size_bytes: int, width: int = 1280, height: int = 720, fps: int = 25) -> None:
    """Raw 4:2:0 video in Matroska, just over ``size_bytes``: a real, decodable container of
    that size without spending minutes in an encoder. Frames are written one at a time."""
    frame_bytes = width * height * 3 // 2
    frames = -(-size_bytes // frame_bytes)
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("rawvideo", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane, value in zip(frame.planes, ((i * 3) % 256, 128, (255 - i) % 256), strict=True):
                plane.update(bytes([value]) * plane.buffer_size)
            frame.pts = i
            frame.time_base = fractions.Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def make_small_clip(path: Path) -> None:
    make_sample(path, 1, width=160, height=120)


def proc_status(pid: int) -> dict[str, int]:
    values = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


class Sampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.02):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak, self.stop = pid, every, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, proc_status(self.pid)["VmRSS"])
            except (FileNotFoundError, ProcessLookupError):
                return
            time.sleep(self.every)


def multipart_upload(port: int, path: str, token: str, file: Path, name: str, chunk: int = MIB) -> tuple[int, bytes]:
    """POST ``file`` as multipart field ``file``, streamed from disk with a Content-Length."""
    boundary = f"----bench-{uuid.uuid4().hex}"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = file.stat().st_size
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1800)
    conn.putrequest("POST", path)
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + size + len(tail)))
    conn.endheaders()
    conn.send(head)
    with open(file, "rb") as fh:
        while data := fh.read(chunk):
            conn.send(data)
    conn.send(tail)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while data := fh.read(4 * MIB):
            digest.update(data)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--server", choices=["gunicorn", "daphne"], default="gunicorn")
    parser.add_argument("--budget-mib", type=int, default=64)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    add_arguments(parser)
    args = parser.parse_args()
    if args.smoke:
        args.size_mib = 4

    work = Path(tempfile.mkdtemp(prefix="k12-upload-bench-"))
    # A broker, as in production: the recording's processing (probe, poster, faststart) is queued
    # for a worker (none runs here), so what is measured is the upload's own cost to the web
    # worker. Without one, the tasks would run in the request.
    redis = RedisServer().start()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "AWS_STORAGE_BUCKET_NAME")}
    env.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-" + uuid.uuid4().hex,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="0",
        SQLITE_PATH=str(work / "db.sqlite3"),
        **({"DATABASE_URL": args.database_url} if args.database_url else {}),
        REDIS_URL=redis.url,
        CELERY_TASK_ALWAYS_EAGER="0",
        MEDIA_ROOT=str(work / "media"),
        TMPDIR=str(work / "tmp"),  # Django's upload temporary files (FILE_UPLOAD_TEMP_DIR unset)
        RECORDING_MAX_BYTES=str(max(2 * 1024**3, (args.size_mib + 16) * MIB)),
        JWT_ACCESS_MINUTES="120",
        LOG_LEVEL="WARNING",
    )
    (work / "tmp").mkdir()
    server = None
    try:
        manage_py = [str(BIN / "python"), "manage.py"]
        if args.database_url:
            manage(args.database_url, "flush", "--noinput")
        else:
            subprocess.run([*manage_py, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        ids = json.loads(
            subprocess.run(
                [*manage_py, "shell", "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        sample, small = work / "sample.mkv", work / "small.mkv"
        started = time.monotonic()
        make_sample(sample, args.size_mib * MIB)
        make_small_clip(small)
        made = time.monotonic() - started
        print(f"sample: {sample.stat().st_size:,} bytes of Matroska raw video ({made:.1f} s to make)")

        port = free_port()
        if args.server == "gunicorn":
            cmd = [str(BIN / "gunicorn"), "k12.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "1"]
            cmd += ["--timeout", "1800", "--log-level", "warning"]
        else:
            cmd = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "k12.asgi:application"]
        server = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{args.server} did not start") from None
                time.sleep(0.2)
        pid = server.pid
        if args.server == "gunicorn":
            while not children(server.pid):
                time.sleep(0.1)
            pid = children(server.pid)[0]  # the worker: it runs the view

        url = f"/api/sessions/{ids['session']}/recordings"
        status, body = multipart_upload(port, url, ids["token"], small, "warmup.mkv")
        assert status == 201, (status, body[:500])
        time.sleep(0.5)
        baseline = proc_status(pid)["VmRSS"]
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
        sampler = Sampler(pid)
        sampler.start()

        started = time.monotonic()
        status, body = multipart_upload(port, url, ids["token"], sample, "lesson-1GiB.mkv")
        elapsed = time.monotonic() - started
        sampler.stop.set()
        sampler.join()
        after = proc_status(pid)
        if status != 201:
            print(f"upload refused: {status} {body[:500]!r}")
            return 1
        recording = json.loads(body)
        stored = max((work / "media").rglob("*.mkv"), key=lambda p: p.stat().st_size)
        same = stored.stat().st_size == sample.stat().st_size and sha256_of(stored) == sha256_of(sample)

        peak = max(after["VmHWM"], sampler.peak)
        growth = peak - baseline
        size = sample.stat().st_size
        print(f"server: {args.server} (pid {pid}), storage: local disk")
        print(
            f"upload: {size / MIB:,.0f} MiB in {elapsed:.1f} s ({size / MIB / elapsed:,.0f} MiB/s) -> {status}, "
            f"{recording['content_type']}, {recording['duration_seconds']} s, stored bytes identical: {same}"
        )
        print(
            f"server RSS: baseline {baseline / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB "
            f"(VmHWM {after['VmHWM'] / MIB:.1f}, sampled {sampler.peak / MIB:.1f})"
        )
        print(f"peak RSS growth: {growth / MIB:.1f} MiB (budget {args.budget_mib} MiB)")
        return 0 if growth < args.budget_mib * MIB and same else 1
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        redis.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
