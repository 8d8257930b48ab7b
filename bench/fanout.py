"""Live fan-out: N WebSocket clients in one session room, spread over two daphne processes that
share Redis; one sender posts numbered messages over REST (gunicorn, the production layout);
prints delivery latency (from the start of the POST to receipt) median/p99/max, lost and
duplicated counts, and the servers' memory.

    .venv/bin/python bench/fanout.py                 # 100 and 500 clients, 200 messages at 20/s
    .venv/bin/python bench/fanout.py --clients 100 --messages 200 --rate 20

Needs PostgreSQL on 127.0.0.1:5432 (creates and drops its own database `k12_bench_fanout`) and
redis-server on PATH (it starts its own on a free port). Clients run in several processes so
that the client's own event loop does not add its tail to the figures (PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.servers import Daphne, RedisServer, app_env, free_port, wait_for_port  # noqa: E402

PG = "postgres://postgres@127.0.0.1:5432"
DB = "k12_bench_fanout"
SECRET = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"


def psql(sql: str) -> None:
    subprocess.run(["psql", f"{PG}/postgres", "-q", "-c", sql], check=True, capture_output=True)


def setup_database() -> dict:
    """Fresh database, migrated, with one session and its participants; returns ids and tokens."""
    psql(f"DROP DATABASE IF EXISTS {DB}")
    psql(f"CREATE DATABASE {DB}")
    env = app_env(f"{PG}/{DB}", "", DJANGO_SECRET_KEY=SECRET, JWT_ACCESS_MINUTES="120")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    script = """
import json
from datetime import timedelta
from django.core.management import call_command
from rest_framework_simplejwt.tokens import AccessToken
from k12.models import Booking, User
call_command("seed_demo", verbosity=0, stdout=open("/dev/null", "w"))
booking = Booking.objects.filter(student__parent__email="parent1@k12.test").first()
tokens = []
for email in ["parent1@k12.test", "tutor1@k12.test", "student1@k12.test", "admin@k12.test"]:
    token = AccessToken.for_user(User.objects.get(email=email))
    token.set_exp(lifetime=timedelta(hours=2))
    tokens.append(str(token))
print(json.dumps({"session": str(booking.id), "tokens": tokens}))
"""
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True, capture_output=True
    )
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, MiB."""
    total = 0
    pids = [pid]
    try:
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def client_worker(urls, tokens, session_id, count, expected, ready, go, results):
    """One process holding `count` sockets; reports (latencies, received ids per socket)."""
    import websockets

    async def one(i):
        # a real client retries a refused or reset handshake; the bench counts those retries
        for attempt in range(10):
            try:
                ws = await websockets.connect(
                    urls[i % len(urls)], origin="http://127.0.0.1", open_timeout=30, max_queue=None
                )
                await ws.send(json.dumps({"type": "auth", "token": tokens[i % len(tokens)]}))
                assert json.loads(await ws.recv())["type"] == "ready"
                await ws.send(json.dumps({"type": "joinSession", "sessionId": session_id}))
                while json.loads(await ws.recv())["type"] != "joined":
                    pass
                return ws
            except (OSError, websockets.exceptions.WebSocketException):
                retries.append(i)
                await asyncio.sleep(0.2 * (attempt + 1))
        raise RuntimeError(f"socket {i} could not connect")

    async def listen(ws, latencies, seen, deadline):
        while len(seen) < expected and time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
            now = time.time()
            frame = json.loads(raw)
            if frame.get("type") != "newMessage":
                continue
            text = frame["message"]["text"]
            number, sent_at = text.split("@")
            latencies.append((now - float(sent_at)) * 1000)
            seen.append(int(number))

    retries: list[int] = []

    async def main():
        sockets = [await one(i) for i in range(count)]
        ready.release()
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        latencies: list[float] = []
        seen = [[] for _ in sockets]
        deadline = time.monotonic() + 120
        await asyncio.gather(*(listen(ws, latencies, s, deadline) for ws, s in zip(sockets, seen, strict=True)))
        for ws in sockets:
            await ws.close()
        results.put((latencies, seen, len(retries)))

    asyncio.run(main())


