"""Tutor matching when allocating: only active tutors who teach the subject, each with their free
weekly hours and active allocations, best fit first; the student's current tutor for the subject
left out. One selector serves the desk's add form (and its script's matching view)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from admin_app import selectors
from k12 import services
from tests.admin_app.conftest import new_tutor
from tests.conftest import book, next_slot

MATCHES = "/admin/k12/allocation/tutors/"


def hours(tutor) -> float:
    return selectors.free_weekly_hours(tutor)


def test_only_active_tutors_of_the_subject_best_fit_first(world, math_tutors):
    matches = list(selectors.tutor_matches(subject=world.math))
    # Cy and Tom: 84 h a week each, Tom less his 1 h session; Cy has more allocations but more time
    assert [t.first_name for t in matches] == ["Cy", "Tom", "Bea"]
    assert [hours(t) for t in matches] == [84.0, 83.0, 10.0]
    assert [t.active_allocations for t in matches] == [2, 1, 0]


def test_equal_free_time_puts_the_tutor_with_fewer_allocations_first(world, math_tutors):
    # Tom's session cancelled: Tom and Cy both have 84 h; Tom teaches one student, Cy two
    services.booking_cancel(booking=world.booking, cancelled_by=world.admin)
    matches = list(selectors.tutor_matches(subject=world.math))
    assert [(t.first_name, hours(t), t.active_allocations) for t in matches][:2] == [("Tom", 84.0, 1), ("Cy", 84.0, 2)]


def test_sessions_in_the_coming_week_use_free_time_and_later_ones_do_not(world, math_tutors):
    bea = math_tutors["bea"]
    services.allocation_create(created_by=world.admin, student=world.other_child, tutor=bea, subject=world.math)
    book(world.other_child, bea, world.math, next_slot(2, 9), minutes=90)
    book(world.other_child, bea, world.math, next_slot(10, 9), minutes=90)  # beyond the coming seven days
    match = next(t for t in selectors.tutor_matches(subject=world.math) if t.pk == bea.pk)
    assert hours(match) == 8.5 and match.active_allocations == 1


def test_for_a_student_the_current_tutor_of_the_subject_is_left_out(world, math_tutors):
    names = [t.first_name for t in selectors.tutor_matches(subject=world.math, student=world.child)]
    assert names == ["Cy", "Bea"]  # Tom already teaches Sam Math
    physics = [t.first_name for t in selectors.tutor_matches(subject=world.physics, student=world.child)]
    assert physics == ["Tom"]


def test_matching_costs_two_queries_whatever_the_number_of_tutors(world, math_tutors):
    for i in range(5):
        new_tutor(world.math, first=f"Extra{i}")
    with CaptureQueriesContext(connection) as ctx:
        matches = list(selectors.tutor_matches(subject=world.math, student=world.child))
        labels = [(hours(t), t.active_allocations, [s.name for s in t.subjects.all()]) for t in matches]
    assert len(labels) == 7
    assert len(ctx.captured_queries) == 2


def test_the_matching_view_answers_the_add_forms_script(world, desk, math_tutors):
    response = desk.get(MATCHES, {"subject": str(world.math.id), "student": str(world.child.id)})
    assert response.status_code == 200
    body = response.json()
    assert body["subject"] == "Math"
    assert [(t["free_weekly_hours"], t["active_allocations"]) for t in body["tutors"]] == [(84.0, 2), (10.0, 0)]
    assert body["tutors"][0]["id"] == str(math_tutors["cy"].id)
    assert body["tutors"][0]["label"] == (
        f"Cy Crowded <{math_tutors['cy'].email}> · 84 h free a week · 2 active allocations"
    )


@pytest.mark.parametrize(
    "params", [{}, {"subject": "x"}, {"subject": "00000000-0000-0000-0000-000000000000"}, {"student": "x"}]
)
def test_the_matching_view_refuses_bad_input_with_a_400(world, desk, params):
    if params.get("student"):
        params["subject"] = str(world.math.id)
    response = desk.get(MATCHES, params)
    assert response.status_code == 400
    assert set(response.json()) <= {"subject", "student"} and response.json()


def test_the_matching_view_is_for_staff_only(world, client):
    client.force_login(world.tutor)
    response = client.get(MATCHES, {"subject": str(world.math.id)})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_add_form_opened_for_a_subject_offers_only_its_matches(world, desk, math_tutors):
    url = f"/admin/k12/allocation/add/?subject={world.math.id}&student={world.child.id}"
    html = desk.get(url).content.decode()
    tutor_select = html[html.index('name="tutor"') : html.index("</select>", html.index('name="tutor"'))]
    assert "Cy Crowded" in tutor_select and "84 h free a week · 2 active allocations" in tutor_select
    assert tutor_select.index("Cy Crowded") < tutor_select.index("Bea Busy")
    assert "Tom" not in tutor_select and "Emma" not in tutor_select
    assert f'data-matches-url="{MATCHES}"' in tutor_select
    assert "admin_app/allocate.js" in html


def test_the_free_time_counts_the_coming_seven_days_from_now(world, math_tutors):
    later = world.booking.starts_at + timedelta(days=2)
    tom = next(t for t in selectors.tutor_matches(subject=world.math, now=later) if t.pk == world.tutor.pk)
    assert hours(tom) == 84.0  # the session is in the past by then
