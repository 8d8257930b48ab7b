"""The moderation queue and the audit trail in the staff's desk (the Django admin)."""

from __future__ import annotations

import pytest
from django.test import Client

from k12.models import AuditAction, AuditEvent
from sessions_app.chat.moderation import message_report
from sessions_app.chat.services import message_create
from sessions_app.models import MessageReport, SessionMessage


@pytest.fixture
def desk(world):
    client = Client()
    client.force_login(world.admin)
    return client


@pytest.fixture
def report(world):
    message = message_create(booking=world.booking, sender=world.tutor, text="call me on 555-0100")[0]
    return message_report(message=message, reporter=world.parent, reason="personal_info")


def test_queue_lists_reports_and_hides_through_the_service(world, desk, report):
    changelist = desk.get("/admin/sessions_app/messagereport/")
    assert changelist.status_code == 200
    assert b"555-0100" in changelist.content
    response = desk.post(
        "/admin/sessions_app/messagereport/",
        {"action": "hide_reported_messages", "_selected_action": [str(report.pk)]},
    )
    assert response.status_code == 302
    message = SessionMessage.objects.get(pk=report.message_id)
    assert message.hidden_at is not None and message.text == "call me on 555-0100"
    assert MessageReport.objects.get(pk=report.pk).status == "actioned"
    assert AuditEvent.objects.filter(action=AuditAction.MESSAGE_HIDDEN, actor=world.admin).count() == 1


def test_dismissing_a_report_is_audited(world, desk, report):
    desk.post("/admin/sessions_app/messagereport/", {"action": "dismiss_reports", "_selected_action": [str(report.pk)]})
    assert MessageReport.objects.get(pk=report.pk).status == "dismissed"
    assert SessionMessage.objects.get(pk=report.message_id).hidden_at is None
    assert AuditEvent.objects.filter(action=AuditAction.REPORT_DISMISSED).count() == 1


def test_audit_rows_cannot_be_changed_or_deleted_through_the_admin(world, desk, report):
    event = AuditEvent.objects.get(action=AuditAction.MESSAGE_REPORTED)
    listing = desk.get("/admin/k12/auditevent/?action__exact=message.reported")
    assert listing.status_code == 200 and b"message.reported" in listing.content
    page = desk.get(f"/admin/k12/auditevent/{event.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert desk.post(f"/admin/k12/auditevent/{event.pk}/change/", {"action": "edited"}).status_code == 403
    assert desk.post(f"/admin/k12/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert desk.get("/admin/k12/auditevent/add/").status_code == 403
    bulk = desk.post("/admin/k12/auditevent/", {"action": "delete_selected", "_selected_action": [str(event.pk)]})
    assert bulk.status_code in (200, 302)
    assert AuditEvent.objects.get(pk=event.pk).action == AuditAction.MESSAGE_REPORTED


def test_legal_hold_from_the_admin_is_audited(world, desk):
    desk.post("/admin/k12/booking/", {"action": "set_legal_hold", "_selected_action": [str(world.booking.pk)]})
    world.booking.refresh_from_db()
    assert world.booking.legal_hold is True
    assert AuditEvent.objects.filter(action=AuditAction.LEGAL_HOLD_SET, session_id=world.booking.pk).count() == 1


@pytest.mark.parametrize("role", ["parent", "tutor", "student_user"])
def test_non_staff_cannot_reach_the_queue(world, role):
    client = Client()
    client.force_login(getattr(world, role))
    assert client.get("/admin/sessions_app/messagereport/").status_code == 302  # to the admin login


def test_the_queue_shows_automatic_reports_with_what_they_found(world, desk, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message_create(booking=world.booking, sender=world.tutor, text="ok, add me on discord: tom#4242")
    report = MessageReport.objects.get(reporter=None)
    changelist = desk.get("/admin/sessions_app/messagereport/")
    assert changelist.status_code == 200
    assert b"automatic" in changelist.content and b"social: add me on discord: tom#4242" in changelist.content
    assert desk.get(f"/admin/sessions_app/messagereport/{report.pk}/change/").status_code == 200
