"""What a server process does once its application is loaded (k12/process.py): the objects
loading created (modules, settings, URL patterns, models' metadata) live as long as the process,
so the garbage collector's full collections must not walk them again and again (each walk held
the live room's event loop for as long as it took)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json, sys
import {module}
gc.collect()
loaded = {{
    "frozen": gc.get_freeze_count(),
    "tracked": len(gc.get_objects()),
    "urls_loaded": "k12.urls" in sys.modules,
    "gc_enabled": gc.isenabled(),
    "thresholds": gc.get_threshold(),
}}
from twisted.internet import tcp
from k12 import transport
print(json.dumps({{**loaded, "writes_at_once": tcp.Server.write is transport.write_now}}))
"""


def _load_in_a_new_process(module: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "DB_"))}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        cwd=ROOT,
        env={**clean, "DJANGO_DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["k12.asgi", "k12.wsgi"])
def test_loading_the_application_leaves_its_objects_out_of_the_collectors_walks(module):
    loaded = _load_in_a_new_process(module)
    # The URL map is loaded with the application (not by the first request), so it is frozen too.
    assert loaded["urls_loaded"] is True
    # Everything loading made is frozen; what the collector still walks is what came after.
    assert loaded["frozen"] > 50_000
    assert loaded["tracked"] < loaded["frozen"] / 20
    # Collection itself stays on: garbage made while serving is still reclaimed.
    assert loaded["gc_enabled"] is True


def test_the_live_room_process_lets_arriving_sockets_settle_before_collecting():
    # A socket is a few hundred objects that live as long as it does; the young generation is
    # collected after 10,000 net new objects, not the default 700, in the process that holds them.
    assert _load_in_a_new_process("k12.asgi")["thresholds"] == [10_000, 10, 10]
    # The REST process keeps the interpreter's defaults.
    assert _load_in_a_new_process("k12.wsgi")["thresholds"] == [700, 10, 10]


def test_the_live_room_process_writes_at_once():
    # k12/transport.py, installed by the ASGI application daphne loads; REST does not use twisted.
    assert _load_in_a_new_process("k12.asgi")["writes_at_once"] is True
    assert _load_in_a_new_process("k12.wsgi")["writes_at_once"] is False
