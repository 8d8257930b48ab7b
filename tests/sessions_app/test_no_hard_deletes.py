"""Nothing that holds a child's conversation is hard-deleted by hand: sessions are cancelled,
accounts deactivated, children kept; the database refuses the cascade; the retention purges are
the only way content leaves, they skip legal holds, and both are audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import ProtectedError
from django.test import Client
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken

from k12.models import AuditAction, AuditEvent, Booking, Student, User
from sessions_app.chat.moderation import message_report
from sessions_app.chat.services import message_create
from sessions_app.models import MessageReport, SessionMessage, SessionRecording
from tests.sessions_app.test_recordings import stored_row


@pytest.fixture
def desk(world):
    client = Client()
    client.force_login(world.admin)
    return client


@pytest.fixture
def storage(local_storage):
    return local_storage


@pytest.fixture
def conversation(world):
    message = message_create(booking=world.booking, sender=world.tutor, text="hello Sam")[0]
    message_report(message=message, reporter=world.parent, reason="spam")
    return message


# --- the database ---------------------------------------------------------------------------


def test_the_database_refuses_to_delete_a_session_with_messages(world, conversation):
    with pytest.raises(ProtectedError), transaction.atomic():
        Booking.objects.filter(pk=world.booking.pk).delete()
    assert SessionMessage.objects.filter(pk=conversation.pk).exists() and MessageReport.objects.count() == 1


def test_the_database_refuses_to_delete_a_session_with_recordings(world, storage):
    recording = stored_row(world)
    with pytest.raises(ProtectedError), transaction.atomic():
        world.booking.delete()
    assert SessionRecording.objects.filter(pk=recording.pk).exists()


# --- the staff desk ---------------------------------------------------------------------------


def test_the_desk_cancels_sessions_and_never_deletes_them(world, desk, conversation):
    changelist = desk.get("/admin/k12/booking/")
    assert changelist.status_code == 200
    assert b"delete_selected" not in changelist.content and b"cancel_sessions" in changelist.content
    assert desk.get(f"/admin/k12/booking/{world.booking.pk}/delete/").status_code == 403
    assert desk.post(f"/admin/k12/booking/{world.booking.pk}/delete/", {"post": "yes"}).status_code == 403
    desk.post("/admin/k12/booking/", {"action": "delete_selected", "_selected_action": [str(world.booking.pk)]})
    assert Booking.objects.filter(pk=world.booking.pk).exists()
    assert SessionMessage.objects.filter(pk=conversation.pk).exists()


@pytest.mark.parametrize("path", ["k12/user", "k12/student"])
def test_the_desk_never_deletes_people(world, desk, conversation, path):
    obj = world.tutor if path == "k12/user" else world.child
    assert desk.get(f"/admin/{path}/{obj.pk}/delete/").status_code == 403
    desk.post(f"/admin/{path}/", {"action": "delete_selected", "_selected_action": [str(obj.pk)]})
    assert type(obj).objects.filter(pk=obj.pk).exists()
    assert b"delete_selected" not in desk.get(f"/admin/{path}/").content


def test_the_desk_deactivates_accounts_through_the_service(world, desk, conversation):
    refresh = RefreshToken.for_user(world.tutor)
    response = desk.post("/admin/k12/user/", {"action": "deactivate_users", "_selected_action": [str(world.tutor.pk)]})
    assert response.status_code == 302
    world.tutor.refresh_from_db()
    assert world.tutor.is_active is False
    assert SessionMessage.objects.filter(user=world.tutor).count() == 1  # everything they wrote stays
    event = AuditEvent.objects.get(action=AuditAction.USER_DEACTIVATED)
    assert event.actor_id == world.admin.id and event.target_id == str(world.tutor.pk)
    assert BlacklistedToken.objects.filter(token__jti=refresh["jti"]).exists()
    refreshed = Client().post("/api/auth/token/refresh", {"refresh": str(refresh)}, content_type="application/json")
    assert refreshed.status_code == 401
    desk.post("/admin/k12/user/", {"action": "reactivate_users", "_selected_action": [str(world.tutor.pk)]})
    assert User.objects.get(pk=world.tutor.pk).is_active is True
    assert AuditEvent.objects.filter(action=AuditAction.USER_REACTIVATED).count() == 1


def test_staff_cannot_deactivate_themselves(world, desk):
    desk.post("/admin/k12/user/", {"action": "deactivate_users", "_selected_action": [str(world.admin.pk)]})
    assert User.objects.get(pk=world.admin.pk).is_active is True


def test_moving_a_child_to_another_parent_in_the_desk_is_audited(world, desk):
    page = desk.get(f"/admin/k12/student/{world.child.pk}/change/")
    assert page.status_code == 200
    form = {
        "parent": str(world.other_parent.pk),
        "user": str(world.student_user.pk),
        "first_name": "Sam",
        "last_name": "Parker",
        "grade": "7",
        "created_at_0": "2026-01-01",
        "created_at_1": "10:00:00",
        "recording_consent": "on",
    }
    response = desk.post(f"/admin/k12/student/{world.child.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]
    assert Student.objects.get(pk=world.child.pk).parent_id == world.other_parent.pk
    event = AuditEvent.objects.get(action=AuditAction.STUDENT_PARENT_CHANGED)
    assert event.data == {"from": str(world.parent.pk), "to": str(world.other_parent.pk)}


# --- the API ----------------------------------------------------------------------------------


def test_the_api_has_no_way_to_delete_a_session(world, api):
    for role in ("admin", "parent", "tutor"):
        response = api(getattr(world, role)).delete(f"/api/sessions/{world.booking.id}")
        assert response.status_code == 405, (role, response.status_code)
    assert Booking.objects.filter(pk=world.booking.pk).exists()


def test_a_recording_under_legal_hold_cannot_be_deleted(world, api, storage):
    recording = stored_row(world)
    world.booking.legal_hold = True
    world.booking.save()
    for user in (world.tutor, world.admin):
        assert api(user).delete(f"/api/recordings/{recording.id}").status_code == 409
    assert SessionRecording.objects.filter(pk=recording.pk).exists()


# --- retention --------------------------------------------------------------------------------


def test_the_recording_purge_skips_legal_holds_and_is_audited(world, storage):
    from tests.conftest import book, next_slot

    held = stored_row(world, age=timedelta(days=400))
    world.booking.legal_hold = True
    world.booking.save()
    other = book(world.child, world.tutor, world.math, next_slot(8, 9))
    stored_row(world, session=other, age=timedelta(days=400))
    stored_row(world, session=other, age=timedelta(days=1))
    call_command("purge_recordings", older_than=365, dry_run=True, stdout=open("/dev/null", "w"))
    assert not AuditEvent.objects.filter(action=AuditAction.RETENTION_PURGE).exists()
    call_command("purge_recordings", older_than=365, stdout=open("/dev/null", "w"), stderr=open("/dev/null", "w"))
    assert SessionRecording.objects.count() == 2 and SessionRecording.objects.filter(pk=held.pk).exists()
    event = AuditEvent.objects.get(action=AuditAction.RETENTION_PURGE)
    assert event.target_type == "sessions_app.sessionrecording"
    assert event.data["deleted"] == 1 and event.data["held"] == 1 and event.data["older_than_days"] == 365


@pytest.mark.parametrize(
    "command, target_type",
    [("purge_messages", "sessions_app.sessionmessage"), ("purge_recordings", "sessions_app.sessionrecording")],
)
def test_every_purge_run_is_audited_even_one_that_removes_nothing(world, storage, command, target_type):
    # given an old message and an old recording, in a session under legal hold
    from django.utils import timezone

    message_create(booking=world.booking, sender=world.tutor, text="old")
    SessionMessage.objects.update(created_at=timezone.now() - timedelta(days=400))
    stored_row(world, age=timedelta(days=400))
    world.booking.legal_hold = True
    world.booking.save()
    # when
    call_command(command, older_than=365, stdout=open("/dev/null", "w"), stderr=open("/dev/null", "w"))
    # then the run is on record: it removed nothing and kept one
    assert SessionMessage.objects.count() == 1 and SessionRecording.objects.count() == 1
    event = AuditEvent.objects.get(action=AuditAction.RETENTION_PURGE)
    assert event.target_type == target_type
    assert event.data["deleted"] == 0 and event.data["held"] == 1 and event.data["older_than_days"] == 365
