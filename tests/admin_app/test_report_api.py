"""The moderation queue in the API: GET /api/admin/reports, POST /api/admin/reports/{id}/resolve."""

from __future__ import annotations

import re
import uuid

import pytest

from k12.models import AuditAction, AuditEvent
from sessions_app.chat.moderation import message_hide, message_report
from sessions_app.chat.services import message_create
from sessions_app.models import MessageReport, SessionMessage
from tests.conftest import ROLES

QUEUE = "/api/admin/reports"
STAFF_ONLY = {role: 403 for role in ROLES} | {"anonymous": 401, "admin": 200}


def links(response) -> dict[str, str]:
    return {rel: href for href, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("Link", ""))}


@pytest.fixture
def reports(world, django_capture_on_commit_callbacks):
    """An automatic report (contact details) and a participant's report, oldest first."""
    with django_capture_on_commit_callbacks(execute=True):
        flagged = message_create(booking=world.booking, sender=world.tutor, text="add me on snap: tom_t")[0]
    rude = message_create(booking=world.booking, sender=world.student_user, text="you are useless")[0]
    automatic = MessageReport.objects.get(message=flagged)
    reported = message_report(message=rude, reporter=world.parent, reason="bullying", description="unkind")
    return automatic, reported


@pytest.mark.parametrize("role", ROLES)
def test_only_staff_read_the_queue(world, api, reports, role):
    assert api(world.user(role)).get(QUEUE).status_code == STAFF_ONLY[role]


@pytest.mark.parametrize("role", ROLES)
def test_only_staff_resolve(world, api, reports, role):
    automatic, _ = reports
    response = api(world.user(role)).post(f"{QUEUE}/{automatic.id}/resolve", {"action": "dismiss"}, format="json")
    assert response.status_code == STAFF_ONLY[role]
    assert MessageReport.objects.get(pk=automatic.pk).status == ("dismissed" if role == "admin" else "open")


def test_the_queue_is_newest_first_with_the_message_its_session_and_what_was_found(world, api, reports):
    automatic, reported = reports
    message_hide(message=reported.message, moderator=world.admin)
    MessageReport.objects.filter(pk=reported.pk).update(status="open", resolved_by=None, resolved_at=None)
    body = api(world.admin).get(QUEUE).json()
    assert [r["id"] for r in body] == [str(reported.id), str(automatic.id)]
    first, second = body
    # a participant's report, of a message now hidden: staff still read the text
    assert first["reporter"]["id"] == str(world.parent.id) and first["reporter"]["role"] == "parent"
    assert first["reason"] == "bullying" and first["description"] == "unkind" and first["matched_spans"] == []
    assert first["message"]["text"] == "you are useless" and first["message"]["hidden"] is True
    assert first["message"]["hidden_at"] is not None
    # the automatic one: no reporter, the spans
    assert second["reporter"] is None and second["reason"] == "contact_details" and second["status"] == "open"
    assert second["matched_spans"] == [{"kind": "social", "start": 0, "end": 21, "text": "add me on snap: tom_t"}]
    assert second["message"]["id"] == str(automatic.message_id)
    assert second["message"]["session_id"] == str(world.booking.id) and second["message"]["from"] == "Tom"
    session = second["session"]
    assert session["id"] == str(world.booking.id) and session["subject"] == "Math"
    assert session["tutor"]["id"] == str(world.tutor.id) and session["student"]["id"] == str(world.child.id)
    assert second["resolution"] is None and second["resolved_by"] is None


