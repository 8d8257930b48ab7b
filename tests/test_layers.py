"""The packages' layers: the core (k12) knows no app built on it, sessions_app builds on the core,
the staff desk (admin_app) on both; and the domain (services, selectors, k12.errors) imports
nothing of DRF. import-linter checks the import graph against the contracts in pyproject.toml
(imports inside functions included); a second check reads k12's syntax trees for
an app named in a string (``apps.get_model("sessions_app", ...)``, ``import_module(...)``), the
other way to reach an app without an import statement."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
# The project's composition root: the URL map and the ASGI application name the apps.
COMPOSITION_ROOT = {"k12/urls.py", "k12/asgi.py"}


def lint_imports(config: Path, *, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """import-linter's command over ``config`` (in a process of its own: a plugin loaded into
    pytest's process confuses its reading of the contracts)."""
    command = [str(Path(sys.executable).parent / "lint-imports"), "--no-cache", str(config)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def _layers() -> list[str]:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["id"] == "layers")["layers"]


APPS = [name for name in _layers() if name != "k12"]


def test_the_packages_keep_their_contracts():
    result = lint_imports(PYPROJECT)
    assert result.returncode == 0, result.stdout + result.stderr  # which import breaks which contract, where


def test_the_contract_check_sees_imports_inside_functions(tmp_path):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("")
    (tmp_path / "core" / "rule.py").write_text("def rule():\n    from app import models\n    return models\n")
    (tmp_path / "core" / "services.py").write_text("def create():\n    from rest_framework import exceptions\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "models.py").write_text("import core.rule\n")
    config = tmp_path / "pyproject.toml"
    config.write_text(
        textwrap.dedent(
            """
            [tool.importlinter]
            root_packages = ["core", "app"]
            include_external_packages = true

            [[tool.importlinter.contracts]]
            name = "app on core"
            type = "layers"
            layers = ["app", "core"]

            [[tool.importlinter.contracts]]
            name = "services without DRF"
            type = "forbidden"
            source_modules = ["core.services"]
            forbidden_modules = ["rest_framework"]
            allow_indirect_imports = true
            """
        )
    )

    result = lint_imports(config, cwd=tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "core.rule -> app.models (l.2)" in result.stdout
    assert "core.services -> rest_framework (l.2)" in result.stdout


def apps_named(source: str, apps: list[str]) -> list[tuple[int, str]]:
    """Strings passed to a call that name one of ``apps`` (its label, or a dotted path in it)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        for arg in [*node.args, *(keyword.value for keyword in node.keywords)]:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if any(arg.value == app or arg.value.startswith(app + ".") for app in apps):
                    found.append((arg.lineno, arg.value))
    return found


CORE_MODULES = sorted(
    str(path.relative_to(ROOT))
    for path in (ROOT / "k12").rglob("*.py")
    if str(path.relative_to(ROOT)) not in COMPOSITION_ROOT
)


@pytest.mark.parametrize("path", CORE_MODULES)
def test_the_core_names_no_app_in_a_string(path):
    assert apps_named((ROOT / path).read_text(), APPS) == []


def test_the_string_check_sees_an_app_named_in_a_call():
    source = """
def fetch(message_id):
    from django.apps import apps
    model = apps.get_model("sessions_app", "SessionMessage")
    other = apps.get_model("admin_app.Thing")
    hook = import_string(dotted_path="sessions_app.selectors.sessions_with_unread")
    return "sessions_app is mentioned in prose, not called", model, other, hook
"""
    assert apps_named(source, ["sessions_app", "admin_app"]) == [
        (4, "sessions_app"),
        (5, "admin_app.Thing"),
        (6, "sessions_app.selectors.sessions_with_unread"),
    ]
