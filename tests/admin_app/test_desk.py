"""The Django admin as the staff's desk (through Django's test client; test_browser.py drives
a real browser): the KPIs and the chart on the index, allocating through allocation_create,
bulk actions, search and filters, and changelists that never count a whole big table."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from admin_app import selectors
from admin_app.admin.paginator import EstimatedCountPaginator
from k12.models import Allocation, Booking, BookingStatus, Notification
from sessions_app.chat.services import message_create
from sessions_app.models import SessionMessage
from sessions_app.models.recordings import SessionRecording
from tests.admin_app.conftest import new_student
from tests.conftest import book

ADD_URL = "/admin/k12/allocation/add/"


def kpi_values(html: str) -> dict[str, int]:
    pairs = re.findall(r'data-kpi="(\w+)">.*?<span class="kpi-value">(\d+)</span>', html, re.S)
    return {key: int(value) for key, value in pairs}


def test_index_shows_the_kpis_of_the_stats_selector(world, desk):
    new_student(world.parent)  # a student without a tutor
    response = desk.get("/admin/")
    assert response.status_code == 200
    assert kpi_values(response.content.decode()) == selectors.dashboard_stats()
    assert kpi_values(response.content.decode())["studentsWithoutTutor"] == 1


def test_index_draws_sessions_per_day_as_inline_svg(world, desk):
    response = desk.get("/admin/")
    html = response.content.decode()
    svg = html[html.index('<svg id="sessions-chart"') : html.index("</svg>", html.index('<svg id="sessions-chart"'))]
    days = re.findall(r'data-day="([\d-]+)" data-sessions="(\d+)"', svg)
    assert len(days) == selectors.CHART_DAYS
    expected = {p.day.isoformat(): p.sessions for p in selectors.sessions_per_day()}
    assert {day: int(n) for day, n in days} == expected
    assert sum(int(n) for _, n in days) == 2  # the world's two sessions
    assert svg.count('<rect class="bar"') == 2


def test_index_loads_nothing_from_elsewhere(world, desk):
    html = desk.get("/admin/").content.decode()
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith(("/", "#")), url


def test_kpi_links_open_the_matching_changelists(world, desk):
    new_student(world.parent, first="Lonely")
    html = desk.get("/admin/").content.decode()
    links = dict(re.findall(r'data-kpi="(\w+)">\s*<a href="([^"]+)"', html))
    assert "Lonely" in desk.get(links["studentsWithoutTutor"]).content.decode()
    assert "Sam" not in desk.get(links["studentsWithoutTutor"]).content.decode()
    tutors = desk.get(links["tutors"]).content.decode()
    assert "tutor@example.test" in tutors and "parent@example.test" not in tutors
    assert desk.get(links["activeAllocations"]).status_code == 200


def test_the_add_form_offers_only_tutors_with_their_subjects(world, desk):
    html = desk.get(ADD_URL).content.decode()
    tutor_select = html[html.index('name="tutor"') : html.index("</select>", html.index('name="tutor"'))]
    assert "Tom &lt;tutor@example.test&gt; (Math, Physics)" in tutor_select
    assert "Emma Austen &lt;other.tutor@example.test&gt; (English)" in tutor_select
    assert "parent@example.test" not in tutor_select


def test_allocating_in_the_admin_calls_the_service(world, desk, mailoutbox, django_capture_on_commit_callbacks):
    form = {"student": str(world.child.id), "subject": str(world.physics.id), "tutor": str(world.tutor.id)}
    with django_capture_on_commit_callbacks(execute=True):
        response = desk.post(ADD_URL, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    allocation = Allocation.objects.get(student=world.child, subject=world.physics)
    assert allocation.status == "active" and allocation.created_by == world.admin
    # the same notification as through the API: one row, one email, for the tutor
    assert list(Notification.objects.values_list("user_id", "kind")) == [(world.tutor.id, "allocation_created")]
    assert [m.to for m in mailoutbox] == [[world.tutor.email]]
    assert "Physics" in mailoutbox[0].subject


def test_admin_form_shows_the_services_field_error(world, desk, mailoutbox):
    form = {"student": str(world.child.id), "subject": str(world.physics.id), "tutor": str(world.other_tutor.id)}
    response = desk.post(ADD_URL, form)
    assert response.status_code == 200  # the form again
    errors = response.context["adminform"].form.errors
    assert errors == {"subject": ["This tutor does not teach that subject."]}
    assert "This tutor does not teach that subject." in response.content.decode()
    assert not Allocation.objects.filter(subject=world.physics).exists()
    assert not Notification.objects.exists() and not mailoutbox


def test_admin_form_shows_the_conflict(world, desk):
    form = {"student": str(world.child.id), "subject": str(world.math.id), "tutor": str(world.tutor.id)}
    response = desk.post(ADD_URL, form)
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "The student already has an active tutor for that subject."
    ]
    assert Allocation.objects.filter(student=world.child, subject=world.math).count() == 1


def test_an_allocation_cannot_be_edited_in_the_admin(world, desk):
    allocation = Allocation.objects.get(student=world.child, subject=world.math)
    url = f"/admin/k12/allocation/{allocation.id}/change/"
    desk.post(
        url,
        {"student": str(world.other_child.id), "subject": str(world.english.id), "tutor": str(world.other_tutor.id)},
    )
    allocation.refresh_from_db()
    assert (allocation.student, allocation.subject, allocation.tutor) == (world.child, world.math, world.tutor)


def test_bulk_end_allocations(world, desk, django_capture_on_commit_callbacks, mailoutbox):
    ids = [str(pk) for pk in Allocation.objects.values_list("id", flat=True)]
    with django_capture_on_commit_callbacks(execute=True):
        response = desk.post(
            "/admin/k12/allocation/", {"action": "end_allocations", "_selected_action": ids}, follow=True
        )
    assert "Ended 2 allocation(s)." in response.content.decode()
    assert set(Allocation.objects.values_list("status", flat=True)) == {"ended"}
    assert set(Allocation.objects.values_list("ended_by", flat=True)) == {world.admin.id}
    ended = Notification.objects.filter(kind="allocation_ended")
    assert sorted(ended.values_list("user__email", flat=True)) == sorted([world.tutor.email, world.other_tutor.email])
    assert len(mailoutbox) == 2
    # ending them again is a no-op, not an error
    again = desk.post("/admin/k12/allocation/", {"action": "end_allocations", "_selected_action": ids}, follow=True)
    assert "Ended 0 allocation(s)." in again.content.decode()


def test_bulk_cancel_sessions(world, desk):
    ids = [str(world.booking.id), str(world.other_booking.id)]
    response = desk.post("/admin/k12/booking/", {"action": "cancel_sessions", "_selected_action": ids}, follow=True)
    assert "Cancelled 2 session(s)." in response.content.decode()
    assert set(Booking.objects.values_list("status", flat=True)) == {BookingStatus.CANCELLED}
    assert sorted(
        Notification.objects.filter(kind="booking_cancelled").values_list("user__email", flat=True)
    ) == sorted(
        user.email
        for user in (world.parent, world.student_user, world.tutor)
        + (world.other_parent, world.other_student_user, world.other_tutor)
    )  # each session's parent, student login and tutor


@pytest.mark.parametrize(
    ("url", "params", "present", "absent"),
    [
        ("/admin/k12/user/", {"q": "austen"}, ["other.tutor@example.test"], [">tutor@example.test<"]),
        ("/admin/k12/user/", {"role__exact": "parent"}, ["parent@example.test"], ["tutor@example.test"]),
        ("/admin/k12/student/", {"q": "other.parent"}, ["Mia"], ["Sam"]),
        ("/admin/k12/student/", {"grade": "7"}, ["Sam"], ["Mia"]),
        ("/admin/k12/booking/", {"q": "other.parent@example.test"}, ["English"], ["Math"]),
        ("/admin/k12/booking/", {"subject__id__exact": "{math}"}, ["Math"], ["English"]),
        ("/admin/k12/allocation/", {"q": "austen"}, ["English"], ["Math"]),
        ("/admin/k12/allocation/", {"status__exact": "ended"}, [], ["English", "Math"]),
        ("/admin/k12/notification/", {"q": "parent@example.test"}, ["Session scheduled"], []),
        ("/admin/sessions_app/sessionmessage/", {"q": "fractions"}, ["about fractions"], ["geometry"]),
        ("/admin/sessions_app/sessionmessage/", {"q": "{booking}"}, ["about fractions"], ["geometry"]),
        ("/admin/sessions_app/sessionmessage/", {"q": "not-an-id"}, [], ["about fractions"]),
        ("/admin/sessions_app/sessionmessage/", {"user__role__exact": "tutor"}, ["geometry"], ["about fractions"]),
        ("/admin/sessions_app/sessionmessage/", {"hidden_at__isempty": "0"}, ["spam"], ["about fractions"]),
    ],
)
def test_people_sessions_messages_are_searchable_and_filterable(world, desk, url, params, present, absent):
    message_create(booking=world.booking, sender=world.parent, text="A question about fractions")
    message_create(booking=world.other_booking, sender=world.other_tutor, text="Next week: geometry")
    hidden, _ = message_create(booking=world.booking, sender=world.parent, text="spam")
    SessionMessage.objects.filter(pk=hidden.pk).update(hidden_at=timezone.now(), hidden_reason="test")
    Notification.objects.create(user=world.parent, kind="booking_created", title="Session scheduled: Math")
    values = {"math": world.math.id, "booking": world.booking.id}
    params = {key: value.format(**values) for key, value in params.items()}
    response = desk.get(url, params)
    assert response.status_code == 200
    html = response.content.decode()
    # only the result rows: the filter sidebar names every subject and role
    html = (
        html[html.index('id="result_list"') : html.index("</table>", html.index('id="result_list"'))]
        if 'id="result_list"' in html
        else ""
    )
    for text in present:
        assert text in html, text
    for text in absent:
        assert text not in html, text


def test_messages_cannot_be_added_edited_or_deleted_in_the_admin(world, desk):
    message, _ = message_create(booking=world.booking, sender=world.parent, text="original")
    assert desk.get("/admin/sessions_app/sessionmessage/add/").status_code == 403
    desk.post(f"/admin/sessions_app/sessionmessage/{message.id}/change/", {"text": "edited"})
    assert desk.get(f"/admin/sessions_app/sessionmessage/{message.id}/delete/").status_code == 403
    desk.post(f"/admin/sessions_app/sessionmessage/{message.id}/delete/", {"post": "yes"})
    message.refresh_from_db()
    assert message.text == "original"


def test_recordings_are_searchable_and_filterable_on_the_desk(world, desk):
    for booking, name, status in (
        (world.booking, "fractions.webm", "ready"),
        (world.other_booking, "essay.webm", "failed"),
    ):
        SessionRecording.objects.create(
            session=booking,
            uploaded_by=booking.tutor,
            file=f"recordings/{booking.id}/{name}",
            filename=name,
            content_type="video/webm",
            status=status,
        )
    url = "/admin/sessions_app/sessionrecording/"
    for params, present, absent in (
        ({"q": "fractions"}, "fractions.webm", "essay.webm"),
        ({"q": str(world.other_booking.id)}, "essay.webm", "fractions.webm"),
        ({"q": world.other_tutor.email}, "essay.webm", "fractions.webm"),
        ({"status__exact": "failed"}, "essay.webm", "fractions.webm"),
    ):
        response = desk.get(url, params)
        assert response.status_code == 200
        html = response.content.decode()
        assert present in html and absent not in html, params
    assert kpi_values(desk.get("/admin/").content.decode())["recordingsStored"] == 1
    assert desk.get("/admin/sessions_app/sessionrecording/add/").status_code == 403


COUNT_WITHOUT_LIMIT = re.compile(r"SELECT COUNT\(\*\).*FROM \"(\w+)\"(?!.*LIMIT)", re.S)

BIG_CHANGELISTS = [
    "/admin/k12/booking/",
    "/admin/k12/notification/",
    "/admin/k12/allocation/",
    "/admin/k12/student/",
    "/admin/k12/user/",
    "/admin/sessions_app/sessionmessage/",
]
# (sessions_app registers its own recordings admin; its counting is sessions_app's to decide.)


@pytest.mark.parametrize("url", BIG_CHANGELISTS)
def test_changelists_never_count_a_whole_table(world, desk, url):
    with CaptureQueriesContext(connection) as queries:
        assert desk.get(url, {"q": "a"}).status_code == 200
        assert desk.get(url).status_code == 200
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts  # the capped count ran
    for sql in counts:
        assert "LIMIT" in sql.upper(), sql


@pytest.mark.django_db
def test_paginator_counts_exactly_up_to_its_limit_then_asks_the_planner(world, monkeypatch):
    for i in range(12):
        book(world.child, world.tutor, world.math, timezone.now() + timedelta(days=20, hours=2 * i))
    qs = Booking.objects.order_by("starts_at")
    monkeypatch.setattr(EstimatedCountPaginator, "exact_limit", 100)
    assert EstimatedCountPaginator(qs, 5).count == 14  # small: exact

    monkeypatch.setattr(EstimatedCountPaginator, "exact_limit", 5)
    with CaptureQueriesContext(connection) as queries:
        count = EstimatedCountPaginator(qs, 5).count
    sqls = [q["sql"] for q in queries.captured_queries]
    assert count >= 6  # at least what was seen; the rest is PostgreSQL's estimate
    assert any(sql.startswith("EXPLAIN") for sql in sqls)
    assert not any(COUNT_WITHOUT_LIMIT.search(sql) for sql in sqls), sqls
    page = EstimatedCountPaginator(qs, 5).page(2)
    assert len(page.object_list) == 5  # the rows shown are exact


def test_paginator_on_a_list_is_a_plain_paginator():
    assert EstimatedCountPaginator(list(range(7)), 3).count == 7