def test_filters_by_status_and_reason(world, api, reports):
    automatic, reported = reports
    client = api(world.admin)
    client.post(f"{QUEUE}/{reported.id}/resolve", {"action": "dismiss"}, format="json")
    assert [r["id"] for r in client.get(QUEUE, {"status": "open"}).json()] == [str(automatic.id)]
    assert [r["id"] for r in client.get(QUEUE, {"status": "resolved"}).json()] == [str(reported.id)]
    assert [r["id"] for r in client.get(QUEUE, {"reason": "contact_details"}).json()] == [str(automatic.id)]
    assert client.get(QUEUE, {"reason": "bullying", "status": "open"}).json() == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"status": "closed"}, "status"),
        ({"status": ""}, "status"),
        ({"reason": "rude"}, "reason"),
        ({"sort": "oldest"}, "sort"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_unknown_or_invalid_parameters_are_400_naming_them(world, api, reports, params, named):
    response = api(world.admin).get(QUEUE, params)
    assert response.status_code == 400 and named in response.json()


def test_pages_by_cursor_in_a_link_header(world, api, django_capture_on_commit_callbacks):
    for i in range(5):
        message = message_create(booking=world.booking, sender=world.tutor, text=f"m{i}")[0]
        message_report(message=message, reporter=world.parent, reason="spam")
    client = api(world.admin)
    first = client.get(QUEUE, {"limit": 2})
    assert len(first.json()) == 2 and "next" in links(first)
    seen = [r["id"] for r in first.json()]
    page = first
    while "next" in links(page):
        page = client.get(links(page)["next"])
        seen += [r["id"] for r in page.json()]
    newest_first = MessageReport.objects.order_by("-created_at", "-id").values_list("id", flat=True)
    assert seen == [str(pk) for pk in newest_first]


@pytest.mark.parametrize("size", [1, 10])
def test_the_queue_costs_the_same_queries_whatever_its_length(world, api, django_assert_num_queries, size):
    for i in range(size):
        message = message_create(booking=world.booking, sender=world.tutor, text=f"m{i}")[0]
        message_report(message=message, reporter=world.parent, reason="spam")
    client = api(world.admin)
    with django_assert_num_queries(2):  # the user (JWT), the page with everything it shows
        assert len(client.get(QUEUE).json()) == size


def test_hide_goes_through_the_moderation_service_and_is_audited(
    world, api, reports, django_capture_on_commit_callbacks
):
    automatic, _ = reports
    with django_capture_on_commit_callbacks(execute=True):
        response = api(world.admin).post(f"{QUEUE}/{automatic.id}/resolve/", {"action": "hide"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "resolved" and body["resolution"] == "hidden"
    assert body["resolved_by"]["id"] == str(world.admin.id) and body["message"]["hidden"] is True
    message = SessionMessage.objects.get(pk=automatic.message_id)
    assert message.hidden_by_id == world.admin.id and message.text == "add me on snap: tom_t"
    event = AuditEvent.objects.get(action=AuditAction.MESSAGE_HIDDEN)
    assert event.actor_id == world.admin.id and event.target_id == str(message.id)
    # participants see the placeholder
    listed = api(world.parent).get(f"/api/sessions/{world.booking.id}/messages").json()
    assert listed[0]["hidden"] is True and listed[0]["text"] == ""


def test_dismiss_keeps_the_message_and_is_audited(world, api, reports):
    _, reported = reports
    response = api(world.admin).post(f"{QUEUE}/{reported.id}/resolve", {"action": "dismiss"}, format="json")
    assert response.status_code == 200 and response.json()["resolution"] == "dismissed"
    assert SessionMessage.objects.get(pk=reported.message_id).hidden_at is None
    assert AuditEvent.objects.filter(action=AuditAction.REPORT_DISMISSED, target_id=str(reported.id)).count() == 1


def test_resolving_twice_is_409(world, api, reports):
    automatic, _ = reports
    client = api(world.admin)
    assert client.post(f"{QUEUE}/{automatic.id}/resolve", {"action": "dismiss"}, format="json").status_code == 200
    assert client.post(f"{QUEUE}/{automatic.id}/resolve", {"action": "hide"}, format="json").status_code == 409
    assert SessionMessage.objects.get(pk=automatic.message_id).hidden_at is None


@pytest.mark.parametrize("body", [{}, {"action": "delete"}, {"action": 1}, {"action": None}])
def test_a_bad_action_is_400(world, api, reports, body):
    automatic, _ = reports
    response = api(world.admin).post(f"{QUEUE}/{automatic.id}/resolve", body, format="json")
    assert response.status_code == 400 and "action" in response.json()


@pytest.mark.parametrize("report_id", [uuid.uuid4(), "nope"])
def test_an_unknown_report_is_404(world, api, report_id):
    response = api(world.admin).post(f"{QUEUE}/{report_id}/resolve", {"action": "dismiss"}, format="json")
    assert response.status_code == 404
