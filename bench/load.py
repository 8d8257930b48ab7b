"""Load: N concurrent users on a production-like layout on this machine, for a fixed time.

Layout: PostgreSQL, a Redis of its own, two app nodes (each a granian for REST and a daphne
for /ws/, as in docker/compose.yaml). Each virtual user holds a live-room socket on its node
and, between short pauses, reads a page of messages (70%) or posts one (30%) over REST. Every
posted message must reach every socket in its session: at the end each user's received ids are
compared with what PostgreSQL holds.

    .venv/bin/python bench/load.py                        # 50 and 200 users, 60 s each
    .venv/bin/python bench/load.py --users 50 --seconds 60 --fault redis   # Redis down 10 s mid-run
    .venv/bin/python bench/load.py --users 50 --seconds 60 --fault kill    # node 2 killed mid-run
    .venv/bin/python bench/load.py --smoke                # seconds: 4 users for 3 s

Prints throughput, latency median/p99, errors, lost and duplicated live messages, and for a
fault how long clients took to recover. Needs PostgreSQL on 127.0.0.1:5432 and redis-server
(it creates and drops the database `k12_bench_fanout`, and starts its own Redis).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import Database, add_arguments  # noqa: E402
from fanout import DB, PRODUCTION, SECRET, setup_database  # noqa: E402

from tests.e2e.servers import Daphne, RedisServer, app_env, free_port, stop_process, wait_for_port  # noqa: E402
from tests.e2e.slow_clients import rest_command  # noqa: E402


class Node:
    """One app node: granian (REST) + daphne (/ws/)."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.http_port = free_port()
        self.daphne = Daphne(env)
        self.rest: subprocess.Popen | None = None

    def start(self) -> Node:
        self.rest = subprocess.Popen(
            rest_command(self.http_port, ["--workers", "2"]),
            cwd=ROOT,
            env={**self.env, "DB_POOL_MAX": "1"},  # one Python thread per worker: one pooled connection each
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.daphne.start()
        wait_for_port(self.http_port, self.rest)
        return self

    def kill(self) -> None:
        if self.rest and self.rest.poll() is None:
            os.killpg(self.rest.pid, signal.SIGKILL)
            self.rest.wait()
        if self.daphne.proc and self.daphne.proc.poll() is None:
            self.daphne.proc.kill()
            self.daphne.proc.wait()

    def stop(self) -> None:
        stop_process(self.rest, 15, group=True)
        self.daphne.stop()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def user_worker(index0, count, nodes, sessions, seconds, baseline, start_at, results):
    """One client process driving `count` virtual users; returns their figures."""
    import httpx
    import websockets

    async def one(uid: int):
        session = sessions[uid % len(sessions)]
        token = session["tokens"][uid % len(session["tokens"])]
        headers = {"Authorization": f"Bearer {token}"}
        home = uid % len(nodes)
        state = {
            "node": home,
            "received": [],
            "recv_at": {},
            "last": baseline[session["id"]],
            "down_since": None,
            "recoveries": [],
        }
        latencies, errors, posts, reads, retried = [], 0, 0, 0, 0
        stop = start_at + seconds
        rng = random.Random(uid)

        async def socket_loop():
            while time.time() < stop + 3:
                node = nodes[state["node"]]
                try:
                    async with websockets.connect(node["ws"], origin="http://127.0.0.1", open_timeout=5) as ws:
                        await ws.send(json.dumps({"type": "auth", "token": token}))
                        json.loads(await ws.recv())
                        await ws.send(
                            json.dumps({"type": "joinSession", "sessionId": session["id"], "after": state["last"]})
                        )
                        while True:
                            remaining = stop + 3 - time.time()
                            if remaining <= 0:
                                return
                            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=remaining))
                            if frame["type"] == "joined":
                                if state["down_since"] is not None:
                                    state["recoveries"].append(time.time() - state["down_since"])
                                    state["down_since"] = None
                                batch = frame["missed"]
                            elif frame["type"] == "newMessage":
                                batch = [frame["message"]]
                            else:
                                continue
                            now = time.time()
                            for message in batch:
                                state["received"].append(message["id"])
                                state["recv_at"].setdefault(message["id"], now)
                                state["last"] = message["id"]
                except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
                    if time.time() >= stop + 3:
                        return
                    if state["down_since"] is None:
                        state["down_since"] = time.time()
                    state["node"] = (state["node"] + 1) % len(nodes)  # fail over to the other node
                    await asyncio.sleep(0.2 + rng.random() * 0.3)

        sock = asyncio.create_task(socket_loop())
        async with httpx.AsyncClient(timeout=10) as client:
            await asyncio.sleep(max(0, start_at - time.time()) + rng.random())
            n = 0
            while time.time() < stop:
                posting = rng.random() < 0.3
                if posting:
                    n += 1
                    # a client_id makes the POST safe to retry: a retry returns the first message
                    body = {"text": f"u{uid}-{n}", "client_id": str(uuid.UUID(int=rng.getrandbits(128), version=4))}
                t0 = time.perf_counter()
                ok = False
                for attempt in range(2):  # as a client behind a load balancer: one retry, on the other node
                    url = f"{nodes[state['node']]['http']}/api/sessions/{session['id']}/messages"
                    try:
                        if posting:
                            r = await client.post(url, json=body, headers=headers)
                            ok = r.status_code in (200, 201)
                        else:
                            r = await client.get(url, params={"limit": 50}, headers=headers)
                            ok = r.status_code == 200
                        break
                    except httpx.HTTPError:
                        state["node"] = (state["node"] + 1) % len(nodes)
                        retried += attempt == 0
                if ok:
                    posts += posting
                    reads += not posting
                    latencies.append((time.perf_counter() - t0) * 1000)
                else:
                    errors += 1
                await asyncio.sleep(0.2 + rng.random() * 0.8)
        await sock
        # What the socket had not shown by the end is caught up the way a client does after a
        # reconnect: by REST, after the last message it saw. Late is not lost; lost is what
        # not even this finds.
        live_count = len(state["received"])
        async with httpx.AsyncClient(timeout=30) as client:
            url = f"{nodes[0]['http']}/api/sessions/{session['id']}/messages"
            while True:
                try:
                    r = await client.get(url, params={"after": state["last"], "limit": 200}, headers=headers)
                except httpx.HTTPError:
                    break
                if r.status_code != 200 or not r.json():
                    break
                for message in r.json():
                    state["received"].append(message["id"])
                    state["last"] = message["id"]
                if 'rel="next"' not in r.headers.get("Link", ""):
                    break
        return {
            "live_count": live_count,
            "session": session["id"],
            "latencies": latencies,
            "errors": errors,
            "retried": retried,
            "posts": posts,
            "reads": reads,
            "received": state["received"],
            "recv_at": state["recv_at"],
            "recoveries": state["recoveries"],
        }

    async def main():
        return await asyncio.gather(*(one(index0 + i) for i in range(count)))

    results.put(asyncio.run(main()))


