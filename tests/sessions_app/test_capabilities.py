"""``can`` on a session says what will succeed: for every role and every kind of session, each
flag equals whether the request it stands for succeeds (2xx), consent and state included."""

from __future__ import annotations

import pytest
from django.utils import timezone

from k12.models import BookingStatus
from sessions_app.models import SessionMessage
from tests.conftest import ROLES

FIXTURES = ["booking", "other_booking", "no_consent", "cancelled"]
FLAGS = ["send_message", "upload_recording", "cancel", "report", "moderate"]


def _session(world, fixture):
    booking = world.booking if fixture != "other_booking" else world.other_booking
    if fixture == "no_consent":
        world.child.recording_consent = False
        world.child.save(update_fields=["recording_consent"])
    if fixture == "cancelled":
        booking.status, booking.cancelled_at = BookingStatus.CANCELLED, timezone.now()
        booking.save(update_fields=["status", "cancelled_at"])
    # someone else's message to report or moderate
    author = world.other_tutor if fixture == "other_booking" else world.tutor
    SessionMessage.objects.create(session=booking, user=author, seq=1, text="Hello")
    booking.last_message_seq = 1
    booking.save(update_fields=["last_message_seq"])
    return booking


def _attempt(client, booking, flag, samples_mp4) -> int:
    base = f"/api/sessions/{booking.id}"
    message = SessionMessage.objects.get(session=booking, seq=1)
    if flag == "send_message":
        return client.post(f"{base}/messages", {"text": "hi"}, format="json").status_code
    if flag == "upload_recording":
        return client.post(f"{base}/recordings", {"file": samples_mp4}, format="multipart").status_code
    if flag == "cancel":
        return client.post(f"{base}/cancel", {}, format="json").status_code
    if flag == "report":
        return client.post(f"/api/messages/{message.id}/report", {"reason": "spam"}, format="json").status_code
    return client.post(f"/api/messages/{message.id}/hide", {}, format="json").status_code


CASES = [(role, fixture, flag) for role in ROLES if role != "anonymous" for fixture in FIXTURES for flag in FLAGS]


@pytest.mark.parametrize(("role", "fixture", "flag"), CASES, ids=["-".join(c) for c in CASES])
def test_each_flag_is_what_the_request_does(world, api, local_storage, samples, role, fixture, flag):
    from django.core.files.uploadedfile import SimpleUploadedFile

    booking = _session(world, fixture)
    client = api(world.user(role))
    detail = client.get(f"/api/sessions/{booking.id}")
    if detail.status_code == 403:  # not theirs: nothing is offered, and nothing would work
        offered = False
    else:
        offered = detail.json()["can"][flag]
        listed = {row["id"]: row["can"] for row in client.get("/api/sessions").json()}
        assert listed[str(booking.id)] == detail.json()["can"]
    upload = SimpleUploadedFile("lesson.mp4", samples.mp4, content_type="video/mp4")
    status = _attempt(client, booking, flag, upload)
    assert (200 <= status < 300) == offered, (status, offered)


# A recording in the list carries ``can.delete``: whether DELETE /api/recordings/{id} by the
# same user succeeds (its uploader or staff), for every role that sees the list.
UPLOADERS = ["tutor", "admin"]
DELETE_CASES = [(role, uploader) for role in ROLES if role != "anonymous" for uploader in UPLOADERS]


@pytest.mark.parametrize(("role", "uploader"), DELETE_CASES, ids=["-".join(c) for c in DELETE_CASES])
def test_a_recordings_delete_flag_is_what_delete_does(world, api, local_storage, role, uploader):
    from tests.sessions_app.test_recordings import stored_row

    recording = stored_row(world, uploaded_by=world.user(uploader))
    client = api(world.user(role))
    listed = client.get(f"/api/sessions/{world.booking.id}/recordings")
    if listed.status_code == 403:  # not theirs: nothing is offered, and nothing would work
        offered = False
    else:
        (row,) = [r for r in listed.json() if r["id"] == str(recording.id)]
        offered = row["can"]["delete"]
    status = client.delete(f"/api/recordings/{recording.id}").status_code
    assert (200 <= status < 300) == offered, (status, offered)
