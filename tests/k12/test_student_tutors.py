"""GET /api/students/{id}/tutors: whom a parent can book a session with, and when."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from k12 import services


def test_a_parent_sees_their_childs_tutors_with_availability(world, api):
    response = api(world.parent).get(f"/api/students/{world.child.id}/tutors")
    assert response.status_code == 200
    [math] = response.json()
    assert math["subject"] == {"id": str(world.math.id), "name": "Math"}
    assert math["tutor"] == {"id": str(world.tutor.id), "first_name": "Tom", "last_name": ""}
    assert math["availability"][0] == {
        "weekday": 0,
        "start_time": "08:00:00",
        "end_time": "20:00:00",
        "timezone": "UTC",
    }
    assert [w["weekday"] for w in math["availability"]] == list(range(7))


def test_ended_allocations_are_not_offered(world, api):
    services.allocation_create(created_by=world.admin, student=world.child, tutor=world.tutor, subject=world.physics)
    allocation = world.child.allocations.get(subject=world.math)
    services.allocation_end(allocation=allocation, ended_by=world.admin)
    rows = api(world.parent).get(f"/api/students/{world.child.id}/tutors").json()
    assert [row["subject"]["name"] for row in rows] == ["Physics"]


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("anonymous", 401),
        ("other_parent", 403),
        ("other_tutor", 403),
        ("other_student_user", 403),
        ("admin", 200),
        ("tutor", 200),
        ("student_user", 200),
    ],
)
def test_who_may_see_a_students_tutors(world, api, role, status):
    assert api(world.user(role)).get(f"/api/students/{world.child.id}/tutors/").status_code == status


def test_unknown_student_is_a_404_and_unknown_params_a_400(world, api):
    client = api(world.parent)
    assert client.get("/api/students/00000000-0000-0000-0000-000000000000/tutors").status_code == 404
    assert client.get(f"/api/students/{world.child.id}/tutors", {"x": 1}).status_code == 400


def test_the_list_costs_fixed_queries(world, api):
    for subject in (world.physics,):
        services.allocation_create(created_by=world.admin, student=world.child, tutor=world.tutor, subject=subject)
    client = api(world.parent)
    with CaptureQueriesContext(connection) as ctx:
        assert len(client.get(f"/api/students/{world.child.id}/tutors").json()) == 2
    # the caller, the student, the allocations, the tutors' availability
    assert len(ctx.captured_queries) == 4
