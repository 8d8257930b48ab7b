"""Live fan-out: N WebSocket clients in one session room, spread over two daphne processes that
share Redis; one sender posts numbered messages over REST (granian, the production layout);
prints delivery latency (from the start of the POST to receipt) median/p99/max, lost and
duplicated counts, and the servers' memory.

    .venv/bin/python bench/fanout.py                 # 100 and 500 clients, 200 messages at 20/s
    .venv/bin/python bench/fanout.py --clients 100 --messages 200 --rate 20
    .venv/bin/python bench/fanout.py --smoke            # seconds: 5 clients, 10 messages, no peer

Needs PostgreSQL on 127.0.0.1:5432 (creates and drops its own database `k12_bench_fanout`) and
redis-server on PATH (it starts its own on a free port). Clients run in several processes so
that the client's own event loop does not add its tail to the figures.
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
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import Database, add_arguments, node_client  # noqa: E402  (bench/common.py)
from messages import peer_env, peer_prepare, peer_start  # noqa: E402  (bench/messages.py)

from tests.e2e.servers import Daphne, RedisServer, app_env, free_port, stop_process, wait_for_port  # noqa: E402
from tests.e2e.slow_clients import rest_command  # noqa: E402

DB = "k12_bench_fanout"
SECRET = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"
# The servers run as in production (DEBUG off: no query log, no debug pages); TLS would end at
# the proxy, so no redirect to https here.
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": SECRET,
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    # a handful of bench users hold hundreds of sockets each
    "WS_MAX_SOCKETS_PER_USER": "10000",
}
NODE_CLIENT = Path(__file__).resolve().parent / "fanout_client.js"


def collect_static() -> None:
    """With DEBUG off the app serves hashed static names from the manifest collectstatic writes
    (as the image's build does); without it the first URL lookup fails."""
    if not (ROOT / "staticfiles" / "staticfiles.json").exists():
        env = app_env("", "", **PRODUCTION)
        argv = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"]
        subprocess.run(argv, cwd=ROOT, env=env, check=True)


def setup_database(db: Database) -> dict:
    """Fresh database, migrated, with one session and its participants; returns ids and tokens."""
    collect_static()
    env = app_env(db.fresh(), "", DJANGO_SECRET_KEY=SECRET, JWT_ACCESS_MINUTES="120")
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


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def _tree(pid: int) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid, *(int(c) for c in children)]


def _postgres_pids() -> list[int]:
    return [int(p) for p in subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout.split()]


def cpu_snapshot(daphnes, rest, redis) -> dict[str, int]:
    """CPU ticks so far, per part of the system (the client's own come from its rusage)."""
    return {
        "daphnes": _cpu_ticks([p for d in daphnes for p in _tree(d.proc.pid)]),
        "rest": _cpu_ticks(_tree(rest.pid)),
        "postgres": _cpu_ticks(_postgres_pids()),
        "redis": _cpu_ticks([redis.proc.pid]) if getattr(redis, "proc", None) else 0,
    }


def node_clients(daphnes, http_port: int, data: dict, n_clients: int, messages: int, rate: float, on_phase) -> dict:
    """bench/fanout_client.js (Node, `ws`): the figures of record. ``on_phase("start"|"end")``
    is called when the client starts and ends the measured messages."""
    if not (NODE_CLIENT.parent / "node_modules" / "ws").exists():
        raise RuntimeError("bench/node_modules is missing: make js-deps (npm ci in bench/)")
    argv = ["node", str(NODE_CLIENT), "--ws", ",".join(d.ws for d in daphnes)]
    argv += ["--post", f"http://127.0.0.1:{http_port}/api/sessions/{data['session']}/messages"]
    argv += ["--tokens", ",".join(data["tokens"]), "--sender-token", data["tokens"][0], "--session", data["session"]]
    argv += ["--clients", str(n_clients), "--messages", str(messages), "--rate", str(rate)]
    r = node_client(argv, on_phase)
    return {
        "deliveries": r["deliveries"],
        "p50": r["latencyMs"]["p50"],
        "p99": r["latencyMs"]["p99"],
        "max": r["latencyMs"]["max"],
        "lost": r["lost"],
        "duplicated": r["duplicates"],
        "out_of_order": r["reordered"],
        "connect_retries": 0,
        "closes": r["closes"],
        "post": r["postMs"],
        "probes": r["probes"],
    }


