"""Allocating tutors: each rule of allocation_create as a test, through the API (and the
service where the API cannot reach), duplicates sequential and concurrent, ending and
re-allocating, and the list."""

from __future__ import annotations

import threading
import uuid
from datetime import time

import pytest
from django.db import connection

from k12 import services
from k12.errors import Forbidden
from k12.models import Allocation, AllocationStatus, Notification, TutorAvailability
from tests.admin_app.conftest import new_student, new_tutor
from tests.conftest import client_for, next_slot

URL = "/api/admin/allocations"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def body(w, **overrides):
    data = {"studentId": str(w.child.id), "tutorId": str(w.tutor.id), "subjectId": str(w.physics.id)}
    data.update(overrides)
    return data


def end_url(allocation_id) -> str:
    return f"{URL}/{allocation_id}/end"


def test_allocate_answers_success_message_and_allocation_and_stores_it(world, api):
    response = api(world.admin).post(URL, body(world), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["success"] is True and data["message"] == "Tutor assigned"
    allocation = data["allocation"]
    assert allocation["student"] == {"id": str(world.child.id), "first_name": "Sam", "last_name": "Parker", "grade": 7}
    assert allocation["tutor"] == {"id": str(world.tutor.id), "first_name": "Tom", "last_name": ""}
    assert allocation["subject"] == {"id": str(world.physics.id), "name": "Physics"}
    assert allocation["status"] == "active"
    assert allocation["created_by"] == str(world.admin.id)
    assert allocation["created_at"].endswith("Z")
    assert allocation["ended_at"] is None and allocation["ended_by"] is None
    row = Allocation.objects.get(pk=allocation["id"])
    assert (row.student, row.tutor, row.subject, row.status) == (world.child, world.tutor, world.physics, "active")


def test_a_non_tutor_is_400_on_tutor_id(world, api):
    client = api(world.admin)
    for someone in (world.parent, world.admin, world.student_user):
        response = client.post(URL, body(world, tutorId=str(someone.id)), format="json")
        assert response.status_code == 400, response.content
        assert "tutorId" in response.json()
    assert not Allocation.objects.filter(subject=world.physics).exists()


def test_an_inactive_tutor_is_400_on_tutor_id(world, api):
    world.tutor.is_active = False
    world.tutor.save(update_fields=["is_active"])
    response = api(world.admin).post(URL, body(world), format="json")
    assert response.status_code == 400 and "tutorId" in response.json()


def test_a_tutor_who_does_not_teach_the_subject_is_400_on_subject_id(world, api):
    response = api(world.admin).post(URL, body(world, tutorId=str(world.other_tutor.id)), format="json")
    assert response.status_code == 400
    assert response.json() == {"subjectId": ["This tutor does not teach that subject."]}
    assert not Allocation.objects.filter(subject=world.physics).exists()
    assert not Notification.objects.filter(user=world.other_tutor).exists()


BAD_BODIES = [
    ("studentId", {"studentId": UNKNOWN}),
    ("tutorId", {"tutorId": UNKNOWN}),
    ("subjectId", {"subjectId": UNKNOWN}),
    ("studentId", {"studentId": "not-a-uuid"}),
    ("tutorId", {"tutorId": 12}),
    ("subjectId", {"subjectId": None}),
    ("studentId", {"studentId": ["x"]}),
    ("tutorId", {"tutorId": {"id": UNKNOWN}}),
    ("subjectId", {"subjectId": "1' OR '1'='1"}),
]


@pytest.mark.parametrize(("field", "override"), BAD_BODIES, ids=[f"{f}-{v}" for f, v in BAD_BODIES])
def test_unknown_or_malformed_ids_are_400_with_a_field_error(world, api, field, override):
    response = api(world.admin).post(URL, body(world, **override), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Allocation.objects.filter(subject=world.physics).exists()


@pytest.mark.parametrize("missing", ["studentId", "tutorId", "subjectId"])
def test_missing_fields_are_400(world, api, missing):
    data = body(world)
    del data[missing]
    response = api(world.admin).post(URL, data, format="json")
    assert response.status_code == 400 and response.json() == {missing: ["This field is required."]}


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b"null", b'"text"', b"42", b"", b"\xff\xfe"])
def test_junk_bodies_are_400(world, api, raw):
    response = api(world.admin).generic("POST", URL, raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()  # a DRF error body, not an HTML 500 page


def test_a_form_encoded_body_is_refused_not_a_500(world, api):
    response = api(world.admin).post(URL, body(world))  # multipart
    assert response.status_code == 415


def test_a_second_active_tutor_for_the_same_subject_is_409(world, api):
    client = api(world.admin)
    assert client.post(URL, body(world), format="json").status_code == 201
    # the same tutor again, and another tutor who does teach Physics
    physics_tutor = new_tutor(world.physics)
    for tutor in (world.tutor, physics_tutor):
        response = client.post(URL, body(world, tutorId=str(tutor.id)), format="json")
        assert response.status_code == 409, response.content
        assert response.json() == {"detail": "The student already has an active tutor for that subject."}
    assert Allocation.objects.filter(student=world.child, subject=world.physics).count() == 1
    # only the first was announced
    assert Notification.objects.filter(kind="allocation_created").count() == 1
    assert not Notification.objects.filter(user=physics_tutor).exists()


def test_other_subjects_and_other_students_are_independent(world, api):
    client = api(world.admin)
    # child already has tutor for Math; Physics is free, and so is Math for a new student
    assert client.post(URL, body(world), format="json").status_code == 201
    newcomer = new_student(world.parent)
    assert (
        client.post(
            URL, body(world, studentId=str(newcomer.id), subjectId=str(world.math.id)), format="json"
        ).status_code
        == 201
    )


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_allocations_one_wins(world):
    """The same student and subject from two requests at the same moment: one 201, one 409."""
    physics_tutor = new_tutor(world.physics)
    bodies = [body(world), body(world, tutorId=str(physics_tutor.id))]
    barrier = threading.Barrier(2)
    results = []

    def attempt(data):
        client = client_for(world.admin)
        barrier.wait()
        try:
            response = client.post(URL, data, format="json")
            results.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(data,)) for data in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(code for code, _ in results) == [201, 409], results
    assert Allocation.objects.filter(student=world.child, subject=world.physics, status="active").count() == 1
    winner = Allocation.objects.get(student=world.child, subject=world.physics)
    # the loser's tutor heard nothing; the winner's once
    assert list(Notification.objects.filter(kind="allocation_created").values_list("user_id", flat=True)) == [
        winner.tutor_id
    ]


