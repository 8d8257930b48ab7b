"""Every setting the code reads is defined in k12/settings.py (from the environment where an
operator would change it) and read as ``settings.NAME``: a ``getattr(settings, NAME, default)``
would keep a second default that hides a setting missing from settings.py and the README."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("k12", "sessions_app", "admin_app")


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts and path.name != "settings.py":
                yield path.relative_to(ROOT), ast.parse(path.read_text(), filename=str(path))


def _is_settings(node) -> bool:
    return isinstance(node, ast.Name) and node.id == "settings"


def test_settings_are_read_as_attributes_never_with_a_fallback():
    fallbacks = [
        f"{path}:{node.lineno}"
        for path, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("getattr", "hasattr")
        and node.args
        and _is_settings(node.args[0])
    ]
    assert fallbacks == []


def test_every_setting_the_code_reads_is_defined():
    read = {
        node.attr
        for _, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and _is_settings(node.value) and node.attr.isupper()
    }
    assert {"WS_RATE_PER_SECOND", "WS_MAX_SOCKETS_PER_USER", "PRESENCE_TTL_SECONDS"} <= read  # the scan sees them
    assert sorted(name for name in read if not hasattr(settings, name)) == []


def test_the_live_room_limits_come_from_the_environment():
    names = [
        "WS_AUTH_TIMEOUT_SECONDS",
        "WS_RATE_PER_SECOND",
        "WS_RATE_BURST",
        "WS_FLOOD_STRIKES",
        "WS_TYPING_INTERVAL_SECONDS",
        "WS_ACCESS_RECHECK_SECONDS",
        "WS_MAX_SOCKETS_PER_USER",
        "WS_SOCKET_LEASE_SECONDS",
    ]
    values = {name: str(100 + i) for i, name in enumerate(names)}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WS_"))}
    code = f"import json; from k12 import settings as s; print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_DEBUG": "1", **values},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(result.stdout) == {name: int(value) for name, value in values.items()}
    readme = (ROOT / "README.md").read_text()
    configuration = readme[readme.index("## Configuration") : readme.index("## How the pieces fit")]
    assert [name for name in names if f"`{name}`" not in configuration] == []
