"""The school's shape: many small rooms (a tutor, a student, maybe a parent on two devices), on
two daphne processes sharing Redis, against the peer (the reference backend in ``--peer-dir``)
under the same load in the same run, with the same client (bench/rooms_client.js: the npm
socket.io-client for both; ours also over /ws/encounters/).

    .venv/bin/python bench/rooms.py                         # 2,000 sockets in ~667 rooms, 60 s, all modes
    .venv/bin/python bench/rooms.py --sockets 600 --modes ours-sio,peer --storm
    .venv/bin/python bench/rooms.py --smoke                 # seconds: 12 sockets, ours only

Per mode it prints delivery latency (start of the POST to arrival) p50/p99/max, lost, duplicated
and reordered deliveries, CPU per message by process (between the client's start and end
marks), and server RSS per socket ((RSS with every socket joined - RSS idle) / sockets).
``--storm``: at mid-run one server process is killed (SIGKILL) with its sockets; they reconnect
as the web client does (its jitter and join timeout), through what stands for a proxy (a refused
connection goes on to the other process at once), and rejoin with `after` (ours); the peer, one
process, is restarted at once and its clients rejoin without `after` (it has none). Printed:
the time from the kill until every dropped socket is back, and until each also holds every
message whose POST was answered before it asked to join (caught up; the peer's clients have no
way to catch up). ``--profile DIR``: py-spy of the surviving daphne while measured.

Needs PostgreSQL on 127.0.0.1:5432 (creates and drops `k12_bench_rooms`), redis-server, Node,
tests/js/node_modules (`make js-deps`), and for the peer a set-up copy (``--peer-dir``; its
database is ``--peer-db``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import PG, Database, add_arguments, node_client  # noqa: E402
from fanout import (  # noqa: E402
    PRODUCTION,
    SECRET,
    _cpu_ticks,
    _postgres_pids,
    _tree,
    collect_static,
    rss_mib,
    start_servers,
)
from messages import Server, _cmdline, peer_env, peer_prepare, peer_start, wait_http  # noqa: E402

from tests.e2e.servers import RedisServer, app_env, free_port, stop_process  # noqa: E402

DB = "k12_bench_rooms"
CLIENT = Path(__file__).resolve().parent / "rooms_client.js"
SIZES = (2, 3, 4, 3)  # sockets per room, in turn: tutor, student, parent, the parent's second device
STORM_PROFILE_SECONDS = 10  # the reconnects' own time, not the quiet after it

FIXTURE = """
import json
from datetime import timedelta
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken
from k12.models import Booking, Student, Subject, User
n = {rooms}
subject = Subject.objects.create(name="Bench")
def user(email, role, first):
    return User(email=email, role=role, first_name=first, last_name="B", password="!")
tutors = User.objects.bulk_create([user(f"t{{i}}@b.test", "tutor", "Tutor") for i in range(n)])
parents = User.objects.bulk_create([user(f"p{{i}}@b.test", "parent", "Parent") for i in range(n)])
logins = User.objects.bulk_create([user(f"s{{i}}@b.test", "student", "Student") for i in range(n)])
students = Student.objects.bulk_create(
    [Student(parent=parents[i], user=logins[i], first_name="Student", grade=5) for i in range(n)]
)
start = timezone.now() + timedelta(days=1)
bookings = Booking.objects.bulk_create([
    Booking(student=students[i], tutor=tutors[i], subject=subject, starts_at=start, duration_minutes=60,
            ends_at=start + timedelta(minutes=60), created_by=parents[i]) for i in range(n)
])
def token(u):
    t = AccessToken.for_user(u)
    t.set_exp(lifetime=timedelta(hours=3))
    return str(t)
out = []
for i, b in enumerate(bookings):
    people = [token(tutors[i]), token(logins[i])]
    parent = token(parents[i])
    out.append({{"id": str(b.id), "people": people + [parent, parent], "sender": parent}})
