"""The role table for /api/admin/* and the desk at /admin/: admin only; every other
role 403, anonymous 401 (the desk: back to its login page)."""

from __future__ import annotations

import pytest
from django.test import Client

from k12.models import Allocation
from tests.conftest import ROLES

ADMIN_ONLY_READ = {role: 403 for role in ROLES} | {"anonymous": 401, "admin": 200}
ADMIN_ONLY_CREATE = ADMIN_ONLY_READ | {"admin": 201}


def _allocation_body(w):
    return {"studentId": str(w.child.id), "tutorId": str(w.tutor.id), "subjectId": str(w.physics.id)}


def _active_allocation(w):
    return Allocation.objects.get(student=w.child, subject=w.math, status="active")


ENDPOINTS = {
    "GET stats": ("get", lambda w: "/api/admin/stats", None, ADMIN_ONLY_READ),
    "GET students": ("get", lambda w: "/api/admin/students", None, ADMIN_ONLY_READ),
    "GET tutors": ("get", lambda w: "/api/admin/tutors", None, ADMIN_ONLY_READ),
    "GET allocations": ("get", lambda w: "/api/admin/allocations", None, ADMIN_ONLY_READ),
    "POST allocations": ("post", lambda w: "/api/admin/allocations", _allocation_body, ADMIN_ONLY_CREATE),
    "POST end": (
        "post",
        lambda w: f"/api/admin/allocations/{_active_allocation(w).id}/end",
        lambda w: {},
        ADMIN_ONLY_READ,
    ),
}
CASES = [(name, role) for name in ENDPOINTS for role in ROLES]


@pytest.mark.parametrize(("endpoint", "role"), CASES, ids=[f"{e}-{r}" for e, r in CASES])
@pytest.mark.parametrize("slash", ["", "/"])
def test_admin_api_role_table(world, api, endpoint, role, slash):
    method, url, body, expected = ENDPOINTS[endpoint]
    response = getattr(api(world.user(role)), method)(url(world) + slash, body(world) if body else None, format="json")
    assert response.status_code == expected[role], response.content
    if expected[role] in (401, 403):
        assert set(response.json()) == {"detail"}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_refused_requests_change_nothing(world, api, endpoint):
    method, url, body, _ = ENDPOINTS[endpoint]
    before = list(Allocation.objects.order_by("id").values_list("id", "status"))
    for role in ROLES:
        if role != "admin":
            getattr(api(world.user(role)), method)(url(world), body(world) if body else None, format="json")
    assert list(Allocation.objects.order_by("id").values_list("id", "status")) == before


@pytest.mark.parametrize("role", [r for r in ROLES if r not in ("anonymous", "admin")])
def test_the_desk_turns_other_roles_back_to_its_login(world, role):
    client = Client()
    client.force_login(world.user(role))
    for url in ("/admin/", "/admin/k12/allocation/", "/admin/k12/allocation/add/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url


def test_the_desk_turns_anonymous_back_to_its_login(db):
    response = Client().get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_the_desk_lets_the_admin_role_in(world):
    client = Client()
    client.force_login(world.admin)
    assert client.get("/admin/").status_code == 200


def test_the_desk_login_form_refuses_a_tutor(world):
    from tests.conftest import PASSWORD

    client = Client()
    response = client.post("/admin/login/", {"username": world.tutor.email, "password": PASSWORD})
    assert response.status_code == 200  # the form again, with an error
    assert client.get("/admin/").status_code == 302
