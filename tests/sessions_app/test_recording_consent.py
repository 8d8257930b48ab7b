"""Recordings and safeguarding: consent to record gates uploads and playback; every link issued,
upload and deletion is in the audit trail; retention keeps sessions under legal hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client

from k12.models import AuditAction, AuditEvent, Student
from sessions_app.models import SessionRecording
from tests.sessions_app.conftest import upload, upload_processed, url
from tests.sessions_app.test_recordings import body_of, fetch, stored_row


def withdraw(world):
    Student.objects.filter(pk=world.child.pk).update(recording_consent=False)


@pytest.fixture
def storage(local_storage):
    return local_storage


def test_upload_without_consent_is_409_and_stores_nothing(world, api, samples, storage):
    withdraw(world)
    for role in ("tutor", "admin"):
        response = upload(api(getattr(world, role)), world.booking, samples.mp4)
        assert response.status_code == 409, response.content
        assert "consent" in response.json()["detail"]
    assert SessionRecording.objects.count() == 0 and storage.stored() == []


def test_withdrawn_consent_hides_recordings_from_all_but_staff(world, api, samples, storage):
    response = upload_processed(api(world.tutor), world.booking, samples.mp4_faststart)
    assert response.status_code == 201
    parent_link = api(world.parent).get(url(world.booking)).json()[0]["file_url"]
    staff_link = api(world.admin).get(url(world.booking)).json()[0]["file_url"]
    assert fetch(Client(), parent_link).status_code == 200

    # the parent withdraws consent through the API
    consent = f"/api/students/{world.child.id}/recording-consent"
    assert api(world.parent).post(consent, {"granted": False}, format="json").status_code == 200
    for role in ("parent", "student_user", "tutor"):
        assert api(getattr(world, role)).get(url(world.booking)).json() == [], role
    assert fetch(Client(), parent_link).status_code == 404  # links already handed out stop working
    # staff still see and play it, and decide what happens to it
    assert len(api(world.admin).get(url(world.booking)).json()) == 1
    staff_fetch = fetch(Client(), staff_link)
    assert staff_fetch.status_code == 200 and body_of(staff_fetch) == samples.mp4_faststart
    # consent given again: visible again
    api(world.parent).post(consent, {"granted": True}, format="json")
    assert len(api(world.parent).get(url(world.booking)).json()) == 1


def test_a_participant_link_cannot_be_turned_into_a_staff_link(world, api, samples, storage):
    assert upload_processed(api(world.tutor), world.booking, samples.mp4).status_code == 201
    link = api(world.parent).get(url(world.booking)).json()[0]["file_url"]
    assert "scope=p" in link
    assert fetch(Client(), link.replace("scope=p", "scope=s")).status_code == 403


def test_links_uploads_and_deletions_are_audited(world, api, samples, storage):
    created = upload_processed(api(world.tutor), world.booking, samples.mp4).json()
    api(world.parent).get(url(world.booking))
    api(world.student_user).get(url(world.booking))
    assert api(world.tutor).delete(f"/api/recordings/{created['id']}").status_code == 204
    events = list(AuditEvent.objects.order_by("id").values_list("action", "actor_email", "target_id"))
    assert events == [
        (AuditAction.RECORDING_UPLOADED, world.tutor.email, created["id"]),
        (AuditAction.RECORDING_URL_VIEWED, world.parent.email, created["id"]),
        (AuditAction.RECORDING_URL_VIEWED, world.student_user.email, created["id"]),
        (AuditAction.RECORDING_DELETED, world.tutor.email, created["id"]),
    ]
    assert AuditEvent.objects.filter(session_id=world.booking.id).count() == 4


def test_purge_recordings_keeps_legal_holds(world, storage):
    held = stored_row(world, age=timedelta(days=400))
    world.booking.legal_hold = True
    world.booking.save()
    from tests.conftest import book, next_slot

    other = book(world.child, world.tutor, world.math, next_slot(8, 9))
    gone = stored_row(world, session=other, age=timedelta(days=400))
    call_command("purge_recordings", older_than=365, stdout=open("/dev/null", "w"), stderr=open("/dev/null", "w"))
    assert set(SessionRecording.objects.values_list("pk", flat=True)) == {held.pk}
    assert not SessionRecording.objects.filter(pk=gone.pk).exists()


def test_the_staff_desk_plays_a_recording_without_consent_and_audits_it(world, samples, storage):
    # given: a recording of a child whose parent has withdrawn consent
    recording = stored_row(world, content=samples.mp4)
    withdraw(world)
    desk = Client()
    desk.force_login(world.admin)
    page = desk.get(f"/admin/sessions_app/sessionrecording/{recording.id}/change/")
    play = f"/admin/sessions_app/sessionrecording/{recording.id}/play/"
    assert page.status_code == 200 and play in page.content.decode()
    assert not AuditEvent.objects.exists()  # showing the page hands out no link

    # when: staff press play
    response = desk.get(play)

    # then: a staff link, which plays, and the link is in the audit trail like the API's
    assert response.status_code == 302 and "scope=s" in response["Location"]
    played = fetch(Client(), response["Location"])
    assert played.status_code == 200 and body_of(played) == samples.mp4
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_email, event.target_id) == (
        AuditAction.RECORDING_URL_VIEWED,
        world.admin.email,
        str(recording.id),
    )


def test_the_play_link_is_for_staff_only(world, samples, storage):
    recording = stored_row(world, content=samples.mp4)
    desk = Client()
    desk.force_login(world.parent)
    response = desk.get(f"/admin/sessions_app/sessionrecording/{recording.id}/play/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not AuditEvent.objects.exists()