print(json.dumps(out))
"""


def sizes(sockets: int) -> list[int]:
    out, total = [], 0
    while total < sockets:
        size = SIZES[len(out) % len(SIZES)]
        out.append(size)
        total += size
    return out


def our_rooms(room_sizes: list[int], db: Database) -> list[dict]:
    """A fresh database with one session per room; tokens signed with the servers' key."""
    collect_static()
    env = app_env(db.fresh(), "", DJANGO_SECRET_KEY=SECRET)
    script = FIXTURE.format(rooms=len(room_sizes))
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True, capture_output=True
    )
    made = json.loads(out.stdout.decode().strip().splitlines()[-1])
    return [
        {"id": m["id"], "tokens": m["people"][:k], "sender": m["sender"]} for m, k in zip(made, room_sizes, strict=True)
    ]


def cpu(groups: dict[str, list[int]]) -> dict[str, dict[int, int]]:
    """CPU ticks so far per process, by group."""
    return {name: {pid: _cpu_ticks([pid]) for pid in pids} for name, pids in groups.items()}


def spent(before: dict[int, int], after: dict[int, int]) -> int:
    """Ticks a group used between two snapshots (processes that came and went in between, such
    as short-lived database connections, are not seen)."""
    return sum(ticks - before.get(pid, 0) for pid, ticks in after.items())


def backends(db: str) -> list[int]:
    """The PostgreSQL backends serving ``db`` (their process title names it): the machine's
    PostgreSQL also serves other work."""
    return [p for p in _postgres_pids() if f" {db} " in _cmdline(p)]


