"""The contract's role table, over every endpoint of the foundation: each role, anonymous
included, expecting the contract's status."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import ROLES, VIEW_ACCESS, next_slot

ALL_OK = {role: 200 for role in ROLES} | {"anonymous": 401}
PARTICIPANTS_ONLY = VIEW_ACCESS
CANCELLERS = PARTICIPANTS_ONLY | {"student_user": 403}
BOOKERS = {role: 403 for role in ROLES} | {"anonymous": 401, "admin": 201, "parent": 201}
ADD_CHILD_OF_PARENT = BOOKERS
MOVERS = BOOKERS | {"admin": 200, "parent": 200}


def _session_body(w):
    return {
        "student_id": str(w.child.id),
        "tutor_id": str(w.tutor.id),
        "subject_id": str(w.math.id),
        "starts_at": next_slot(5, 10).isoformat(),
        "duration_minutes": 60,
    }


ENDPOINTS = {
    "GET me": ("get", lambda w: "/api/me", None, ALL_OK),
    "GET subjects": ("get", lambda w: "/api/subjects", None, ALL_OK),
    "GET students": ("get", lambda w: "/api/students", None, ALL_OK),
    "POST students": (
        "post",
        lambda w: "/api/students",
        lambda w: {"first_name": "New", "grade": 3, "parent_id": str(w.parent.id)},
        ADD_CHILD_OF_PARENT,
    ),
    "GET sessions": ("get", lambda w: "/api/sessions", None, ALL_OK),
    "POST sessions": ("post", lambda w: "/api/sessions", _session_body, BOOKERS),
    "GET session": ("get", lambda w: f"/api/sessions/{w.booking.id}", None, PARTICIPANTS_ONLY),
    "POST cancel": ("post", lambda w: f"/api/sessions/{w.booking.id}/cancel", lambda w: {}, CANCELLERS),
    "POST reschedule": (
        "post",
        lambda w: f"/api/sessions/{w.booking.id}/reschedule",
        lambda w: {"starts_at": next_slot(4, 11).isoformat()},
        MOVERS,
    ),
}

CASES = [(name, role) for name in ENDPOINTS for role in ROLES]


@pytest.mark.parametrize(("endpoint", "role"), CASES, ids=[f"{e}-{r}" for e, r in CASES])
def test_role_table(world, api, endpoint, role):
    method, url, body, expected = ENDPOINTS[endpoint]
    client = api(world.user(role))
    response = getattr(client, method)(url(world), body(world) if body else None, format="json")
    assert response.status_code == expected[role], response.content


@pytest.mark.parametrize("role", ROLES)
def test_unknown_or_malformed_session_is_404_for_everyone_signed_in(world, api, role):
    client = api(world.user(role))
    for session_id in (uuid.uuid4(), "not-a-uuid", "1' OR '1'='1"):
        response = client.get(f"/api/sessions/{session_id}")
        assert response.status_code == (401 if role == "anonymous" else 404)


def test_paths_work_with_and_without_trailing_slash(world, api):
    client = api(world.parent)
    assert client.get("/api/sessions").status_code == 200
    assert client.get("/api/sessions/").status_code == 200
    assert client.get(f"/api/sessions/{world.booking.id}/").status_code == 200


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("admin", {"booking", "other_booking"}),
        ("parent", {"booking"}),
        ("student_user", {"booking"}),
        ("tutor", {"booking"}),
        ("other_parent", {"other_booking"}),
        ("other_tutor", {"other_booking"}),
    ],
)
def test_session_list_is_scoped_to_the_caller(world, api, role, visible):
    response = api(world.user(role)).get("/api/sessions")
    assert response.status_code == 200
    assert {row["id"] for row in response.json()} == {str(getattr(world, name).id) for name in visible}


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("admin", {"child", "other_child"}),
        ("parent", {"child"}),
        ("tutor", {"child"}),
        ("student_user", {"child"}),
        ("other_tutor", {"other_child"}),
    ],
)
def test_student_list_is_scoped_to_the_caller(world, api, role, visible):
    response = api(world.user(role)).get("/api/students")
    assert {row["id"] for row in response.json()} == {str(getattr(world, name).id) for name in visible}
