"""The audit trail as staff read it: each event's target as a link with its name, its actor and
address, its session; a fixed number of queries per page; and the desk's hygiene (what a
coordinator must not touch is not on the index; the tiles say what they count)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from k12 import services
from k12.audit import audit_record
from k12.models import AuditAction, AuditEvent, Notification
from sessions_app.chat.moderation import message_hide, message_report
from sessions_app.chat.services import message_create

URL = "/admin/k12/auditevent/"


def from_address():
    return RequestFactory().post("/", REMOTE_ADDR="203.0.113.7")


@pytest.fixture
def trail(world):
    message = message_create(booking=world.booking, sender=world.tutor, text="see you at the library")[0]
    message_report(message=message, reporter=world.parent, reason="personal_info", request=from_address())
    message_hide(message=message, moderator=world.admin, reason="contact", request=from_address())
    allocation = services.allocation_create(
        created_by=world.admin, student=world.child, tutor=world.tutor, subject=world.physics
    )
    return {"message": message, "allocation": allocation}


def row_of(html: str, action_label: str) -> str:
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        if f">{action_label}<" in row:
            return row
    raise AssertionError(f"no row for {action_label}")


def test_the_target_is_a_link_with_its_name(world, desk, trail):
    html = desk.get(URL).content.decode()
    hidden = row_of(html, "Message hidden")
    message = trail["message"]
    assert f'<a href="/admin/sessions_app/sessionmessage/{message.id}/change/">' in hidden
    assert "Message by Tom: “see you at the library”" in hidden
    assert "sessions_app.sessionmessage" not in hidden and f">{message.id}<" not in hidden
    allocated = row_of(html, "Allocation created")
    assert (
        f'<a href="/admin/k12/allocation/{trail["allocation"].id}/change/">Sam Parker: Physics with Tom</a>'
        in allocated
    )


def test_the_actor_address_and_session_are_shown(world, desk, trail):
    html = desk.get(URL).content.decode()
    hidden = row_of(html, "Message hidden")
    assert f'<a href="/admin/k12/user/{world.admin.id}/change/">Ada Admin &lt;admin@example.test&gt;</a>' in hidden
    assert "203.0.113.7" in hidden
    assert f'<a href="/admin/k12/booking/{world.booking.id}/change/">Math with Tom, ' in hidden


def test_deleted_targets_and_system_events_still_read(world, desk):
    audit_record(
        action=AuditAction.RETENTION_PURGE, target_type="sessions_app.sessionmessage", target_id="", data={"n": 3}
    )
    audit_record(
        action=AuditAction.RECORDING_DELETED,
        actor=world.tutor,
        target_type="sessions_app.sessionrecording",
        target_id="6b1d3c1e-0000-4000-8000-000000000000",
    )
    html = desk.get(URL).content.decode()
    assert "— (system)" in row_of(html, "Retention purge")
    assert "sessionrecording 6b1d3c1e… (deleted)" in row_of(html, "Recording deleted")


def test_a_page_of_events_costs_the_same_queries_whatever_it_names(world, desk, trail):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert desk.get(URL).status_code == 200
        return len(ctx.captured_queries)

    # the login's session and user, the count and the page, one per kind of target named
    # (allocation, message) and the sessions, the date drill-down's two
    assert queries() == 9
    for i in range(20):
        message = message_create(booking=world.other_booking, sender=world.other_tutor, text=f"m{i}")[0]
        message_hide(message=message, moderator=world.admin, reason="x")
    assert AuditEvent.objects.count() > 20
    assert queries() == 9


def test_the_desk_index_leaves_out_what_a_coordinator_must_not_touch(world, desk):
    html = desk.get("/admin/").content.decode()
    for url in (
        "/admin/auth/group/",
        "/admin/token_blacklist/outstandingtoken/",
        "/admin/token_blacklist/blacklistedtoken/",
    ):
        assert url not in html
        assert desk.get(url).status_code == 404
    assert "/admin/k12/notification/add/" not in html
    assert desk.get("/admin/k12/notification/add/").status_code == 403
    assert desk.get("/admin/k12/notification/").status_code == 200


def test_a_notification_is_read_only_on_the_desk_but_may_be_deleted(world, desk):
    notification = Notification.objects.create(user=world.parent, kind="session_scheduled", title="Session scheduled")
    page = f"/admin/k12/notification/{notification.id}/change/"
    assert desk.get(page).status_code == 200
    desk.post(page, {"title": "typed by hand"})
    notification.refresh_from_db()
    assert notification.title == "Session scheduled"
    assert desk.get(f"/admin/k12/notification/{notification.id}/delete/").status_code == 200
    desk.post(f"/admin/k12/notification/{notification.id}/delete/", {"post": "yes"})
    assert not Notification.objects.filter(pk=notification.pk).exists()


def test_the_students_without_a_tutor_tile_says_what_it_counts(world, desk):
    html = desk.get("/admin/").content.decode()
    tile = re.search(r'data-kpi="studentsWithoutTutor">(.*?)</li>', html, re.S).group(1)
    assert "no active allocation at all" in tile
