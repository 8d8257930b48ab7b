"""Slow clients against the production proxy: /healthz and an authenticated GET timed through
nginx while 50 clients trickle request bodies (one byte a second) to ordinary endpoints and 5
trickle a recording upload, and a real upload is made meanwhile.

    flock /tmp/heavy.lock .venv/bin/python bench/slow_clients.py [--probes 200]
    .venv/bin/python bench/slow_clients.py --smoke   # seconds: the "after" layout, 5 probes, no file

"before" is the proxy and REST process as they were (docker/nginx.conf at 7bb7641: request
bodies not buffered; gunicorn -w 3 --timeout 600 serving uploads too); "after" is the
repository's docker/nginx.conf and the processes of docker/compose.yaml (REST: docker/Dockerfile's granian, 3 workers;
uploads: gunicorn gthread, 2 x 8 threads). Prints, for each, /healthz and GET /api/me:
answered, failed (no answer within --timeout), p50 and p99 of the answered, and whether the
upload in flight completed; the figures also go to bench/results/slow_clients-<date>.txt.
Needs PostgreSQL on 127.0.0.1:5432 (creates and drops `k12_bench_fanout`) and nginx.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import Database, add_arguments  # noqa: E402
from fanout import DB, PRODUCTION, setup_database  # noqa: E402

from tests.e2e.servers import app_env, free_port  # noqa: E402
from tests.e2e.slow_clients import (  # noqa: E402
    Granian,
    Gunicorn,
    Nginx,
    percentile,
    render_nginx,
    timed_gets,
    trickle_the_adversarial_load,
    upload_in_background,
)

BEFORE = "7bb7641"


def clip() -> bytes:
    # the test helpers read the test settings' environment (the servers get their own)
    os.environ.setdefault("DJANGO_DEBUG", "1")
    from tests.sessions_app.conftest import make_clip

    return make_clip("webm", video="libvpx", audio="libopus", seconds=1.0)


def scenario(label: str, env: dict, ids: dict, probes: int, timeout: float, media: bytes) -> dict:
    parent, tutor, _student, admin = ids["tokens"]
    sid = ids["session"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(env, MEDIA_ROOT=str(tmp / "media"))
        servers = []
        if label == "before":
            conf = subprocess.run(
                ["git", "show", f"{BEFORE}:docker/nginx.conf"], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout
            rest = Gunicorn(dict(env, DB_POOL_MAX="1"), ["-w", "3", "--timeout", "600"]).start()
            servers.append(rest)
            uploads_port = None
        else:
            conf = None
            rest = Granian(dict(env, DB_POOL_MAX="1"), ["--workers", "3"]).start()
            uploads = Gunicorn(dict(env, DB_POOL_MAX="8"), ["-k", "gthread", "-w", "2", "--threads", "8"]).start()
            servers += [rest, uploads]
            uploads_port = uploads.port
        listen = free_port()
        nginx = Nginx(render_nginx(tmp, listen, rest.port, free_port(), uploads_port, conf), tmp, listen).start()
        base = f"http://127.0.0.1:{listen}"
        tricklers = trickle_the_adversarial_load(listen, sid, parent, tutor)
        try:
            time.sleep(3)
            upload = upload_in_background(base, sid, admin, media)
            # a layout that answers nothing is not waited on for the whole series
            health = timed_gets(f"{base}/healthz", probes, timeout=timeout, give_up=10)
            me = timed_gets(
                f"{base}/api/me", probes, headers={"Authorization": f"Bearer {parent}"}, timeout=timeout, give_up=10
            )
            try:
                upload_status = upload.result(timeout=130).status_code
            except Exception as exc:  # noqa: BLE001
                upload_status = type(exc).__name__
        finally:
            tricklers.stop()
            nginx.stop()
            for server in servers:
                server.stop()
    return {"healthz": health, "me": me, "upload": upload_status}


def row(label: str, name: str, values: list[float | None], timeout: float) -> str:
    answered = [v for v in values if v is not None]
    failed = len(values) - len(answered)
    if failed:
        # an unanswered probe counts as the timeout: p99 is then at least that
        values = [timeout if v is None else v for v in values]
    p50 = percentile(values, 0.50) * 1000
    p99 = percentile(values, 0.99) * 1000
    marker = ">=" if failed and p99 >= timeout * 1000 else ""
    return f"{label:<7} {name:<10} {len(answered):>8} {failed:>6} {p50:>9.1f} {marker:>2}{p99:>8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=200, help="GETs of each kind per layout")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds a probe waits for its answer")
    add_arguments(parser)
    args = parser.parse_args()
    layouts = ("after",) if args.smoke else ("before", "after")
    if args.smoke:
        args.probes = 5
    db = Database(DB, args.database_url)
    try:
        ids = setup_database(db)
        env = app_env(db.url, "", **PRODUCTION)
        media = clip()
        results = {label: scenario(label, env, ids, args.probes, args.timeout, media) for label in layouts}
    finally:
        db.drop()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = [
        f"bench/slow_clients.py --probes {args.probes} --timeout {args.timeout}  ({datetime.date.today()})",
        "50 clients trickling bodies to POST /api/auth/token and POST .../messages, 5 to POST .../recordings",
        f"machine: {load}",
        "",
        f"{'layout':<7} {'probe':<10} {'answered':>8} {'failed':>6} {'p50 ms':>9} {'p99 ms':>10}",
    ]
    for label, result in results.items():
        lines.append(row(label, "/healthz", result["healthz"], args.timeout))
        lines.append(row(label, "/api/me", result["me"], args.timeout))
    lines.append("")
    for label, result in results.items():
        lines.append(f"{label}: the upload made meanwhile answered {result['upload']}")
    text = "\n".join(lines)
    print(text)
    if not args.smoke:
        out = ROOT / "bench" / "results" / f"slow_clients-{datetime.date.today()}.txt"
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
