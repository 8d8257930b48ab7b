"""The servers the tests and benchmarks start leave nothing behind: a worker that outlives its
master would keep its database connections, and the test database could not be dropped."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.e2e.servers import stop_process

# A master that ends on SIGTERM, with a worker that ignores it (as a worker busy with a request
# may when its master is told to stop).
MASTER = (
    "import subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', 'import signal, time; "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(300)'])\n"
    "time.sleep(300)\n"
)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _started() -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", MASTER], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout.readline().strip() == b"1"  # the worker is up
    return proc


def test_a_servers_workers_end_with_it():
    proc = _started()
    stop_process(proc, group=True)
    deadline = time.monotonic() + 5
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _group_alive(proc.pid)


def test_without_the_group_the_worker_would_outlive_its_master():
    proc = _started()
    try:
        stop_process(proc)
        time.sleep(0.2)
        assert proc.poll() is not None and _group_alive(proc.pid)
    finally:
        os.killpg(proc.pid, 9)