def run(users: int, seconds: int, fault: str | None, processes: int, db: Database, lead: float = 5.0) -> dict:
    """``lead``: seconds the client processes get to start before the users begin."""
    setup_database(db)
    redis = RedisServer().start()
    env = app_env(db.url, redis.url, DJANGO_SECRET_KEY=SECRET, JWT_ACCESS_MINUTES="120")
    env.update({**PRODUCTION, "JWT_ACCESS_MINUTES": "120"})
    nodes = [Node(env).start(), Node(env).start()]
    try:
        sessions = _sessions(env)
        baseline = {s["id"]: s["last"] for s in sessions}
        node_urls = [{"http": n.http, "ws": n.daphne.ws} for n in nodes]
        start_at = time.time() + lead + users * 0.02
        results = mp.Queue()
        per = [users // processes + (1 if i < users % processes else 0) for i in range(processes)]
        workers, first = [], 0
        for k in per:
            workers.append(
                mp.Process(
                    target=user_worker, args=(first, k, node_urls, sessions, seconds, baseline, start_at, results)
                )
            )
            first += k
        for w in workers:
            w.start()
        fault_at = start_at + seconds / 2
        fault_note = ""
        fault_window = None
        if fault:
            time.sleep(max(0, fault_at - time.time()))
            began = time.time()
            if fault == "redis":
                redis.stop()
                time.sleep(10)
                redis.start()
                fault_note = "Redis stopped for 10 s at mid-run"
            elif fault == "kill":
                nodes[1].kill()
                fault_note = "node 2 (granian + daphne) killed with SIGKILL at mid-run"
            fault_window = (began, time.time())
        outcome = [u for _ in workers for u in results.get(timeout=seconds + 180)]
        for w in workers:
            w.join(timeout=30)
        return _summarise(outcome, sessions, users, seconds, fault_note, env, fault_window)
    finally:
        for n in nodes:
            n.stop()
        redis.stop()
        db.drop()


def _django(env, script: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True, capture_output=True
    )
    return out.stdout.decode().strip().splitlines()[-1]


def _sessions(env) -> list[dict]:
    """Both demo sessions with tokens of their participants and the id of their last message."""
    script = """
import json
from datetime import timedelta
from rest_framework_simplejwt.tokens import AccessToken
from k12.models import Booking
from sessions_app.chat.services import message_create
out = []
for booking in Booking.objects.select_related("student__parent", "student__user", "tutor").order_by("starts_at"):
    people = [booking.student.parent, booking.tutor] + ([booking.student.user] if booking.student.user else [])
    last = booking.messages.order_by("-seq").first()
    last = last or message_create(booking=booking, sender=booking.tutor, text="start")[0]
    tokens = []
    for person in people:
        token = AccessToken.for_user(person)
        token.set_exp(lifetime=timedelta(hours=2))
        tokens.append(str(token))
    out.append({"id": str(booking.id), "tokens": tokens, "last": str(last.id)})
print(json.dumps(out))
"""
    return json.loads(_django(env, script))


def _stored_after(env, sessions) -> dict[str, list[list]]:
    """Per session, [id, created_at epoch] of every message stored during the run."""
    script = f"""
import json
from sessions_app.models import SessionMessage
out = {{}}
for s in {json.dumps([{"id": s["id"], "last": s["last"]} for s in sessions])}:
    base = SessionMessage.objects.get(pk=s["last"]).seq
    out[s["id"]] = [[str(i), t.timestamp()] for i, t in SessionMessage.objects.filter(session_id=s["id"], seq__gt=base)
                    .order_by("seq").values_list("id", "created_at")]
print(json.dumps(out))
"""
    return json.loads(_django(env, script))


def _summarise(outcome, sessions, users, seconds, fault_note, env, fault_window=None) -> dict:
    stored_at = _stored_after(env, sessions)
    created = {i: t for rows in stored_at.values() for i, t in rows}
    stored = {sid: [i for i, _ in rows] for sid, rows in stored_at.items()}
    # live delivery: from the message's commit (created_at) to its arrival on each socket
    delays = sorted(max(0.0, at - created[i]) for u in outcome for i, at in u["recv_at"].items() if i in created)
    outage = []
    if fault_window is not None:
        t0, t1 = fault_window
        outage = [at - t1 for u in outcome for i, at in u["recv_at"].items() if i in created and t0 <= created[i] <= t1]
    latencies = sorted(x for u in outcome for x in u["latencies"])
    lost = duplicated = 0
    late = 0
    for u in outcome:
        expected = set(stored[u["session"]])
        got = u["received"]
        live = got[: u["live_count"]]
        late += len(expected - set(live))
        lost += len(expected - set(got))
        duplicated += len(got) - len(set(got))
    recoveries = [r for u in outcome for r in u["recoveries"]]
    requests_ok = len(latencies)
    return {
        "users": users,
        "seconds": seconds,
        "fault": fault_note,
        "requests": requests_ok,
        "rps": requests_ok / seconds,
        "posts": sum(u["posts"] for u in outcome),
        "reads": sum(u["reads"] for u in outcome),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)] if latencies else float("nan"),
        "errors": sum(u["errors"] for u in outcome),
        "retried": sum(u["retried"] for u in outcome),
        "stored": sum(len(v) for v in stored.values()),
        "lost": lost,
        "late": late,
        "duplicated": duplicated,
        "recovered_clients": len(recoveries),
        "recovery_max": max(recoveries) if recoveries else 0.0,
        "recovery_p50": statistics.median(recoveries) if recoveries else 0.0,
        "live_p50": statistics.median(delays) * 1000 if delays else float("nan"),
        "live_p99": delays[max(0, int(len(delays) * 0.99) - 1)] * 1000 if delays else float("nan"),
        "live_max": delays[-1] * 1000 if delays else float("nan"),
        "outage_messages": len(
            {i for i in created if fault_window and fault_window[0] <= created[i] <= fault_window[1]}
        ),
        "outage_caught_up": max(outage) if outage else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="*", default=[50, 200])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--fault", choices=["redis", "kill"], default=None)
    parser.add_argument("--processes", type=int, default=4)
    add_arguments(parser)
    args = parser.parse_args()
    if args.smoke:
        args.users, args.seconds, args.processes = [4], 3, 1
    print(f"load: {args.seconds} s per run, 2 nodes (granian --workers 2 + daphne each), Redis, PostgreSQL")
    print(f"load before: {os.getloadavg()[0]:.2f} (1-min), cores: {os.cpu_count()}")
    for users in args.users:
        db = Database(DB, args.database_url)
        r = run(users, args.seconds, args.fault, args.processes, db, lead=2.0 if args.smoke else 5.0)
        print(
            f"users={r['users']} requests={r['requests']} ({r['rps']:.0f}/s; {r['reads']} reads, {r['posts']} posts) "
            f"p50={r['p50']:.1f} ms p99={r['p99']:.1f} ms errors={r['errors']} "
            f"(retried on the other node: {r['retried']}) | live: stored={r['stored']} "
            f"not live by the end (caught up by REST after=)={r['late']} lost={r['lost']} "
            f"duplicated={r['duplicated']}",
            flush=True,
        )
        print(
            f"  live delivery (commit to socket): p50 {r['live_p50']:.1f} ms, p99 {r['live_p99']:.1f} ms, "
            f"max {r['live_max']:.0f} ms",
            flush=True,
        )
        if r["fault"]:
            print(
                f"  fault: {r['fault']}; sockets that reconnected: {r['recovered_clients']}, "
                f"recovery median {r['recovery_p50']:.1f} s, max {r['recovery_max']:.1f} s",
                flush=True,
            )
            if r["outage_caught_up"] is not None:
                print(
                    f"  the {r['outage_messages']} messages stored during the fault had reached every socket "
                    f"{r['outage_caught_up']:.1f} s after it ended",
                    flush=True,
                )


if __name__ == "__main__":
    main()
