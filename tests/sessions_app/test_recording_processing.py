"""Recording processing after upload: a poster frame (JPEG, signed URL) and, for an MP4 whose
index is at the end, a faststart copy (stream copy: same streams and duration, ``moov`` before
``mdat``) that replaces the stored file; ``processing`` until then, ``ready`` after, and the
participants hear of it. A file the processing cannot handle stays as uploaded and playable."""

from __future__ import annotations

import hashlib
import io

import av
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from k12.models import Notification
from sessions_app.models import RecordingStatus, SessionRecording
from sessions_app.recordings.probe import media_probe
from sessions_app.recordings.processing import moov_before_mdat, recording_process
from tests.sessions_app.conftest import upload, url
from tests.sessions_app.test_recordings import body_of


def boxes(data: bytes) -> list[bytes]:
    """The top-level box types of an MP4, in order."""
    kinds, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        kinds.append(data[offset + 4 : offset + 8])
        if size < 8:
            break
        offset += size
    return kinds


def streams_of(data: bytes) -> list[tuple[str, str]]:
    with av.open(io.BytesIO(data)) as container:
        return [(s.type, s.codec_context.name) for s in container.streams]


def uploaded(world, api, content, capture, name="lesson.mp4", content_type="video/mp4"):
    with capture(execute=True):
        response = upload(api(world.tutor), world.booking, content, name=name, content_type=content_type)
        assert response.status_code == 201, response.content
        # the response leaves before the worker has done its part
        assert response.json()["status"] == "processing" and response.json()["file_url"] is None
    [listed] = api(world.parent).get(url(world.booking)).json()
    return listed


def test_an_mp4_with_its_index_at_the_end_is_made_faststart_with_a_poster(
    world, api, samples, local_storage, django_capture_on_commit_callbacks
):
    assert boxes(samples.mp4).index(b"mdat") < boxes(samples.mp4).index(b"moov")  # the test's premise
    listed = uploaded(world, api, samples.mp4, django_capture_on_commit_callbacks)
    assert listed["status"] == "ready"

    client = Client()
    stored = body_of(client.get(listed["file_url"]))
    kinds = boxes(stored)
    assert kinds.index(b"moov") < kinds.index(b"mdat")
    assert streams_of(stored) == streams_of(samples.mp4) == [("video", "h264"), ("audio", "aac")]
    before, after = media_probe(io.BytesIO(samples.mp4)), media_probe(io.BytesIO(stored))
    assert abs(before.duration - after.duration) < 0.05
    assert listed["file_size_bytes"] == len(stored)

    poster = client.get(listed["poster_url"])
    assert poster.status_code == 200 and poster["Content-Type"] == "image/jpeg"
    with av.open(io.BytesIO(poster.content), format="mjpeg") as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (160, 120)

    # the uploaded copy is gone: the recording and its poster are all that is stored
    recording = SessionRecording.objects.get()
    assert sorted(p.name for p in local_storage.stored()) == sorted(
        [recording.file.name.rsplit("/", 1)[1], recording.poster.rsplit("/", 1)[1]]
    )
    ready = Notification.objects.filter(kind="recording_ready").values_list("user_id", "data")
    assert sorted(ready) == sorted(
        (user.id, {"sessionId": str(world.booking.id), "recordingId": str(recording.id)})
        for user in (world.parent, world.student_user)
    )


def test_an_mp4_already_faststart_keeps_its_bytes(
    world, api, samples, local_storage, django_capture_on_commit_callbacks
):
    listed = uploaded(world, api, samples.mp4_faststart, django_capture_on_commit_callbacks)
    assert body_of(Client().get(listed["file_url"])) == samples.mp4_faststart
    assert listed["poster_url"] is not None


def test_audio_gets_no_poster_and_stays_as_it_is(
    world, api, samples, local_storage, django_capture_on_commit_callbacks
):
    listed = uploaded(world, api, samples.wav, django_capture_on_commit_callbacks, "a.wav", "audio/wav")
    assert listed["status"] == "ready" and listed["poster_url"] is None
    assert body_of(Client().get(listed["file_url"])) == samples.wav


def test_a_poster_link_opens_no_file_and_a_file_link_no_poster(
    world, api, samples, local_storage, django_capture_on_commit_callbacks
):
    listed = uploaded(world, api, samples.mp4, django_capture_on_commit_callbacks)
    poster_query = listed["poster_url"].split("?", 1)[1]
    file_query = listed["file_url"].split("?", 1)[1]
    recording_id = listed["id"]
    assert Client().get(f"/api/recordings/{recording_id}/file?{poster_query}").status_code == 403
    assert Client().get(f"/api/recordings/{recording_id}/poster?{file_query}").status_code == 403


def test_a_corrupt_file_stays_as_uploaded_and_playable(world, local_storage, caplog):
    # an MP4's media data followed by an index that is garbage: nothing can be remuxed from it
    content = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x01\x00mdat" + b"\x11" * 248
    content += b"\x00\x00\x00\x40moov" + b"\xff" * 56
    name = default_storage.save(f"recordings/{world.booking.id}/corrupt.mp4", ContentFile(content))
    recording = SessionRecording.objects.create(
        session=world.booking,
        uploaded_by=world.tutor,
        file=name,
        file_size_bytes=len(content),
        content_type="video/mp4",
        status=RecordingStatus.PROCESSING,
        verified_at=timezone.now(),
    )
    assert not moov_before_mdat(default_storage.path(name))
    with caplog.at_level("ERROR"):
        outcome = recording_process(recording_id=recording.id)
    assert (outcome.status, outcome.poster, outcome.faststart) == ("ready", False, False)
    recording.refresh_from_db()
    assert recording.status == "ready" and recording.file.name == name and recording.poster == ""
    with default_storage.open(name) as fh:
        assert hashlib.sha256(fh.read()).digest() == hashlib.sha256(content).digest()
    assert "faststart remux failed; the file stays as uploaded" in caplog.text


def test_without_consent_the_family_hears_of_no_ready_recording(world, samples, local_storage):
    # given consent withdrawn after the upload, before the worker got to it
    name = default_storage.save(f"recordings/{world.booking.id}/lesson.mp4", ContentFile(samples.mp4))
    recording = SessionRecording.objects.create(
        session=world.booking,
        uploaded_by=world.tutor,
        file=name,
        file_size_bytes=len(samples.mp4),
        content_type="video/mp4",
        status=RecordingStatus.PROCESSING,
        verified_at=timezone.now(),
    )
    world.child.recording_consent = False
    world.child.save(update_fields=["recording_consent"])
    # when
    assert recording_process(recording_id=recording.id).status == "ready"
    # then the recording is for staff only, and nobody in the family is told of it
    assert not Notification.objects.filter(kind="recording_ready").exists()


def test_a_task_delivered_again_does_nothing(world, api, samples, local_storage, django_capture_on_commit_callbacks):
    listed = uploaded(world, api, samples.mp4, django_capture_on_commit_callbacks)
    recording = SessionRecording.objects.get(pk=listed["id"])
    assert recording_process(recording_id=recording.id).status == "skipped"
    assert SessionRecording.objects.get(pk=recording.id).file.name == recording.file.name
    assert Notification.objects.filter(kind="recording_ready").count() == 2


pytestmark = pytest.mark.django_db