def start_servers(env: dict, logdir: Path) -> tuple[list[Daphne], subprocess.Popen, int]:
    """Two daphne processes (/ws/, /socket.io/) and the REST process with two workers
    (docker/Dockerfile's granian), as in production; returns them and the REST port, once it
    listens."""
    daphnes = [Daphne(env, log=logdir / f"daphne{k}.log").start() for k in (1, 2)]
    http_port = free_port()
    rest = subprocess.Popen(
        rest_command(http_port, ["--workers", "2"]),
        cwd=ROOT,
        env={**env, "DB_POOL_MAX": "1"},  # one Python thread per worker: one pooled connection each
        stdout=open(logdir / "rest.log", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(http_port, rest)
    except BaseException:
        stop_process(rest, group=True)
        for d in daphnes:
            d.stop()
        raise
    return daphnes, rest, http_port


def run(n_clients: int, messages: int, rate: float, processes: int, client: str, db: Database) -> dict:
    import requests

    data = setup_database(db)
    redis = RedisServer().start()
    env = app_env(db.url, redis.url, JWT_ACCESS_MINUTES="120", **PRODUCTION)
    logdir = Path(tempfile.mkdtemp(prefix="k12-fanout-"))
    print(f"  (server logs in {logdir})", flush=True)
    daphnes, rest, http_port = start_servers(env, logdir)
    try:
        rss_before = [rss_mib(d.proc.pid) for d in daphnes]
        if client == "node":
            peak = [0.0, 0.0]
            stop = threading.Event()

            def sample():
                while not stop.wait(0.5):
                    for k, d in enumerate(daphnes):
                        peak[k] = max(peak[k], rss_mib(d.proc.pid))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            try:
                marks: dict[str, tuple[dict, float]] = {}

                def on_phase(name: str, client_pid: int) -> None:
                    marks[name] = (cpu_snapshot(daphnes, rest, redis), _cpu_ticks([client_pid]))

                result = node_clients(daphnes, http_port, data, n_clients, messages, rate, on_phase)
                (before, node0), (after, node1) = marks["start"], marks["end"]
                tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
                cpu = {k: (after[k] - before[k]) * tick_ms / messages for k in after}
                cpu["client (node)"] = (node1 - node0) * tick_ms / messages
                result["cpu_per_message"] = cpu
            finally:
                stop.set()
                sampler.join()
            return {
                **result,
                "clients": n_clients,
                "messages": messages,
                "rss_before": sum(rss_before),
                "rss_connected": float("nan"),
                "rss_peak": sum(peak),
            }
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
        stop_process(rest, group=True)
        for d in daphnes:
            d.stop()
        redis.stop()
        db.drop()


def peer_fanout(peer_dir: Path, n_clients: int, messages: int, rate: float) -> dict | None:
    """The peer (``--peer-dir``: the reference backend, one node process) with its own client
    (the peer's bench/fanout.js), on a fresh fixture: the same load, measured the same way (POST start to the
    client's newMessage, after probes)."""
    logdir = Path(tempfile.mkdtemp(prefix="k12-fanout-peer-"))
    try:
        fixture = peer_prepare(peer_dir, logdir)  # the same setup as bench/messages.py's comparison
    except RuntimeError as exc:
        print(f"  ({exc})")
        return None
    port = free_port()
    server = peer_start(peer_dir, port, logdir, fixture)
    try:
        argv = ["node", "bench/fanout.js", "--url", f"http://127.0.0.1:{port}", "--clients", str(n_clients)]
        argv += ["--messages", str(messages), "--rate", str(rate)]
        out = subprocess.run(argv, cwd=peer_dir, env=peer_env(), capture_output=True, text=True, timeout=600)
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(f"  (peer fan-out failed: {out.stdout[-500:]} {out.stderr[-500:]})")
            return None
        r = json.loads(line[len("RESULT ") :])
        lat = r["deliveryLatencyMs"]
        return {"p50": lat["p50"], "p99": lat["p99"], "max": lat["max"], "lost": r["lost"], "dup": r["duplicates"]}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="*", default=[100, 500])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second")
    parser.add_argument("--processes", type=int, default=4, help="client processes (--client python)")
    parser.add_argument(
        "--client",
        choices=["node", "python"],
        default="node",
        help="node: bench/fanout_client.js, one process (figures of record); python: websockets in processes",
    )
    parser.add_argument(
        "--peer-dir", type=Path, default=Path("/tmp/nest-seed"), help="the peer backend, set up (see README)"
    )
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--runs", type=int, default=1, help="repeat each client count (ours, then the peer)")
    parser.add_argument(
        "--busy-cores", type=int, default=0, help="keep this many cores busy with a spinning process meanwhile"
    )
    add_arguments(parser)
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.messages, args.no_peer = [5], 10, True
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy_cores)
    ]  # a fixed background load, the same for both servers
    try:
        _main(args)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _main(args) -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    print(f"fan-out: {args.messages} messages at {args.rate}/s, two daphne processes + Redis, POST via granian")
    print(f"load before: {os.getloadavg()[0]:.2f} (1-min), cores: {os.cpu_count()}, busy cores: {args.busy_cores}")
    header = (
        f"{'clients':>7} {'deliveries':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'lost':>5} {'dup':>4} "
        f"{'reorder':>7} {'RSS idle':>9} {'connected':>9} {'peak MiB':>9}"
    )
    print(header)
    for n in [n for n in args.clients for _ in range(args.runs)]:
        r = run(n, args.messages, args.rate, args.processes, args.client, Database(DB, args.database_url))
        print(
            f"{r['clients']:>7} {r['deliveries']:>10} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['max']:>8.1f} "
            f"{r['lost']:>5} {r['duplicated']:>4} {r['out_of_order']:>7} {r['rss_before']:>9.0f} "
            f"{r['rss_connected']:>9.0f} {r['rss_peak']:>9.0f}  (handshakes retried: {r['connect_retries']}; "
            f"closed by the server: {r.get('closes', [])})"
            + (
                f"\n        POST latency ms: p50 {r['post']['p50']} p99 {r['post']['p99']} max {r['post']['max']}"
                if "post" in r
                else ""
            )
            + (
                "\n        CPU per message (ms, measured messages only): "
                + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu_per_message"].items())
                if "cpu_per_message" in r
                else ""
            ),
            flush=True,
        )
        if not args.no_peer:
            p = peer_fanout(args.peer_dir, n, args.messages, args.rate)
            if p is not None:
                print(
                    f"   peer {'':>10} {p['p50']:>8.1f} {p['p99']:>8.1f} {p['max']:>8.1f} {p['lost']:>5} {p['dup']:>4}"
                    f"   (the peer: one node process, its own socket.io client)"
                    f"\n        ours/peer p99: {r['p99'] / p['p99']:.2f}x (target <= 1.00)",
                    flush=True,
                )
    print("RSS is the sum over both daphne processes.")


if __name__ == "__main__":
    main()
