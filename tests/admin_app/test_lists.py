"""GET /api/admin/students and /api/admin/tutors: their shapes, search, the API's pagination
(array body, Link header), and a query count independent of the page size."""

from __future__ import annotations

import pytest

from k12.models import Role
from tests.admin_app.conftest import new_student, new_tutor
from tests.conftest import make_user


def next_link(response) -> str | None:
    for part in response.get("Link", "").split(","):
        if 'rel="next"' in part:
            return part.split(";")[0].strip().strip("<>")
    return None


def walk(client, url, params) -> list[dict]:
    rows, response = [], client.get(url, params)
    while True:
        assert response.status_code == 200
        rows += response.json()
        link = next_link(response)
        if link is None:
            return rows
        response = client.get(link)


def test_students_have_the_parent_email(world, api):
    rows = api(world.admin).get("/api/admin/students").json()
    by_id = {row["id"]: row for row in rows}
    assert set(by_id) == {str(world.child.id), str(world.other_child.id)}
    sam = by_id[str(world.child.id)]
    assert sam["first_name"] == "Sam" and sam["last_name"] == "Parker" and sam["grade"] == 7
    assert sam["parent"] == {"email": "parent@example.test"}
    assert sam["parent_id"] == str(world.parent.id) and sam["user_id"] == str(world.student_user.id)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("sam", {"child"}),
        ("PARKER", {"child"}),
        ("sam parker", {"child"}),  # every word must match
        ("sam quinn", set()),
        ("other.parent@", {"other_child"}),  # the parent's email
        ("other.student", {"other_child"}),  # the student's own login
        ("example.test", {"child", "other_child"}),
        ("", {"child", "other_child"}),
        ("   ", {"child", "other_child"}),
        ("nobody", set()),
        ("%", set()),
        ("_", set()),
    ],
)
def test_students_search(world, api, q, expected):
    rows = api(world.admin).get("/api/admin/students", {"q": q}).json()
    assert {row["id"] for row in rows} == {str(getattr(world, name).id) for name in expected}


def test_tutors_have_their_subject_names(world, api):
    rows = api(world.admin).get("/api/admin/tutors").json()
    by_id = {row["id"]: row for row in rows}
    assert set(by_id) == {str(world.tutor.id), str(world.other_tutor.id)}  # no parents, admins, students
    assert by_id[str(world.tutor.id)] == {
        "id": str(world.tutor.id),
        "first_name": "Tom",
        "last_name": "",
        "email": "tutor@example.test",
        "is_active": True,
        "subjects": ["Math", "Physics"],
        # the load is computed when tutors are matched for a subject (?subject=)
        "free_weekly_hours": None,
        "active_allocations": None,
    }
    assert by_id[str(world.other_tutor.id)]["subjects"] == ["English"]
    newcomer = new_tutor()
    assert api(world.admin).get("/api/admin/tutors", {"q": newcomer.email}).json()[0]["subjects"] == []


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("tom", {"tutor"}),
        ("emma austen", {"other_tutor"}),
        ("other.tutor@", {"other_tutor"}),
        ("physics", {"tutor"}),  # a subject's name
        ("ENGL", {"other_tutor"}),
        ("a", {"tutor", "other_tutor"}),  # Math and Physics both match: still one row for Tom
        ("paula", set()),  # a parent's name: parents are not tutors
    ],
)
def test_tutors_search(world, api, q, expected):
    rows = api(world.admin).get("/api/admin/tutors", {"q": q}).json()
    assert sorted(row["id"] for row in rows) == sorted(str(getattr(world, name).id) for name in expected)


@pytest.mark.parametrize("url", ["/api/admin/students", "/api/admin/tutors"])
def test_bad_list_parameters_are_400(world, api, url):
    client = api(world.admin)
    bad = ({"q": "x" * 101}, {"limit": 0}, {"limit": 201}, {"limit": "ten"}, {"limit": ""}, {"cursor": "garbage"})
    for params in bad:
        response = client.get(url, params)
        assert response.status_code == 400 and set(response.json()) == set(params), params


def test_students_walk_every_page_once(world, api):
    for i in range(23):
        new_student(world.other_parent, first=f"Kid{i}")
    rows = walk(api(world.admin), "/api/admin/students", {"limit": 5})
    assert len(rows) == 25 and len({row["id"] for row in rows}) == 25
    assert [row["created_at"] for row in rows] == sorted((row["created_at"] for row in rows), reverse=True)


def test_tutors_walk_every_page_once_keeping_the_search(world, api):
    for _ in range(12):
        new_tutor(world.physics)
    new_tutor(world.english)
    rows = walk(api(world.admin), "/api/admin/tutors", {"limit": 4, "q": "physics"})
    assert len(rows) == 13 and len({row["id"] for row in rows}) == 13
    assert all("Physics" in row["subjects"] for row in rows)


@pytest.mark.parametrize("size", [1, 50])
def test_students_query_count_is_constant(world, api, django_assert_num_queries, size):
    for i in range(60):
        parent = make_user(f"p{i}@example.test", Role.PARENT)
        new_student(parent)
    client = api(world.admin)
    # user (JWT), page (the parent joined in)
    with django_assert_num_queries(2):
        response = client.get("/api/admin/students", {"limit": size})
    assert len(response.json()) == size and all(row["parent"]["email"] for row in response.json())


@pytest.mark.parametrize("size", [1, 50])
def test_tutors_query_count_is_constant(world, api, django_assert_num_queries, size):
    for _ in range(60):
        new_tutor(world.math, world.physics, world.english)
    client = api(world.admin)
    # user (JWT), page, the page's subjects
    with django_assert_num_queries(3):
        response = client.get("/api/admin/tutors", {"limit": size, "q": "a"})
    assert len(response.json()) == size and all(len(row["subjects"]) == 3 for row in response.json())
