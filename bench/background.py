"""Background work, measured: what a notifying request costs with a fast and with a hanging SMTP
server, how many notification emails one worker sends a second, and how long a 100 MiB MP4
(index at the end) takes from upload to ``ready``.

Starts everything itself on free ports: a Redis, a fake SMTP server (tests/workers.py; "hanging"
holds each greeting 10 s), daphne serving the project, and ``celery -A k12 worker`` processes,
on a throwaway PostgreSQL database (``k12_bench_background``, dropped and made again) with local
recording storage in a temporary directory. The seed is ``manage.py seed_demo``.

    flock /tmp/heavy.lock .venv/bin/python bench/background.py [--requests 200] [--emails 500]
    .venv/bin/python bench/background.py --smoke   # seconds: 3 requests to workers, 5 emails, a 1 MiB MP4

The notifying request is ``POST /api/admin/allocations`` then ``POST .../{id}/end``, alternately
(each notifies the tutor: a row, a push, an email). "eager" rows are the old way, the email sent
inside the request (``CELERY_TASK_ALWAYS_EAGER=1``), for comparison.
"""

from __future__ import annotations

import argparse
import fractions
import json
import math
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import redis as redis_client
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import Database, add_arguments  # noqa: E402  (bench/common.py)

from tests.e2e.servers import Daphne, RedisServer, app_env  # noqa: E402
from tests.workers import CeleryWorker, FakeSMTP, wait_until  # noqa: E402

DB = "k12_bench_background"
SECRET = "bench-secret-key-not-for-production-0123456789abcdef"
MIB = 1024 * 1024


