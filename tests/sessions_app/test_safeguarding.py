"""Safeguarding: reports, moderation (hide/restore), the audit trail, consent, retention, unread
counts, and the rule that no conversation is hidden from the child's parent."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import DatabaseError, transaction
from django.urls import get_resolver
from django.utils import timezone

from k12.models import AuditAction, AuditEvent, Student
from sessions_app.chat.services import message_create
from sessions_app.models import MessageReport, ReadCursor, SessionMessage
from tests.conftest import ROLES

REPORTERS = {
    "anonymous": 401,
    "admin": 403,
    "parent": 201,
    "student_user": 201,
    "tutor": 201,
    "other_parent": 403,
    "other_student_user": 403,
    "other_tutor": 403,
}


@pytest.fixture
def message(world):
    return message_create(booking=world.booking, sender=world.tutor, text="something unkind")[0]


def report_url(message_id) -> str:
    return f"/api/messages/{message_id}/report"


@pytest.mark.parametrize("role", ROLES)
def test_only_participants_report(world, api, message, role):
    response = api(world.user(role)).post(report_url(message.id), {"reason": "bullying"}, format="json")
    assert response.status_code == REPORTERS[role], response.content
    assert MessageReport.objects.count() == (1 if REPORTERS[role] == 201 else 0)


def test_report_shape_audit_and_duplicates(world, api, message):
    client = api(world.parent)
    response = client.post(
        report_url(message.id), {"reason": "personal_info", "description": " phone no. "}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["reason"] == "personal_info" and body["description"] == "phone no." and body["status"] == "open"
    assert body["message_id"] == str(message.id)
    event = AuditEvent.objects.get(action=AuditAction.MESSAGE_REPORTED)
    assert event.actor_id == world.parent.id and event.target_id == str(message.id)
    assert event.session_id == world.booking.id
    again = client.post(report_url(message.id), {"reason": "spam"}, format="json")
    assert again.status_code == 409
    # another participant may report the same message
    assert api(world.student_user).post(report_url(message.id), {"reason": "spam"}, format="json").status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": "rude"},
        {"reason": 5},
        {"reason": "other"},
        {"reason": "other", "description": "  "},
        {"reason": "spam", "description": 7},
        {"reason": "spam", "description": "x" * 2001},
    ],
)
def test_bad_reports_are_400(world, api, message, body):
    response = api(world.parent).post(report_url(message.id), body, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()) & {"reason", "description"}


@pytest.mark.parametrize("message_id", [uuid.uuid4(), "nope"])
def test_unknown_message_is_404(world, api, message_id):
    assert api(world.parent).post(report_url(message_id), {"reason": "spam"}, format="json").status_code == 404


def test_only_staff_hide(world, api, message):
    for role in ("parent", "tutor", "student_user", "other_parent"):
        assert api(world.user(role)).post(f"/api/messages/{message.id}/hide", {}, format="json").status_code == 403
    assert api(None).post(f"/api/messages/{message.id}/hide", {}, format="json").status_code == 401
    assert SessionMessage.objects.get(pk=message.pk).hidden_at is None


def test_hidden_message_is_a_placeholder_for_everyone_but_staff(
    world, api, message, django_capture_on_commit_callbacks
):
    api(world.parent).post(report_url(message.id), {"reason": "bullying"}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(world.admin).post(f"/api/messages/{message.id}/hide", {"reason": "bullying"}, format="json")
    assert response.status_code == 200
    assert response.json()["hidden"] is True and response.json()["text"] == "something unkind"
    stored = SessionMessage.objects.get(pk=message.pk)
    assert stored.text == "something unkind" and stored.hidden_by_id == world.admin.id  # nothing deleted
    assert MessageReport.objects.get().status == "actioned"
    for role in ("parent", "student_user", "tutor"):
        listed = api(world.user(role)).get(f"/api/sessions/{world.booking.id}/messages").json()
        assert listed[0]["hidden"] is True and listed[0]["text"] == "", role
        assert "unkind" not in str(listed)
    staff_view = api(world.admin).get(f"/api/sessions/{world.booking.id}/messages").json()
    assert staff_view[0]["text"] == "something unkind"
    assert AuditEvent.objects.filter(action=AuditAction.MESSAGE_HIDDEN, target_id=str(message.id)).count() == 1
    # restoring is audited too
    assert api(world.admin).post(f"/api/messages/{message.id}/unhide", {}, format="json").json()["hidden"] is False
    assert api(world.parent).get(f"/api/sessions/{world.booking.id}/messages").json()[0]["text"] == "something unkind"
    assert AuditEvent.objects.filter(action=AuditAction.MESSAGE_UNHIDDEN).count() == 1


@pytest.mark.django_db(transaction=True)
async def test_hidden_text_never_reaches_the_live_room(world):
    from tests.sessions_app.test_consumer import joined

    message = (await sync_to_async(message_create)(booking=world.booking, sender=world.tutor, text="secret"))[0]
    parent, _ = await joined(world.parent, world.booking)
    admin, _ = await joined(world.admin, world.booking)
    from sessions_app.chat.moderation import message_hide

    await sync_to_async(message_hide)(message=message, moderator=world.admin)
    for comm in (parent, admin):
        frame = await comm.receive_json_from()
        assert frame == {"type": "messageHidden", "sessionId": str(world.booking.id), "messageId": str(message.id)}
    # a client that (re)joins gets the placeholder in `missed`; staff get the text
    again, reply = await joined(world.student_user, world.booking)
    assert reply["missed"][0]["hidden"] is True and reply["missed"][0]["text"] == ""
    _, staff_reply = await joined(world.admin, world.booking)
    assert staff_reply["missed"][0]["text"] == "secret"
    for comm in (parent, admin, again):
        await comm.disconnect()


def test_audit_trail_is_append_only_in_the_database(world, message):
    from sessions_app.chat.moderation import message_hide

    message_hide(message=message, moderator=world.admin)
    event = AuditEvent.objects.get(action=AuditAction.MESSAGE_HIDDEN)
    for attempt in (
        lambda: AuditEvent.objects.filter(pk=event.pk).update(action="edited"),
        lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    assert AuditEvent.objects.get(pk=event.pk).action == AuditAction.MESSAGE_HIDDEN


def test_export_audit_writes_csv(world, message, tmp_path):
    api_hide = __import__("sessions_app.chat.moderation", fromlist=["message_hide"]).message_hide
    api_hide(message=message, moderator=world.admin)
    out = tmp_path / "audit.csv"
    since = (timezone.now() - timedelta(hours=1)).date().isoformat()
    call_command("export_audit", since=since, output=str(out))
    lines = out.read_text().splitlines()
    assert lines[0].split(",")[:4] == ["created_at", "actor_email", "action", "target_type"]
    assert any("message.hidden" in line and "admin@example.test" in line for line in lines[1:])


CONSENT = {
    "anonymous": 401,
    "admin": 200,
    "parent": 200,
    "other_parent": 403,
    "student_user": 403,
    "tutor": 403,
    "other_tutor": 403,
    "other_student_user": 403,
}


@pytest.mark.parametrize("role", ROLES)
def test_only_the_parent_or_staff_change_consent(world, api, role):
    Student.objects.filter(pk=world.child.pk).update(recording_consent=False)
    url = f"/api/students/{world.child.id}/recording-consent"
    response = api(world.user(role)).post(url, {"granted": True}, format="json")
    assert response.status_code == CONSENT[role], response.content
    assert Student.objects.get(pk=world.child.pk).recording_consent is (CONSENT[role] == 200)


def test_consent_changes_are_audited_once(world, api):
    Student.objects.filter(pk=world.child.pk).update(recording_consent=False)
    client = api(world.parent)
    url = f"/api/students/{world.child.id}/recording-consent"
    assert client.post(url, {"granted": True}, format="json").json()["recording_consent"] is True
    client.post(url, {"granted": True}, format="json")
    assert client.post(url, {"granted": False}, format="json").json()["recording_consent"] is False
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == [AuditAction.CONSENT_GRANTED, AuditAction.CONSENT_WITHDRAWN]
    for bad in ({}, {"granted": "maybe"}, {"granted": None}):
        assert client.post(url, bad, format="json").status_code == 400
    assert (
        client.post(f"/api/students/{uuid.uuid4()}/recording-consent", {"granted": True}, format="json").status_code
        == 404
    )


def test_purge_messages_respects_legal_hold(world):
    old = timezone.now() - timedelta(days=400)
    for booking, sender in ((world.booking, world.tutor), (world.other_booking, world.other_tutor)):
        for i in range(3):
            message_create(booking=booking, sender=sender, text=f"old {i}")
    message_create(booking=world.booking, sender=world.tutor, text="recent")
    SessionMessage.objects.filter(text__startswith="old").update(created_at=old)
    world.other_booking.legal_hold = True
    world.other_booking.save()
    call_command("purge_messages", older_than=365, dry_run=True, stdout=open("/dev/null", "w"))
    assert SessionMessage.objects.count() == 7
    call_command("purge_messages", older_than=365, stdout=open("/dev/null", "w"))
    assert set(SessionMessage.objects.values_list("session_id", "text")) == {
        (world.booking.id, "recent"),
        *((world.other_booking.id, f"old {i}") for i in range(3)),
    }
    event = AuditEvent.objects.get(action=AuditAction.RETENTION_PURGE)
    assert event.data["deleted"] == 3 and event.data["held"] == 3


def _unread(api, user, booking):
    rows = api(user).get("/api/sessions").json()
    return {row["id"]: row["unread"] for row in rows}[str(booking.id)]


def test_unread_counts_follow_the_read_cursor(world, api):
    texts = [message_create(booking=world.booking, sender=world.tutor, text=f"t{i}")[0] for i in range(4)]
    message_create(booking=world.booking, sender=world.parent, text="mine")  # own messages are not unread
    assert _unread(api, world.parent, world.booking) == 4
    assert _unread(api, world.tutor, world.booking) == 1
    response = api(world.parent).post(
        f"/api/sessions/{world.booking.id}/read", {"up_to": str(texts[1].id)}, format="json"
    )
    assert response.status_code == 200 and response.json() == {"session_id": str(world.booking.id), "unread": 2}
    # the cursor never moves back
    api(world.parent).post(f"/api/sessions/{world.booking.id}/read", {"up_to": str(texts[0].id)}, format="json")
    assert _unread(api, world.parent, world.booking) == 2
    assert ReadCursor.objects.get(user=world.parent).last_read_seq == texts[1].seq
    # a hidden message is not counted
    from sessions_app.chat.moderation import message_hide

    message_hide(message=texts[3], moderator=world.admin)
    assert _unread(api, world.parent, world.booking) == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 400), ({"up_to": "nope"}, 400), ({"up_to": "00000000-0000-4000-8000-000000000000"}, 400)],
)
def test_read_bad_input(world, api, body, status):
    assert api(world.parent).post(f"/api/sessions/{world.booking.id}/read", body, format="json").status_code == status


def test_read_needs_access(world, api, message):
    url = f"/api/sessions/{world.booking.id}/read"
    assert api(world.other_parent).post(url, {"up_to": str(message.id)}, format="json").status_code == 403
    assert api(None).post(url, {"up_to": str(message.id)}, format="json").status_code == 401


@pytest.mark.parametrize("sessions", [1, 12])
def test_unread_list_is_one_query_whatever_its_length(world, api, django_assert_num_queries, sessions):
    from tests.conftest import book, next_slot

    for i in range(sessions - 1):
        b = book(world.child, world.tutor, world.math, next_slot(10 + i, 9))
        message_create(booking=b, sender=world.tutor, text="hi")
    client = api(world.parent)
    with django_assert_num_queries(2):  # the user (JWT), the page with its unread counts
        assert len(client.get("/api/sessions").json()) == sessions


# --- no hidden conversations --------------------------------------------------------------

CHAT_ROUTES = {
    "api/sessions/<str:session_id>/messages",
    "api/messages/<str:message_id>/report",
    "api/messages/<str:message_id>/hide",
    "api/messages/<str:message_id>/unhide",
}


def _routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if hasattr(pattern, "url_patterns"):
            yield from _routes(pattern, prefix + str(pattern.pattern))
        else:
            yield (prefix + str(pattern.pattern)).rstrip("/")


def test_no_private_channel_exists():
    """A child's chat is always visible to their parent. This fails when someone adds a route
    or a field that could carry a conversation the parent cannot read: review it against the
    safeguarding rule, then extend the lists here."""
    words = ("message", "chat", "conversation", "direct", "inbox", "thread", "whisper", "private")
    chat_like = {
        r
        for r in _routes()
        if r.startswith("api/") and any(t == "dm" or t.startswith(words) for t in re.split(r"[^a-z]+", r.lower()))
    }
    assert chat_like == CHAT_ROUTES
    from sessions_app.chat.routing import websocket_urlpatterns

    assert [str(p.pattern) for p in websocket_urlpatterns] == ["^ws/encounters/?$"]
    fields = {f.name for f in SessionMessage._meta.get_fields()}
    assert fields == {
        "id",
        "session",
        "user",
        "seq",
        "text",
        "client_id",
        "created_at",
        "hidden_at",
        "hidden_by",
        "hidden_reason",
        "reports",
    }, "a message is addressed to its session, never to a subset of its participants"


def test_the_parent_reads_everything_the_tutor_and_student_say(world, api):
    message_create(booking=world.booking, sender=world.tutor, text="from tutor")
    message_create(booking=world.booking, sender=world.student_user, text="from student")
    api(world.tutor).post(f"/api/sessions/{world.booking.id}/messages", {"text": "via REST"}, format="json")
    seen = [m["text"] for m in api(world.parent).get(f"/api/sessions/{world.booking.id}/messages").json()]
    assert seen == ["from tutor", "from student", "via REST"]


def test_every_allocation_is_audited(world, api):
    from k12.models import Allocation

    created = api(world.admin).post(
        "/api/admin/allocations",
        {"studentId": str(world.child.id), "tutorId": str(world.tutor.id), "subjectId": str(world.physics.id)},
        format="json",
    )
    assert created.status_code == 201, created.content
    allocation = Allocation.objects.get(subject=world.physics)
    assert api(world.admin).post(f"/api/admin/allocations/{allocation.id}/end", {}, format="json").status_code == 200
    events = list(AuditEvent.objects.order_by("id").values_list("action", "actor_email", "target_id"))
    assert events == [
        (AuditAction.ALLOCATION_CREATED, world.admin.email, str(allocation.id)),
        (AuditAction.ALLOCATION_ENDED, world.admin.email, str(allocation.id)),
    ]