def test_end_answers_with_the_ended_allocation(world, api):
    allocation = Allocation.objects.get(student=world.child, subject=world.math)
    response = api(world.admin).post(end_url(allocation.id), format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["success"] is True and data["message"] == "Allocation ended"
    assert data["allocation"]["id"] == str(allocation.id)
    assert data["allocation"]["status"] == "ended"
    assert data["allocation"]["ended_by"] == str(world.admin.id) and data["allocation"]["ended_at"].endswith("Z")
    allocation.refresh_from_db()
    assert allocation.status == AllocationStatus.ENDED and allocation.ended_by == world.admin


def test_ending_twice_is_409(world, api):
    allocation = Allocation.objects.get(student=world.child, subject=world.math)
    client = api(world.admin)
    assert client.post(end_url(allocation.id)).status_code == 200
    response = client.post(end_url(allocation.id))
    assert response.status_code == 409 and response.json() == {"detail": "The allocation has already ended."}
    assert Notification.objects.filter(kind="allocation_ended").count() == 1


@pytest.mark.parametrize("allocation_id", [uuid.uuid4(), "not-a-uuid", "1' OR '1'='1"])
def test_ending_an_unknown_allocation_is_404(world, api, allocation_id):
    response = api(world.admin).post(end_url(allocation_id))
    assert response.status_code == 404 and set(response.json()) == {"detail"}


def test_end_then_reallocate_moves_who_may_be_booked(world, api):
    admin = api(world.admin)
    session = {
        "student_id": str(world.child.id),
        "subject_id": str(world.math.id),
        "starts_at": next_slot(6, 10).isoformat(),
        "duration_minutes": 60,
    }
    math_tutor = new_tutor(world.math, first="Maya")
    for day in range(7):
        TutorAvailability.objects.create(tutor=math_tutor, weekday=day, start_time=time(8), end_time=time(20))
    old = Allocation.objects.get(student=world.child, subject=world.math)
    # while the first allocation is active, the new tutor can be neither allocated nor booked
    assert (
        admin.post(
            URL, body(world, tutorId=str(math_tutor.id), subjectId=str(world.math.id)), format="json"
        ).status_code
        == 409
    )
    assert admin.post("/api/sessions", session | {"tutor_id": str(math_tutor.id)}, format="json").status_code == 400

    assert admin.post(end_url(old.id)).status_code == 200
    # the old tutor can no longer be booked for Math with this student
    response = admin.post("/api/sessions", session | {"tutor_id": str(world.tutor.id)}, format="json")
    assert response.status_code == 400 and "tutor_id" in response.json()

    created = admin.post(URL, body(world, tutorId=str(math_tutor.id), subjectId=str(world.math.id)), format="json")
    assert created.status_code == 201
    assert (
        api(world.parent).post("/api/sessions", session | {"tutor_id": str(math_tutor.id)}, format="json").status_code
        == 201
    )
    statuses = dict(
        Allocation.objects.filter(student=world.child, subject=world.math).values_list("tutor_id", "status")
    )
    assert statuses == {world.tutor.id: "ended", math_tutor.id: "active"}
    # the student is now visible to the new tutor, and no longer to the old one for this reason
    assert [s["id"] for s in api(math_tutor).get("/api/students").json()] == [str(world.child.id)]
    assert api(world.tutor).get("/api/students").json() == []


def test_the_service_refuses_non_admins(world):
    for someone in (world.parent, world.tutor, world.student_user):
        with pytest.raises(Forbidden):
            services.allocation_create(
                created_by=someone, student=world.child, tutor=world.tutor, subject=world.physics
            )
        with pytest.raises(Forbidden):
            services.allocation_end(allocation=Allocation.objects.first(), ended_by=someone)
    assert Allocation.objects.filter(status="active").count() == 2


def test_list_is_newest_first_and_filters(world, api):
    client = api(world.admin)
    created = client.post(URL, body(world), format="json").json()["allocation"]
    rows = client.get(URL).json()
    assert rows[0] == created and len(rows) == 3
    assert {r["status"] for r in rows} == {"active"}
    old = Allocation.objects.get(student=world.child, subject=world.math)
    client.post(end_url(old.id))
    assert [r["id"] for r in client.get(URL, {"status": "ended"}).json()] == [str(old.id)]
    assert len(client.get(URL, {"status": "active"}).json()) == 2
    assert {r["id"] for r in client.get(URL, {"tutor_id": str(world.tutor.id)}).json()} == {created["id"], str(old.id)}
    assert [r["subject"]["name"] for r in client.get(URL, {"student_id": str(world.other_child.id)}).json()] == [
        "English"
    ]
    assert [r["id"] for r in client.get(URL, {"subject_id": str(world.physics.id)}).json()] == [created["id"]]
    for bad in (
        {"status": "paused"},
        {"status": ""},
        {"tutorId": "nope"},
        {"limit": 0},
        {"limit": ""},
        {"cursor": "x"},
    ):
        response = client.get(URL, bad)
        assert response.status_code == 400 and set(response.json()) == set(bad), bad


@pytest.mark.parametrize("size", [1, 50])
def test_list_query_count_is_constant(world, api, django_assert_num_queries, size):
    tutor = new_tutor(world.english)
    Allocation.objects.bulk_create(
        Allocation(student=new_student(world.parent), tutor=tutor, subject=world.english) for _ in range(60)
    )
    client = api(world.admin)
    # user (JWT), page
    with django_assert_num_queries(2):
        response = client.get(URL, {"limit": size})
    assert len(response.json()) == size and 'rel="next"' in response["Link"]
