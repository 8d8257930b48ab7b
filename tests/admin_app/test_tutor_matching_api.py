"""GET /api/admin/tutors?subject=<id>&available_for=<student id>: the desk's tutor matching over
the API, from the same selector (admin_app.selectors.tutor_matches) as the allocation form."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.admin_app.conftest import new_tutor
from tests.admin_app.test_lists import walk

URL = "/api/admin/tutors"


def rows(response) -> list[tuple]:
    assert response.status_code == 200, response.content
    return [(r["first_name"], r["free_weekly_hours"], r["active_allocations"]) for r in response.json()]


def test_a_subject_lists_its_tutors_best_fit_first_with_their_load(world, api, math_tutors):
    response = api(world.admin).get(URL, {"subject": str(world.math.id)})
    assert rows(response) == [("Cy", 84.0, 2), ("Tom", 83.0, 1), ("Bea", 10.0, 0)]
    assert response.json()[0]["subjects"] == ["Math"]


def test_available_for_leaves_out_the_students_current_tutor(world, api, math_tutors):
    response = api(world.admin).get(URL, {"subject": str(world.math.id), "available_for": str(world.child.id)})
    assert rows(response) == [("Cy", 84.0, 2), ("Bea", 10.0, 0)]


def test_the_matches_page_in_best_fit_order(world, api, math_tutors):
    for i in range(4):
        new_tutor(world.math, first=f"Zed{i}")  # no availability: 0 h, 0 allocations
    walked = walk(api(world.admin), URL, {"subject": str(world.math.id), "limit": 2})
    assert [r["first_name"] for r in walked][:3] == ["Cy", "Tom", "Bea"]
    assert len(walked) == 7 and len({r["id"] for r in walked}) == 7


def test_matching_searches_too(world, api, math_tutors):
    response = api(world.admin).get(URL, {"subject": str(world.math.id), "q": "crowded"})
    assert rows(response) == [("Cy", 84.0, 2)]


def test_without_a_subject_the_load_is_not_computed(world, api):
    listed = api(world.admin).get(URL).json()
    assert {(r["free_weekly_hours"], r["active_allocations"]) for r in listed} == {(None, None)}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"subject": "maths"}, "subject"),
        ({"subject": "00000000-0000-0000-0000-000000000000"}, "subject"),
        ({"subject": ""}, "subject"),
        ({"subject": "SUBJECT", "available_for": "nobody"}, "available_for"),
        ({"available_for": "STUDENT"}, "available_for"),
        ({"subject": "SUBJECT", "teaches": "x"}, "teaches"),
    ],
)
def test_bad_filters_are_400s_naming_the_parameter(world, api, params, named):
    ids = {"SUBJECT": str(world.math.id), "STUDENT": str(world.child.id)}
    response = api(world.admin).get(URL, {k: ids.get(v, v) for k, v in params.items()})
    assert response.status_code == 400
    assert named in response.json()


def test_matching_is_for_staff_only(world, api):
    assert api(world.parent).get(URL, {"subject": str(world.math.id)}).status_code == 403
    assert api(None).get(URL, {"subject": str(world.math.id)}).status_code == 401


def test_a_page_of_matches_costs_fixed_queries(world, api, math_tutors):
    client = api(world.admin)
    with CaptureQueriesContext(connection) as ctx:
        assert len(client.get(URL, {"subject": str(world.math.id), "limit": 10}).json()) == 3
    before = len(ctx.captured_queries)
    for i in range(5):
        new_tutor(world.math, first=f"More{i}")
    with CaptureQueriesContext(connection) as ctx:
        assert len(client.get(URL, {"subject": str(world.math.id), "limit": 10}).json()) == 8
    # the caller, the subject (checked by the filter set, read for the selector), the page, its subjects
    assert len(ctx.captured_queries) == before == 5
