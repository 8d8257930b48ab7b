"""One access rule: no view, viewset, consumer, gateway, admin class or page decides access by
reading ``role``, ``is_staff``, ``is_superuser`` or ``recording_consent`` itself; they ask
``k12.permissions``. This test reads the code (its syntax tree): such an attribute used in a
decision (a comparison, a boolean test, an ``if``) outside k12/permissions.py fails it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DECIDING_ATTRIBUTES = {"role", "is_staff", "is_superuser", "recording_consent"}
# Where requests, sockets and the desk are served: the places that must ask the rule.
SERVING = [
    "k12/api.py",
    "k12/viewsets.py",
    "k12/urls.py",
    "admin_app/viewsets.py",
    "admin_app/reports.py",
    "admin_app/admin/base.py",
    "admin_app/admin/core.py",
    "admin_app/admin/sessions.py",
    "admin_app/admin/audit.py",
    "admin_app/sites.py",
    "sessions_app/chat/viewsets.py",
    "sessions_app/recordings/viewsets.py",
    "sessions_app/chat/consumers.py",
    "sessions_app/chat/gateway.py",
    "sessions_app/chat/live.py",
    "sessions_app/chat/hub.py",
    "sessions_app/web/views.py",
    "sessions_app/recordings/playback.py",
]


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


@pytest.mark.parametrize("path", SERVING)  # a module moved or renamed fails here until listed anew
def test_no_access_decision_outside_the_rule(path):
    assert leaks((ROOT / path).read_text()) == []


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
