"""Sessions: booking rules, overlap (sequential and concurrent), cancelling, bad input."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from k12.models import Allocation, Booking, BookingStatus, Notification, TutorSubject
from tests.conftest import client_for, next_slot


def body(w, **overrides):
    data = {
        "student_id": str(w.child.id),
        "tutor_id": str(w.tutor.id),
        "subject_id": str(w.math.id),
        "starts_at": next_slot(5, 10).isoformat(),
        "duration_minutes": 60,
    }
    data.update(overrides)
    return data


def test_parent_books_and_sees_the_session(world, api):
    client = api(world.parent)
    response = client.post("/api/sessions", body(world), format="json")
    assert response.status_code == 201, response.content
    session = response.json()
    assert session["status"] == "scheduled"
    assert session["student"]["id"] == str(world.child.id)
    assert session["tutor"] == {"id": str(world.tutor.id), "first_name": "Tom", "last_name": ""}
    assert session["subject"] == {"id": str(world.math.id), "name": "Math"}
    assert session["duration_minutes"] == 60
    assert session["starts_at"].endswith("Z")
    assert client.get(f"/api/sessions/{session['id']}").json() == session
    # the parent hears of it
    assert Notification.objects.filter(user=world.parent, kind="booking_created").count() == 1


def test_list_is_soonest_first_and_filters(world, api):
    client = api(world.admin)
    ids = [row["id"] for row in client.get("/api/sessions").json()]
    assert ids == [str(world.booking.id), str(world.other_booking.id)]
    world.booking.status = BookingStatus.CANCELLED
    world.booking.cancelled_at = world.booking.starts_at
    world.booking.save()
    assert [r["id"] for r in client.get("/api/sessions?status=scheduled").json()] == [str(world.other_booking.id)]
    until = (world.booking.starts_at + timedelta(hours=1)).isoformat()
    assert [r["id"] for r in client.get("/api/sessions", {"to": until}).json()] == [str(world.booking.id)]
    assert client.get("/api/sessions?status=bogus").status_code == 400
    assert client.get("/api/sessions?from=yesterday").status_code == 400
    assert client.get("/api/sessions?to=").status_code == 400


def test_list_paginates_with_link_header(world, api):
    client = api(world.admin)
    first = client.get("/api/sessions?limit=1")
    assert [r["id"] for r in first.json()] == [str(world.booking.id)]
    link = first.headers["Link"]
    assert 'rel="next"' in link
    next_url = link.split(";")[0].strip("<>")
    second = client.get(next_url)
    assert [r["id"] for r in second.json()] == [str(world.other_booking.id)]
    assert client.get("/api/sessions?cursor=garbage").status_code == 400
    assert client.get("/api/sessions?limit=0").status_code == 400
    assert client.get("/api/sessions?limit=201").status_code == 400
    assert client.get("/api/sessions?limit=").status_code == 400


@pytest.mark.parametrize(
    ("who", "start_offset_minutes"),
    [("tutor", 0), ("tutor", 30), ("tutor", -30), ("student", 0), ("student", 59)],
)
def test_overlap_is_409(world, api, who, start_offset_minutes):
    # given a second allocation so that a different tutor can meet the same student
    if who == "student":
        Allocation.objects.create(student=world.child, tutor=world.other_tutor, subject=world.english)
        clash = body(world, tutor_id=str(world.other_tutor.id), subject_id=str(world.english.id))
    else:
        Allocation.objects.create(student=world.other_child, tutor=world.tutor, subject=world.math)
        clash = body(world, student_id=str(world.other_child.id))
    first = api(world.admin).post("/api/sessions", body(world), format="json")
    assert first.status_code == 201
    start = next_slot(5, 10) + timedelta(minutes=start_offset_minutes)
    clash["starts_at"] = start.isoformat()
    response = api(world.admin).post("/api/sessions", clash, format="json")
    assert response.status_code == 409, response.content
    assert who in response.json()["detail"]


def test_back_to_back_sessions_do_not_overlap(world, api):
    client = api(world.parent)
    assert client.post("/api/sessions", body(world), format="json").status_code == 201
    later = body(world, starts_at=(next_slot(5, 10) + timedelta(minutes=60)).isoformat())
    assert client.post("/api/sessions", later, format="json").status_code == 201


@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_bookings_one_wins(world):
    """Two requests for the same slot at the same moment: one 201, one 409, one row."""
    barrier = threading.Barrier(2)
    results = []

    def attempt():
        client = client_for(world.parent)
        barrier.wait()
        try:
            results.append(client.post("/api/sessions", body(world), format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 409]
    assert Booking.objects.filter(starts_at=next_slot(5, 10)).count() == 1


def test_cancel_frees_the_slot_and_cannot_repeat(world, api):
    client = api(world.tutor)
    response = client.post(f"/api/sessions/{world.booking.id}/cancel", {"reason": "ill"}, format="json")
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "cancelled" and data["cancelled_by"] == str(world.tutor.id)
    assert data["cancelled_at"]
    assert client.post(f"/api/sessions/{world.booking.id}/cancel", {}, format="json").status_code == 409
    assert Notification.objects.filter(user=world.parent, kind="booking_cancelled").count() == 1
    # the slot is free again
    again = body(world, starts_at=world.booking.starts_at.isoformat())
    assert api(world.parent).post("/api/sessions", again, format="json").status_code == 201


UNKNOWN = "00000000-0000-4000-8000-000000000000"
BAD_BODIES = [
    ("student_id", {"student_id": UNKNOWN}),
    ("student_id", {"student_id": "nope"}),
    ("student_id", {"student_id": None}),
    ("tutor_id", {"tutor_id": UNKNOWN}),
    ("subject_id", {"subject_id": UNKNOWN}),
    ("subject_id", {"subject_id": 12}),
    ("starts_at", {"starts_at": "2001-01-01T10:00:00Z"}),
    ("starts_at", {"starts_at": "tomorrow"}),
    ("starts_at", {"starts_at": 5}),
    ("duration_minutes", {"duration_minutes": 0}),
    ("duration_minutes", {"duration_minutes": -30}),
    ("duration_minutes", {"duration_minutes": 100000}),
    ("duration_minutes", {"duration_minutes": "an hour"}),
    ("duration_minutes", {"duration_minutes": [60]}),
]


@pytest.mark.parametrize(("field", "override"), BAD_BODIES, ids=[f"{f}-{v}" for f, v in BAD_BODIES])
def test_bad_input_is_400_with_field_errors(world, api, field, override):
    response = api(world.admin).post("/api/sessions", body(world, **override), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


@pytest.mark.parametrize("missing", ["student_id", "tutor_id", "subject_id", "starts_at", "duration_minutes"])
def test_missing_fields_are_400(world, api, missing):
    data = body(world)
    del data[missing]
    response = api(world.admin).post("/api/sessions", data, format="json")
    assert response.status_code == 400 and missing in response.json()


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b"null", b'"text"', b"42"])
def test_malformed_json_is_400(world, api, raw):
    response = api(world.admin).generic("POST", "/api/sessions", raw, content_type="application/json")
    assert response.status_code == 400


def test_tutor_rules(world, api):
    client = api(world.admin)
    # a parent is not a tutor
    assert "tutor_id" in client.post("/api/sessions", body(world, tutor_id=str(world.parent.id)), format="json").json()
    # the tutor does not teach English
    response = client.post("/api/sessions", body(world, subject_id=str(world.english.id)), format="json")
    assert response.status_code == 400 and "subject_id" in response.json()
    # teaches Physics but is not allocated to the child for it
    response = client.post("/api/sessions", body(world, subject_id=str(world.physics.id)), format="json")
    assert response.status_code == 400 and "tutor_id" in response.json()
    # not available at 22:00
    response = client.post("/api/sessions", body(world, starts_at=next_slot(5, 22).isoformat()), format="json")
    assert response.status_code == 400 and "starts_at" in response.json()
    # the window ends at 20:00: 19:30 for 60 minutes runs past it
    late = (next_slot(5, 19) + timedelta(minutes=30)).isoformat()
    assert client.post("/api/sessions", body(world, starts_at=late), format="json").status_code == 400
    TutorSubject.objects.filter(tutor=world.tutor, subject=world.math).delete()
    assert client.post("/api/sessions", body(world), format="json").status_code == 400


def test_students_create_rules(world, api):
    parent = api(world.parent)
    created = parent.post("/api/students", {"first_name": " Lia ", "grade": 0}, format="json")
    assert created.status_code == 201
    assert created.json()["first_name"] == "Lia" and created.json()["parent_id"] == str(world.parent.id)
    admin = api(world.admin)
    assert admin.post("/api/students", {"first_name": "X", "grade": 2}, format="json").status_code == 400
    not_parent = {"first_name": "X", "grade": 2, "parent_id": str(world.tutor.id)}
    assert admin.post("/api/students", not_parent, format="json").status_code == 400
    for bad in ({"first_name": "", "grade": 2}, {"first_name": "X", "grade": 13}, {"first_name": "X"}):
        assert parent.post("/api/students", bad, format="json").status_code == 400
    assert api(world.tutor).post("/api/students", {"first_name": "X", "grade": 2}, format="json").status_code == 400


def test_complete_sessions_command_marks_only_ended_ones(world):
    from datetime import UTC, datetime

    from django.core.management import call_command

    past = world.booking
    Booking.objects.filter(pk=past.pk).update(
        starts_at=datetime(2020, 1, 1, 10, tzinfo=UTC), ends_at=datetime(2020, 1, 1, 11, tzinfo=UTC)
    )
    call_command("complete_sessions", stdout=open("/dev/null", "w"))
    assert Booking.objects.get(pk=past.pk).status == "completed"
    assert Booking.objects.get(pk=world.other_booking.pk).status == "scheduled"


def test_each_session_carries_what_the_caller_may_do(world, api):
    listed = api(world.tutor).get("/api/sessions").json()
    detail = api(world.tutor).get(f"/api/sessions/{world.booking.id}").json()
    expected = {"send_message": True, "upload_recording": True, "cancel": True, "report": True, "moderate": False}
    assert listed[0]["can"] == detail["can"] == expected
    student = api(world.student_user).get(f"/api/sessions/{world.booking.id}").json()["can"]
    assert student == {
        "send_message": True,
        "upload_recording": False,
        "cancel": False,
        "report": True,
        "moderate": False,
    }


def test_post_sessions_takes_back_what_it_returns(world, api):
    client = api(world.parent)
    created = client.post("/api/sessions", body(world), format="json").json()
    again = {
        "student_id": created["student"]["id"],
        "tutor_id": created["tutor"]["id"],
        "subject_id": created["subject"]["id"],
        "starts_at": created["ends_at"],
        "duration_minutes": created["duration_minutes"],
    }
    assert client.post("/api/sessions", again, format="json").status_code == 201