def run(n_clients: int, messages: int, rate: float, processes: int) -> dict:
    import requests

    data = setup_database()
    redis = RedisServer().start()
    env = app_env(f"{PG}/{DB}", redis.url, DJANGO_SECRET_KEY=SECRET, JWT_ACCESS_MINUTES="120")
    daphnes = [Daphne(env).start(), Daphne(env).start()]
    http_port = free_port()
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{http_port}", "k12.wsgi:application"],
        cwd=ROOT,
        env={**env, "DB_CONN_MAX_AGE": "60"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(http_port, gunicorn)
        rss_before = [rss_mib(d.proc.pid) for d in daphnes]
        ready, go, results = mp.Semaphore(0), mp.Event(), mp.Queue()
        per = [n_clients // processes + (1 if i < n_clients % processes else 0) for i in range(processes)]
        workers = [
            mp.Process(
                target=client_worker,
                args=([d.ws for d in daphnes], data["tokens"], data["session"], k, messages, ready, go, results),
            )
            for k in per
            if k
        ]
        for w in workers:
            w.start()
        for _ in workers:
            if not ready.acquire(timeout=120):
                raise TimeoutError("clients did not connect in time")
        rss_connected = [rss_mib(d.proc.pid) for d in daphnes]
        go.set()
        time.sleep(0.5)
        session = requests.Session()
        url = f"http://127.0.0.1:{http_port}/api/sessions/{data['session']}/messages"
        headers = {"Authorization": f"Bearer {data['tokens'][0]}"}
        peak = list(rss_connected)
        start = time.monotonic()
        for i in range(messages):
            target = start + i / rate
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            r = session.post(url, json={"text": f"{i}@{time.time():.6f}"}, headers=headers, timeout=10)
            r.raise_for_status()
            if i % 20 == 0:
                peak = [max(p, rss_mib(d.proc.pid)) for p, d in zip(peak, daphnes, strict=True)]
        latencies: list[float] = []
        lost = duplicated = out_of_order = connect_retries = 0
        for _ in workers:
            lat, seen, retried = results.get(timeout=300)
            connect_retries += retried
            latencies += lat
            for s in seen:
                lost += len(set(range(messages)) - set(s))
                duplicated += len(s) - len(set(s))
                out_of_order += sum(1 for a, b in zip(s, s[1:], strict=False) if b < a)
        for w in workers:
            w.join(timeout=30)
        latencies.sort()
        return {
            "clients": n_clients,
            "messages": messages,
            "deliveries": len(latencies),
            "p50": statistics.median(latencies),
            "p99": latencies[int(len(latencies) * 0.99) - 1],
            "max": latencies[-1],
            "lost": lost,
            "duplicated": duplicated,
            "out_of_order": out_of_order,
            "connect_retries": connect_retries,
            "rss_before": sum(rss_before),
            "rss_connected": sum(rss_connected),
            "rss_peak": sum(peak),
        }
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=10)
        for d in daphnes:
            d.stop()
        redis.stop()
        psql(f"DROP DATABASE IF EXISTS {DB}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="*", default=[100, 500])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second")
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    print(f"fan-out: {args.messages} messages at {args.rate}/s, two daphne processes + Redis, POST via gunicorn")
    print(f"load before: {os.getloadavg()[0]:.2f} (1-min), cores: {os.cpu_count()}")
    header = (
        f"{'clients':>7} {'deliveries':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'lost':>5} {'dup':>4} "
        f"{'reorder':>7} {'RSS idle':>9} {'connected':>9} {'peak MiB':>9}"
    )
    print(header)
    for n in args.clients:
        r = run(n, args.messages, args.rate, args.processes)
        print(
            f"{r['clients']:>7} {r['deliveries']:>10} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['max']:>8.1f} "
            f"{r['lost']:>5} {r['duplicated']:>4} {r['out_of_order']:>7} {r['rss_before']:>9.0f} "
            f"{r['rss_connected']:>9.0f} {r['rss_peak']:>9.0f}  (handshakes retried: {r['connect_retries']})",
            flush=True,
        )
    print("RSS is the sum over both daphne processes.")


if __name__ == "__main__":
    main()
