"""GET /api/admin/stats and the selectors behind it (shared with the /admin/ index): what each
figure counts, and a cost that does not grow with the data."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from admin_app import charts, selectors
from k12.models import Allocation, BookingStatus, Role, Student
from sessions_app.models.recordings import SessionRecording
from tests.admin_app.conftest import new_student, new_tutor
from tests.conftest import book, make_user

KEYS = {
    "students",
    "parents",
    "tutors",
    "upcomingSessions",
    "sessionsThisWeek",
    "activeAllocations",
    "studentsWithoutTutor",
    "recordingsStored",
}


def recording(booking, status: str) -> SessionRecording:
    return SessionRecording.objects.create(
        session=booking,
        uploaded_by=booking.tutor,
        file=f"recordings/{booking.id}/{uuid.uuid4()}.webm",
        content_type="video/webm",
        status=status,
        multipart_upload_id="upload-1" if status == "uploading" else "",
    )


def test_stats_of_the_world(world, api):
    response = api(world.admin).get("/api/admin/stats")
    assert response.status_code == 200
    stats = response.json()
    assert set(stats) == KEYS
    assert stats["students"] == 2 and stats["parents"] == 2 and stats["tutors"] == 2
    assert stats["upcomingSessions"] == 2
    assert stats["activeAllocations"] == 2 and stats["studentsWithoutTutor"] == 0
    assert stats["recordingsStored"] == 0


def test_recordings_stored_counts_the_playable_ones(world, api):
    for status in ("ready", "ready", "processing", "uploading", "failed"):
        recording(world.booking, status)
    assert api(world.admin).get("/api/admin/stats").json()["recordingsStored"] == 2


def test_each_figure_counts_what_it_says(world, api):
    # given: a third parent with a child who has no tutor, an inactive tutor, a cancelled and a
    # past session, and an ended allocation
    parent = make_user("third.parent@example.test", Role.PARENT)
    lonely = new_student(parent)
    new_tutor(world.math, is_active=False)
    world.other_booking.status = BookingStatus.CANCELLED
    world.other_booking.cancelled_at = timezone.now()
    world.other_booking.save()
    book(world.child, world.tutor, world.math, timezone.now() - timedelta(days=30))
    Allocation.objects.filter(student=world.other_child).update(status="ended", ended_at=timezone.now())

    stats = api(world.admin).get("/api/admin/stats").json()

    assert stats["students"] == 3
    assert stats["parents"] == 3
    assert stats["tutors"] == 3  # the role is counted, active or not
    assert stats["upcomingSessions"] == 1  # not the cancelled one, not the past one
    assert stats["activeAllocations"] == 1
    assert stats["studentsWithoutTutor"] == 2  # the lonely child and the one whose allocation ended
    assert Student.objects.filter(pk=lonely.pk).exists()


def test_sessions_this_week_is_the_calendar_week_in_utc(world):
    # a Wednesday noon; the week runs Monday 2030-01-07 00:00 to Monday 2030-01-14 00:00 UTC
    now = datetime(2030, 1, 9, 12, tzinfo=UTC)
    assert selectors.week_bounds(now) == (datetime(2030, 1, 7, tzinfo=UTC), datetime(2030, 1, 14, tzinfo=UTC))
    inside = [
        datetime(2030, 1, 7, 0, tzinfo=UTC),
        datetime(2030, 1, 8, 9, tzinfo=UTC),
        datetime(2030, 1, 13, 23, tzinfo=UTC),
    ]
    outside = [datetime(2030, 1, 6, 22, 0, tzinfo=UTC), datetime(2030, 1, 14, 0, tzinfo=UTC)]
    for starts_at in inside + outside:
        book(world.child, world.tutor, world.math, starts_at)
    cancelled = book(world.child, world.tutor, world.math, datetime(2030, 1, 10, 9, tzinfo=UTC))
    cancelled.status, cancelled.cancelled_at = BookingStatus.CANCELLED, now
    cancelled.save()

    stats = selectors.dashboard_stats(now=now)

    assert stats["sessionsThisWeek"] == 3  # the Monday one has already happened and still counts
    # upcoming: after Wednesday noon, scheduled: 2030-01-13 and 2030-01-14
    assert stats["upcomingSessions"] == 2


@pytest.mark.parametrize("extra", [0, 40])
def test_stats_cost_a_fixed_number_of_queries(world, api, django_assert_num_queries, extra):
    for i in range(extra):
        child = new_student(world.parent)
        Allocation.objects.create(student=child, tutor=world.tutor, subject=world.physics)
        book(child, world.tutor, world.physics, timezone.now() + timedelta(days=10, minutes=90 * i))
        recording(world.booking, "ready")
    client = api(world.admin)
    # user (JWT), users, students, sessions, allocations, recordings
    with django_assert_num_queries(6):
        assert client.get("/api/admin/stats").status_code == 200


def test_sessions_per_day_fills_gaps_and_leaves_out_cancelled(world):
    start = date(2030, 3, 1)
    for hour in (9, 11, 13):
        book(world.child, world.tutor, world.math, datetime(2030, 3, 2, hour, tzinfo=UTC))
    book(world.child, world.tutor, world.math, datetime(2030, 3, 4, 23, 30, tzinfo=UTC))
    gone = book(world.child, world.tutor, world.math, datetime(2030, 3, 3, 10, tzinfo=UTC))
    gone.status, gone.cancelled_at = BookingStatus.CANCELLED, timezone.now()
    gone.save()
    book(world.child, world.tutor, world.math, datetime(2030, 3, 8, 10, tzinfo=UTC))  # past the range

    series = selectors.sessions_per_day(start=start, days=7)

    assert [(p.day.isoformat(), p.sessions) for p in series] == [
        ("2030-03-01", 0),
        ("2030-03-02", 3),
        ("2030-03-03", 0),
        ("2030-03-04", 1),
        ("2030-03-05", 0),
        ("2030-03-06", 0),
        ("2030-03-07", 0),
    ]


def test_sessions_per_day_is_one_query(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        series = selectors.sessions_per_day()
    assert len(series) == selectors.CHART_DAYS
    assert series[0].day == timezone.now().astimezone(UTC).date()
    assert sum(p.sessions for p in series) == 2  # the world's two sessions, tomorrow and the day after


def test_bar_chart_scales_to_the_busiest_day():
    series = [
        selectors.DayCount(date(2030, 3, 4) + timedelta(days=i), n) for i, n in enumerate([0, 4, 2, 1, 0, 0, 0, 400])
    ]
    chart = charts.bar_chart(series, plot_height=100)
    assert chart.maximum == 400 and chart.total == 407
    heights = [bar.height for bar in chart.bars]
    assert heights[0] == 0 and heights[-1] == 100
    assert all(h >= 1 for h, point in zip(heights, series, strict=True) if point.sessions)  # never invisible
    assert all(bar.y + bar.height == chart.baseline for bar in chart.bars)
    # labelled on Mondays (2030-03-04 is one, 2030-03-11 the next)
    assert [bar.label for bar in chart.bars if bar.label] == ["Mon 4 Mar", "Mon 11 Mar"]
    assert len({bar.x for bar in chart.bars}) == len(series)
