"""The desk's week timetable: sessions per tutor per UTC day, a chosen week, cancelled ones
struck through, each linking to its session, a subject filter; a fixed number of queries."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from admin_app import selectors
from k12 import services
from tests.admin_app.conftest import new_tutor
from tests.conftest import book

URL = "/admin/timetable/"
# A Monday far from the world's own sessions (tomorrow and the day after).
MONDAY = date(2031, 3, 10)


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def cell(html: str, tutor_id, day: date) -> str:
    """The timetable cell of a tutor on a day (the row's n-th <td>, Monday first)."""
    row = re.search(rf'<tr data-tutor="{tutor_id}">(.*?)</tr>', html, re.S).group(1)
    return re.findall(r"<td>(.*?)</td>", row, re.S)[(day - MONDAY).days]


@pytest.fixture
def week(world):
    """Tom: Math on Monday 10:00 and a cancelled Physics on Wednesday 14:00; Emma: English on Friday."""
    services.allocation_create(created_by=world.admin, student=world.child, tutor=world.tutor, subject=world.physics)
    monday = book(world.child, world.tutor, world.math, at(MONDAY, 10))
    wednesday = book(world.child, world.tutor, world.physics, at(MONDAY + timedelta(days=2), 14))
    services.booking_cancel(booking=wednesday, cancelled_by=world.admin, reason="ill")
    friday = book(world.other_child, world.other_tutor, world.english, at(MONDAY + timedelta(days=4), 9))
    book(world.child, world.tutor, world.math, at(MONDAY + timedelta(days=7), 10))  # next week
    return {"monday": monday, "wednesday": wednesday, "friday": friday}


def test_a_week_shows_each_tutors_sessions_on_their_day(world, desk, week):
    response = desk.get(URL, {"week": (MONDAY + timedelta(days=3)).isoformat()})  # any day of the week
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-week="2031-03-10"' in html
    assert re.findall(r'<th scope="col" data-day="([\d-]+)"', html) == [
        (MONDAY + timedelta(days=i)).isoformat() for i in range(7)
    ]
    monday = cell(html, world.tutor.id, MONDAY)
    assert "10:00–11:00" in monday and "Sam Parker · Math" in monday
    assert f'href="/admin/k12/booking/{week["monday"].id}/change/"' in monday
    assert cell(html, world.tutor.id, MONDAY + timedelta(days=1)).strip() == ""
    assert "English" in cell(html, world.other_tutor.id, MONDAY + timedelta(days=4))
    # next week's session is not in this week
    assert html.count('class="session ') == 3
    assert "3 sessions" in html


def test_cancelled_sessions_are_struck_through_and_still_link(world, desk, week):
    html = desk.get(URL, {"week": MONDAY.isoformat()}).content.decode()
    wednesday = cell(html, world.tutor.id, MONDAY + timedelta(days=2))
    assert 'class="session status-cancelled"' in wednesday
    assert re.search(r"<del>.*14:00–15:00.*Physics.*</del>", wednesday, re.S)
    assert "(cancelled)" in wednesday
    assert f'href="/admin/k12/booking/{week["wednesday"].id}/change/"' in wednesday
    assert "<del>" not in cell(html, world.tutor.id, MONDAY)


def test_previous_and_next_week_links_keep_the_subject(world, desk, week):
    html = desk.get(URL, {"week": MONDAY.isoformat(), "subject": str(world.math.id)}).content.decode()
    previous = re.search(r'id="previous-week" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    following = re.search(r'id="next-week" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert previous == f"?week=2031-03-03&subject={world.math.id}"
    assert following == f"?week=2031-03-17&subject={world.math.id}"
    next_html = desk.get(URL + following).content.decode()
    assert 'data-week="2031-03-17"' in next_html
    assert next_html.count('class="session ') == 1


def test_the_subject_filter_keeps_that_subjects_sessions_and_tutors(world, desk, week):
    html = desk.get(URL, {"week": MONDAY.isoformat(), "subject": str(world.english.id)}).content.decode()
    assert html.count('class="session ') == 1
    assert f'<tr data-tutor="{world.other_tutor.id}">' in html
    assert f'<tr data-tutor="{world.tutor.id}">' not in html  # Tom teaches no English


def test_free_tutors_show_as_empty_rows(world, desk):
    free = new_tutor(world.math, first="Fay", last="Free")
    html = desk.get(URL, {"week": MONDAY.isoformat()}).content.decode()
    assert "Fay Free" in html
    assert all(cell(html, free.id, MONDAY + timedelta(days=i)).strip() == "" for i in range(7))


def test_without_a_week_it_is_the_current_one(world, desk):
    response = desk.get(URL)
    today = timezone.now().astimezone(UTC).date()
    assert f'data-week="{selectors.monday_of(today).isoformat()}"' in response.content.decode()


@pytest.mark.parametrize("params", [{"week": "next tuesday"}, {"week": "2031-02-30"}, {"subject": "nope"}])
def test_bad_input_is_a_400_that_says_why(world, desk, params):
    response = desk.get(URL, params)
    assert response.status_code == 400
    assert 'class="timetable-errors" role="alert"' in response.content.decode()


def test_the_timetable_is_for_staff_only(world, client):
    client.force_login(world.parent)
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_timetable_costs_the_same_queries_whatever_the_week_holds(world, desk, week):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert desk.get(URL, {"week": MONDAY.isoformat()}).status_code == 200
        return len(ctx.captured_queries)

    # the login's session and user, the sessions, the tutors, the subjects for the filter
    assert queries() == 5
    for i in range(5):
        tutor = new_tutor(world.math, first=f"T{i}")
        book(world.other_child, tutor, world.math, at(MONDAY + timedelta(days=i), 12))
    assert queries() == 5