def spy_start(pid: int, out: Path, seconds: int | None = None) -> subprocess.Popen:
    """py-spy on one server process (every thread, idle ones included: waits show), raw stacks."""
    argv = [str(ROOT / ".venv" / "bin" / "py-spy"), "record", "--pid", str(pid), "--rate", "200", "--idle"]
    if seconds is not None:
        argv += ["--duration", str(seconds)]
    argv += ["--threads", "--format", "raw", "--output", str(out), "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def spy_stop(spy: subprocess.Popen | None) -> None:
    if spy is not None and spy.poll() is None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()


def drive(config: dict, groups, rss_pids: list[int], on_kill=None, profile: tuple[int, Path] | None = None) -> dict:
    """Run the client; sample the servers at its marks. ``profile``: (pid, output) for py-spy
    from the start mark to the end mark, or in a storm for STORM_PROFILE_SECONDS from the kill."""
    path = Path(tempfile.mkstemp(prefix="rooms-", suffix=".json")[1])
    path.write_text(json.dumps(config))
    marks = {}
    rss_idle = sum(rss_mib(p) for p in rss_pids)
    rss_joined = None
    spy = None

    def on_phase(name: str, client_pid: int) -> None:
        nonlocal rss_joined, spy
        if name == "connected":
            rss_joined = sum(rss_mib(p) for p in rss_pids)
        elif name == "kill" and on_kill is not None:
            on_kill()
        if profile is not None and name == ("kill" if on_kill is not None else "start"):
            spy = spy_start(*profile, STORM_PROFILE_SECONDS if on_kill is not None else None)
        elif name == "end":
            spy_stop(spy)
        marks[name] = (cpu(groups()), _cpu_ticks([client_pid]))

    try:
        result = node_client(["node", str(CLIENT), str(path)], on_phase)
    finally:
        spy_stop(spy)
        path.unlink(missing_ok=True)
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    (before, client0), (after, client1) = marks["start"], marks["end"]
    messages = max(1, result["messages"])
    result["cpu_ms_per_message"] = {k: spent(before.get(k, {}), after[k]) * tick_ms / messages for k in after}
    result["cpu_ms_per_message"]["client (node)"] = (client1 - client0) * tick_ms / messages
    result["rss_idle_mib"] = rss_idle
    result["rss_joined_mib"] = rss_joined
    result["rss_kib_per_socket"] = (rss_joined - rss_idle) * 1024 / result["sockets"] if rss_joined else None
    return result


def run_ours(
    protocol: str,
    room_sizes: list[int],
    seconds: int,
    period: float,
    storm: bool,
    db: Database,
    profile: Path | None = None,
) -> dict:
    redis = RedisServer().start()
    extra = {**PRODUCTION, "JWT_ACCESS_MINUTES": "180", "WS_MAX_SOCKETS_PER_USER": "100"}
    env = app_env(db.url, redis.url, **extra)
    rooms = our_rooms(room_sizes, db)
    logdir = Path(tempfile.mkdtemp(prefix="k12-rooms-"))
    daphnes, rest, http_port = start_servers(env, logdir)
    try:
        daphne_pids = [d.proc.pid for d in daphnes]

        def groups():
            g = {f"daphne{k + 1}": [d.proc.pid] if d.proc else [] for k, d in enumerate(daphnes)}
            g.update(rest=_tree(rest.pid), postgres=backends(db.name), redis=[redis.proc.pid])
            return g

        def kill():
            daphnes[1].proc.send_signal(signal.SIGKILL)

        config = {
            "protocol": protocol,
            "urls": [d.http for d in daphnes],
            "post": f"http://127.0.0.1:{http_port}/api/sessions/{{id}}/messages",
            "rooms": rooms,
            "period": period,
            "seconds": seconds,
            "storm": storm,
            "after": True,
            "ack": True,
            "killAtSecond": seconds / 2 if storm else None,
        }
        spy = (daphne_pids[0], profile / f"py-spy-ours-{protocol}-daphne1.txt") if profile else None
        return drive(config, groups, daphne_pids, on_kill=kill if storm else None, profile=spy)
    finally:
        stop_process(rest, group=True)
        for d in daphnes:
            if d.proc is not None and d.proc.poll() is not None:
                d.proc = None
            d.stop()
        redis.stop()
        db.drop()


def run_peer(peer_dir: Path, room_sizes: list[int], seconds: int, period: float, storm: bool) -> dict | None:
    logdir = Path(tempfile.mkdtemp(prefix="k12-rooms-peer-"))
    try:
        fixture = peer_prepare(peer_dir, logdir)
    except RuntimeError as exc:
        print(f"  ({exc})")
        return None
    db = peer_env().get("DB_NAME", "nest_seed")
    ids = subprocess.run(
        ["psql", f"{PG}/{db}", "-Atc", f"SELECT id FROM bookings ORDER BY id LIMIT {len(room_sizes)}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    if len(ids) < len(room_sizes):
        print(f"  (the peer's fixture has {len(ids)} sessions, fewer than {len(room_sizes)} rooms)")
        return None
    token = fixture["tokens"]["parent"]  # the peer checks no participant: any user posts anywhere
    rooms = [{"id": i, "tokens": [token] * k, "sender": token} for i, k in zip(ids, room_sizes, strict=True)]
    port = free_port()
    holder = {"server": peer_start(peer_dir, port, logdir, fixture)}

    def groups():
        server = holder["server"]
        return {
            "peer (node)": [server.proc.pid] if server.proc else [],
            "postgres": backends(db),
        }

    def kill():
        server = holder["server"]
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
        restarted = Server("peer", ["./start.sh"], cwd=peer_dir, env=peer_env(PORT=str(port)), log=logdir / "peer.log")
        holder["server"] = restarted.start()
        threading.Thread(
            target=wait_http,
            args=(restarted, port, f"/sessions/{fixture['booking1Id']}/recordings"),
            kwargs={"headers": {"Authorization": f"Bearer {token}"}},
            daemon=True,
        ).start()

    try:
        config = {
            "protocol": "sio",
            "urls": [f"http://127.0.0.1:{port}"],
            "post": f"http://127.0.0.1:{port}/sessions/{{id}}/messages",
            "rooms": rooms,
            "period": period,
            "seconds": seconds,
            "storm": storm,
            "after": False,
            "ack": False,
            "killAtSecond": seconds / 2 if storm else None,
        }
        return drive(config, groups, [holder["server"].proc.pid], on_kill=kill if storm else None)
    finally:
        holder["server"].stop()


def report(name: str, r: dict) -> None:
    lat = r["latencyMs"]
    print(
        f"{name:<9} {r['sockets']:>7} {r['rooms']:>5} {r['messages']:>8} {r['deliveries']:>10} {lat['p50']:>7} "
        f"{lat['p99']:>7} {lat['max']:>8} {r['lost']:>5} {r['duplicates']:>4} {r['reordered']:>7} "
        f"{r['rss_kib_per_socket'] or float('nan'):>10.1f}",
        flush=True,
    )
    print(
        "          CPU ms per message: "
        + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu_ms_per_message"].items())
        + f"; RSS idle {r['rss_idle_mib']:.0f} MiB, joined {r['rss_joined_mib'] or 0:.0f} MiB"
        + f"; POST p50 {r['postMs']['p50']} p99 {r['postMs']['p99']} ms; failed POSTs {r['postsFailed']}",
        flush=True,
    )
    if "storm" in r:
        s = r["storm"]

        def ms(value):
            return "never" if value is None else f"{value:.0f} ms"

        print(
            f"          storm: {s['dropped']} sockets dropped, {s['back']} back, still down {s['stillDown']}, "
            f"{s['caughtUp']} caught up; the loss noticed after p50 {s['noticedMs']['p50']} "
            f"max {s['noticedMs']['max']} ms; "
            f"all back after {ms(s['allBackMs'])} (p50 {s['backMs']['p50']} ms), "
            f"all caught up after {ms(s['allCaughtUpMs'])} (p50 {s['caughtUpMs']['p50']} ms); "
            f"p50 first retry / open / authenticated at {s['phasesMs']} ms",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--period", type=float, default=10.0, help="seconds between two messages of a room")
    parser.add_argument("--modes", default="ours-ws,ours-sio,peer", help="ours-ws, ours-sio, peer")
    parser.add_argument("--storm", action="store_true", help="kill one server process at mid-run")
    parser.add_argument("--peer-dir", type=Path, default=Path("/tmp/nest-seed"))
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="py-spy daphne1 (ours) while measured; raw stacks into DIR"
    )
    add_arguments(parser)
    args = parser.parse_args()
    if args.smoke:
        args.sockets, args.seconds, args.period, args.modes = 12, 2, 1.0, "ours-ws,ours-sio"
    room_sizes = sizes(args.sockets)
    print(
        f"rooms: {sum(room_sizes)} sockets in {len(room_sizes)} rooms of {min(room_sizes)}-{max(room_sizes)}, "
        f"one message per room every {args.period:g} s for {args.seconds} s"
        + ("; one server process killed at mid-run" if args.storm else ""),
        flush=True,
    )
    print(f"load before: {os.getloadavg()[0]:.2f} (1-min), cores: {os.cpu_count()}", flush=True)
    print(
        f"{'server':<9} {'sockets':>7} {'rooms':>5} {'messages':>8} {'deliveries':>10} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>8} {'lost':>5} {'dup':>4} {'reorder':>7} {'KiB/socket':>10}",
        flush=True,
    )
    for mode in args.modes.split(","):
        if mode == "peer":
            r = run_peer(args.peer_dir, room_sizes, args.seconds, args.period, args.storm)
            if r is not None:
                report("peer", r)
        else:
            protocol = mode.split("-")[1]
            db = Database(DB, args.database_url)
            report(mode, run_ours(protocol, room_sizes, args.seconds, args.period, args.storm, db, args.profile))
        print(f"          (load after: {os.getloadavg()[0]:.2f})", flush=True)
    print("ours: two daphne processes + Redis, POST via granian --workers 2; peer: one node process.")


if __name__ == "__main__":
    main()
