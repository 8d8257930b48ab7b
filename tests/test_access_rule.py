"""One access rule: no module (view, viewset, consumer, gateway, service, task, admin class or
page) decides access by reading ``role``, ``is_staff``, ``is_superuser`` or
``recording_consent`` itself; they ask ``k12.permissions``. This test reads the code (its
syntax tree): such an attribute used in a decision (a comparison, a boolean test, an ``if``)
outside k12/permissions.py fails it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DECIDING_ATTRIBUTES = {"role", "is_staff", "is_superuser", "recording_consent"}
# Every module of the project's packages must ask the rule, services included; the only module
# that reads these attributes to decide is the rule itself.
PACKAGES = ("k12", "sessions_app", "admin_app")
RULE = "k12/permissions.py"
MODULES = sorted(
    str(path.relative_to(ROOT))
    for package in PACKAGES
    for path in (ROOT / package).rglob("*.py")
    if "migrations" not in path.parts and str(path.relative_to(ROOT)) != RULE
)
# Not access decisions: a write checks what kind of user it is handed (the tutor of a booking, the
# parent of a child: a 400 on the input, whoever asks), and the consent service compares the
# stored value with the one asked for. Each entry must still occur (a stale one fails).
NOT_ACCESS = {
    ("k12/services.py", "parent.role"),
    ("k12/services.py", "tutor.role"),
    ("k12/services.py", "login.role"),
    ("k12/services.py", "locked.recording_consent"),
}


def _decisions(tree: ast.AST):
    """Nodes whose value decides something: tests of if/while/assert/conditional expressions and
    comprehension filters, comparisons and boolean operations."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If | ast.While | ast.Assert | ast.IfExp):
            yield node.test
        elif isinstance(node, ast.comprehension):
            yield from node.ifs
        elif isinstance(node, ast.Compare | ast.BoolOp) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
        ):
            yield node


def leaks(source: str) -> list[tuple[int, str]]:
    found = set()
    for decision in _decisions(ast.parse(source)):
        for node in ast.walk(decision):
            if isinstance(node, ast.Attribute) and node.attr in DECIDING_ATTRIBUTES:
                found.add((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_the_modules_are_found():
    assert "sessions_app/chat/viewsets.py" in MODULES and "k12/services.py" in MODULES and RULE not in MODULES


@pytest.mark.parametrize("path", MODULES)
def test_no_access_decision_outside_the_rule(path):
    found = [(line, expr) for line, expr in leaks((ROOT / path).read_text()) if (path, expr) not in NOT_ACCESS]
    assert found == []


def test_each_exemption_still_occurs():
    for path, expr in NOT_ACCESS:
        assert expr in {e for _, e in leaks((ROOT / path).read_text())}, (path, expr)


def test_the_check_sees_a_decision_taken_by_hand():
    # the test itself can fail: the shapes a leak takes are caught
    source = """
def view(request, booking):
    if request.user.role == "admin":
        return True
    allowed = request.user.is_staff or booking.student.recording_consent
    return [b for b in x if b.student.recording_consent]
"""
    assert [line for line, _ in leaks(source)] == [3, 5, 5, 6]


def test_reading_a_field_to_show_it_is_not_a_decision():
    assert leaks('payload = {"role": user.role}\nobj.is_staff = permissions.is_staff_role(obj.role)') == []