def manage(env, *args) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def token(base: str, email: str) -> str:
    response = requests.post(f"{base}/api/auth/token", json={"email": email, "password": "demo-pass-123"}, timeout=30)
    response.raise_for_status()
    return response.json()["access"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def notifying_requests(base: str, admin: str, ids: dict, count: int) -> list[float]:
    """Latency (ms) of ``count`` notifying requests: allocate, end, allocate, ..."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {admin}"
    body = {"studentId": ids["student"], "tutorId": ids["tutor"], "subjectId": ids["physics"]}
    times, allocation = [], None
    for _ in range(count):
        started = time.perf_counter()
        if allocation is None:
            response = session.post(f"{base}/api/admin/allocations", json=body, timeout=60)
            assert response.status_code == 201, response.text
            allocation = response.json()["allocation"]["id"]
        else:
            response = session.post(f"{base}/api/admin/allocations/{allocation}/end", timeout=60)
            assert response.status_code == 200, response.text
            allocation = None
        times.append((time.perf_counter() - started) * 1000)
    if allocation is not None:
        session.post(f"{base}/api/admin/allocations/{allocation}/end", timeout=60)
    return times


def make_mp4(path: Path, size_mib: int) -> float:
    """An MPEG-4 video (noise, so it does not compress) plus an AAC tone, index at the end (FFmpeg's
    default), about ``size_mib`` MiB. Returns its duration."""
    width, height, fps = 640, 360, 25
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.qmin = video.codec_context.qmax = 2
        video.codec_context.bit_rate = 200 * MIB
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "mono"
        frames = written = 0
        while written < size_mib * MIB * 0.98:
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                plane.update(os.urandom(plane.buffer_size))
            frame.pts, frame.time_base = frames, fractions.Fraction(1, fps)
            for packet in video.encode(frame):
                written += packet.size
                out.mux(packet)
            frames += 1
        for packet in video.encode():
            out.mux(packet)
        seconds = frames / fps
        samples = int(seconds * 48000)
        step = 1024
        for start in range(0, samples, step):
            n = min(step, samples - start)
            pcm = b"".join(struct.pack("<h", int(8000 * math.sin(i / 20))) for i in range(start, start + n))
            frame = av.AudioFrame(format="s16", layout="mono", samples=n)
            frame.planes[0].update(pcm)
            frame.sample_rate, frame.pts, frame.time_base = 48000, start, fractions.Fraction(1, 48000)
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--eager-hanging-requests", type=int, default=3)
    parser.add_argument("--emails", type=int, default=500)
    parser.add_argument("--mp4-mib", type=int, default=100)
    parser.add_argument("--database", default=DB, help="made and dropped by the run")
    add_arguments(parser)
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.eager_hanging_requests, args.emails, args.mp4_mib = 3, 0, 5, 1
    db = Database(args.database, args.database_url)

    database = db.fresh()
    tmp = Path(tempfile.mkdtemp(prefix="k12-bench-bg-"))
    redis = RedisServer().start()
    smtp = FakeSMTP().start()
    base_env = app_env(
        database,
        redis.url,
        DJANGO_SECRET_KEY=SECRET,
        MEDIA_ROOT=str(tmp / "media"),
        CELERY_QUEUE="bench",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp.port),
        EMAIL_TIMEOUT="30",
        CELERY_TASK_ALWAYS_EAGER="0",
    )
    manage(base_env, "seed_demo")
    ids_script = (
        "import json; from k12.models import *; "
        "t=User.objects.get(email='tutor1@k12.test'); s=Student.objects.get(user__email='student1@k12.test'); "
        "print(json.dumps({'tutor': str(t.id), 'student': str(s.id), "
        "'physics': str(Subject.objects.get(name='Physics').id), "
        "'session': str(Booking.objects.filter(student=s).first().id)}))"
    )
    ids = json.loads(manage(base_env, "shell", "-c", ids_script).strip().splitlines()[-1])
    lines = [f"bench/background.py at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.getloadavg()}"]
    workers: list[CeleryWorker] = []
    servers: list[Daphne] = []
    try:
        # --- 1. the notifying request ---------------------------------------------------------
        rows = []
        modes = (
            ("worker, fast SMTP", "0", False, args.requests),
            ("worker, SMTP hangs 10 s", "0", True, args.requests),
            ("eager (in the request), fast SMTP", "1", False, args.requests),
            ("eager (in the request), SMTP hangs 10 s", "1", True, args.eager_hanging_requests),
        )
        # smoke: the workers' mode only (no 10 s hangs; the eager mode is every test's)
        for mode, eager, hang, count in modes[:1] if args.smoke else modes:
            server = Daphne({**base_env, "CELERY_TASK_ALWAYS_EAGER": eager}).start()
            servers.append(server)
            worker = CeleryWorker(base_env, f"bench-{len(servers)}", concurrency=2).start() if eager == "0" else None
            if worker:
                workers.append(worker)
            admin = token(server.http, "admin@k12.test")
            notifying_requests(server.http, admin, ids, min(10, count))  # warm-up
            smtp.hang("greeting" if hang else None, 10.0 if hang else 0.0, connections=10**6 if hang else 0)
            times = notifying_requests(server.http, admin, ids, count)
            rows.append((mode, count, statistics.median(times), percentile(times, 99)))
            smtp.hang(None, 0, 0)
            server.stop()
            if worker:
                worker.stop()
        lines.append("")
        lines.append("notifying request (POST /api/admin/allocations, then .../end), daphne, sequential")
        lines.append("| mode | requests | p50 ms | p99 ms |")
        lines.append("|---|---:|---:|---:|")
        lines += [f"| {m} | {n} | {p50:.1f} | {p99:.1f} |" for m, n, p50, p99 in rows]

        # --- 2. one worker's email rate -------------------------------------------------------
        queue_script = f"""
from k12.models import User, EmailStatus, Notification
from k12.tasks import notification_email
Notification.objects.all().delete()
user = User.objects.get(email='tutor1@k12.test')
notes = Notification.objects.bulk_create([Notification(user=user, kind='bench', title=f'n{{i}}', body='x',
    email_status=EmailStatus.PENDING) for i in range({args.emails})])
for note in notes:
    notification_email.delay(str(note.pk))
"""
        rate_rows = []
        broker = redis_client.Redis.from_url(redis.url)
        for concurrency in (1,) if args.smoke else (1, 2):
            broker.delete("bench", "unacked", "unacked_index")  # what the first part left queued
            smtp.mails.clear()
            manage(base_env, "shell", "-c", queue_script)
            worker = CeleryWorker(base_env, f"rate-{concurrency}", concurrency=concurrency).start()
            workers.append(worker)
            wait_until(lambda: len(smtp.mails) >= args.emails, timeout=600, interval=0.2)
            span = manage(
                base_env,
                "shell",
                "-c",
                "from django.db.models import Min, Max; from k12.models import Notification; "
                "a = Notification.objects.filter(email_status='sent').aggregate(Min('email_sent_at'), "
                "Max('email_sent_at'), n=__import__('django.db.models', fromlist=['Count']).Count('id')); "
                "print((a['email_sent_at__max'] - a['email_sent_at__min']).total_seconds(), a['n'])",
            ).split()
            seconds, sent = float(span[-2]), int(span[-1])
            rate_rows.append((concurrency, sent, seconds, (sent - 1) / max(seconds, 1e-3)))
            worker.stop()
        lines.append("")
        lines.append(f"email task, one worker (prefork), {args.emails} queued, fake SMTP on loopback")
        lines.append("| --concurrency | sent | first to last sent, s | emails/s |")
        lines.append("|---:|---:|---:|---:|")
        lines += [f"| {c} | {n} | {s:.2f} | {r:.0f} |" for c, n, s, r in rate_rows]

        # --- 3. a 100 MiB MP4 from upload to ready --------------------------------------------
        mp4 = tmp / "big.mp4"
        duration = make_mp4(mp4, args.mp4_mib)
        size = mp4.stat().st_size
        server = Daphne(base_env).start()
        servers.append(server)
        worker = CeleryWorker(base_env, "remux", concurrency=1).start()
        workers.append(worker)
        tutor = token(server.http, "tutor1@k12.test")
        auth = {"Authorization": f"Bearer {tutor}"}
        url = f"{server.http}/api/sessions/{ids['session']}/recordings"
        started = time.perf_counter()
        with open(mp4, "rb") as fh:
            response = requests.post(url, files={"file": ("big.mp4", fh, "video/mp4")}, headers=auth, timeout=600)
        uploaded = time.perf_counter()
        assert response.status_code == 201, response.text
        recording_id = response.json()["id"]

        def ready():
            listed = requests.get(url, headers=auth, timeout=30).json()
            row = next(r for r in listed if r["id"] == recording_id)
            return row if row["status"] == "ready" else None

        row = wait_until(ready, timeout=900, interval=0.1)
        done = time.perf_counter()
        head = requests.get(row["file_url"], headers={"Range": "bytes=0-65535"}, timeout=30).content
        faststart = head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))
        lines.append("")
        lines.append(
            f"{size / MIB:.0f} MiB MP4 (MPEG-4 video + AAC, {duration:.0f} s, index at the end), daphne, local disk"
        )
        lines.append(
            "| upload (201, status processing) s | processing to ready s | upload to ready s | faststart | poster |"
        )
        lines.append("|---:|---:|---:|---|---|")
        lines.append(
            f"| {uploaded - started:.2f} | {done - uploaded:.2f} | {done - started:.2f} | {faststart} | "
            f"{row['poster_url'] is not None} |"
        )
    finally:
        for worker in workers:
            worker.stop()
        for server in servers:
            server.stop()
        smtp.stop()
        redis.stop()
        db.drop()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    lines.append("")
    lines.append(f"load average after: {os.getloadavg()}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
