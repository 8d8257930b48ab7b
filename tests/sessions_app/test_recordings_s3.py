"""Recordings on S3: the same endpoints through django-storages' S3Storage and boto3, against a
real S3-compatible HTTP endpoint (moto's server, started by the test session). Playback and
the multipart parts travel over plain HTTP, as a browser's would."""

from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client, TestCase
from django.utils import timezone
from storages.backends.s3 import S3Storage

from sessions_app.models import RecordingStatus, SessionRecording
from sessions_app.recordings import playback
from sessions_app.recordings.maintenance import recording_orphans_clean
from tests.sessions_app.conftest import KEY, upload, upload_processed, url
from tests.sessions_app.test_recordings import stored_row

pytestmark = pytest.mark.usefixtures("s3_storage")


def start(client, booking, size: int, content_type="video/x-matroska", filename="lesson.mkv"):
    return client.post(
        f"{url(booking)}/uploads", {"filename": filename, "content_type": content_type, "size": size}, format="json"
    )


def put_parts(start_body: dict, content: bytes) -> list[dict]:
    """PUT each part to its presigned URL with plain HTTP; returns what the client sends back."""
    size = start_body["part_size"]
    parts = []
    for part in start_body["parts"]:
        n = part["part_number"]
        response = requests.put(part["url"], data=content[(n - 1) * size : n * size], timeout=30)
        assert response.status_code == 200, response.text
        parts.append({"part_number": n, "etag": response.headers["ETag"]})
    return parts


def complete(client, booking, upload_id, parts):
    return client.post(f"{url(booking)}/uploads/{upload_id}/complete", {"parts": parts}, format="json")


@pytest.fixture
def small_parts(settings):
    settings.RECORDING_MULTIPART_PART_BYTES = 5 * 1024 * 1024  # S3's minimum: the 5.8 MB sample is 2 parts


def test_the_storage_is_production_s3_without_overwrites(s3_storage):
    assert isinstance(default_storage, S3Storage)
    assert default_storage.file_overwrite is False
    assert default_storage.bucket_name == s3_storage.bucket
    assert default_storage.querystring_auth is True


# --- Direct upload, playback, delete ----------------------------------------------------------


def test_direct_upload_lands_in_the_bucket_and_plays_from_a_presigned_url(world, api, samples, s3_storage, settings):
    response = upload_processed(api(world.tutor), world.booking, samples.mp4)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["content_type"] == "video/mp4" and body["duration_seconds"] == 2
    recording = SessionRecording.objects.get()
    assert sorted(s3_storage.keys()) == sorted([recording.storage_key, recording.poster])
    assert KEY.match(recording.storage_key) and KEY.match(recording.poster)
    # processed in the bucket: the faststart copy replaced the upload
    stored = s3_storage.body(recording.storage_key)
    assert stored.index(b"moov") < stored.index(b"mdat") and samples.mp4.index(b"mdat") < samples.mp4.index(b"moov")

    listed = api(world.parent).get(url(world.booking)).json()
    file_url = listed[0]["file_url"]
    query = parse_qs(urlsplit(file_url).query)
    assert file_url.startswith(f"{s3_storage.endpoint}/{s3_storage.bucket}/{recording.storage_key}?")
    assert query["X-Amz-Expires"] == [str(settings.RECORDING_URL_TTL_SECONDS)]
    assert "X-Amz-Signature" in query and query["response-content-type"] == ["video/mp4"]

    played = requests.get(file_url, timeout=10)
    assert played.status_code == 200 and played.content == stored
    ranged = requests.get(file_url, headers={"Range": "bytes=0-99"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == stored[:100]
    poster = requests.get(listed[0]["poster_url"], timeout=10)
    assert poster.status_code == 200 and poster.headers["Content-Type"] == "image/jpeg"
    assert poster.content[:2] == b"\xff\xd8"  # a JPEG's start-of-image marker


def test_refused_upload_stores_nothing_in_the_bucket(world, api, samples, s3_storage):
    response = upload(api(world.tutor), world.booking, samples.script)
    assert response.status_code == 400
    assert s3_storage.keys() == [] and SessionRecording.objects.count() == 0


def test_a_local_link_minted_before_the_switch_to_s3_hands_over_to_s3(world, api, s3_storage, monkeypatch):
    recording = stored_row(world, poster=f"recordings/{world.booking.id}/{uuid.uuid4()}.jpg")
    s3_storage.client.put_object(Bucket=s3_storage.bucket, Key=recording.poster, Body=b"\xff\xd8jpeg")
    with monkeypatch.context() as local:
        local.setattr(playback, "storage_is_s3", lambda storage: False)
        listed = api(world.parent).get(url(world.booking)).json()[0]
    for link, key, body in (
        (listed["file_url"], recording.storage_key, b"x" * 1000),
        (listed["poster_url"], recording.poster, b"\xff\xd8jpeg"),
    ):
        assert link.startswith("http://testserver/api/recordings/"), link
        response = Client().get(link)
        assert response.status_code == 302
        assert response["Location"].startswith(f"{s3_storage.endpoint}/{s3_storage.bucket}/{key}?")
        assert requests.get(response["Location"], timeout=10).content == body


def test_delete_removes_the_object_and_the_link_stops_working(
    world, api, samples, s3_storage, django_capture_on_commit_callbacks
):
    assert upload_processed(api(world.tutor), world.booking, samples.mp4).status_code == 201
    [created] = api(world.tutor).get(url(world.booking)).json()
    assert len(s3_storage.keys()) == 2  # the recording and its poster
    with django_capture_on_commit_callbacks(execute=True):
        assert api(world.tutor).delete(f"/api/recordings/{created['id']}").status_code == 204
    assert s3_storage.keys() == []
    gone = requests.get(created["file_url"], timeout=10)
    # S3 answers 403 rather than 404 for a missing key to a caller without s3:ListBucket
    assert gone.status_code in (403, 404) and gone.content != samples.mp4


# --- Direct-to-S3 multipart -------------------------------------------------------------------


@pytest.mark.usefixtures("small_parts")
def test_multipart_upload_end_to_end(world, api, samples, s3_storage):
    client = api(world.tutor)
    started = start(client, world.booking, len(samples.big_mkv))
    assert started.status_code == 201, started.content
    body = started.json()
    assert body["part_size"] == 5 * 1024 * 1024 and [p["part_number"] for p in body["parts"]] == [1, 2]
    assert body["recording"]["status"] == "uploading" and body["recording"]["file_url"] is None
    assert len(s3_storage.open_uploads()) == 1

    parts = put_parts(body, samples.big_mkv)
    with TestCase.captureOnCommitCallbacks(execute=True):
        done = complete(client, world.booking, body["upload_id"], parts)
    assert done.status_code == 201, done.content
    assert done.json()["status"] == "processing"  # verified; then the worker's part
    [recording] = client.get(url(world.booking)).json()
    assert recording["id"] == body["upload_id"]
    assert recording["status"] == "ready"
    assert recording["content_type"] == "video/x-matroska"
    assert recording["duration_seconds"] == 2
    assert recording["file_size_bytes"] == len(samples.big_mkv)
    row = SessionRecording.objects.get()
    key = row.storage_key
    assert KEY.match(key)["ext"] == "mkv"
    assert sorted(s3_storage.keys()) == sorted([key, row.poster]) and s3_storage.open_uploads() == []
    assert requests.get(recording["file_url"], timeout=30).content == samples.big_mkv

    # a retry of the completion returns the recording and changes nothing
    again = complete(client, world.booking, body["upload_id"], parts)
    assert again.status_code == 200 and again.json()["id"] == recording["id"]


@pytest.mark.usefixtures("small_parts")
def test_a_wrong_parts_list_is_a_400_and_can_be_fixed(world, api, samples, s3_storage):
    client = api(world.tutor)
    body = start(client, world.booking, len(samples.big_mkv)).json()
    parts = put_parts(body, samples.big_mkv)

    wrong_etag = [parts[0], {**parts[1], "etag": '"0123456789abcdef0123456789abcdef"'}]
    response = complete(client, world.booking, body["upload_id"], wrong_etag)
    assert response.status_code == 400 and "ETag" in response.json()["parts"][0]
    response = complete(client, world.booking, body["upload_id"], parts[:1])
    assert response.status_code == 400 and "parts 1 to 2" in response.json()["parts"][0]
    assert SessionRecording.objects.get().status == RecordingStatus.UPLOADING
    assert len(s3_storage.open_uploads()) == 1

    assert complete(client, world.booking, body["upload_id"], parts).status_code == 201


@pytest.mark.usefixtures("small_parts")
def test_a_part_of_the_wrong_size_is_refused(world, api, samples, s3_storage):
    client = api(world.tutor)
    body = start(client, world.booking, len(samples.big_mkv)).json()
    parts = put_parts(body, samples.big_mkv[:-10])  # the last part is 10 bytes short
    response = complete(client, world.booking, body["upload_id"], parts)
    assert response.status_code == 400
    assert "Part 2 is" in response.json()["parts"][0]


@pytest.mark.usefixtures("small_parts")
def test_multipart_content_that_is_not_media_is_removed(world, api, s3_storage):
    client = api(world.tutor)
    junk = bytes(range(256)) * (6 * 1024 * 1024 // 256)
    body = start(client, world.booking, len(junk)).json()
    response = complete(client, world.booking, body["upload_id"], put_parts(body, junk))
    assert response.status_code == 400
    assert "not a playable" in response.json()["file"][0]
    assert s3_storage.keys() == [] and SessionRecording.objects.count() == 0


@pytest.mark.usefixtures("small_parts")
def test_multipart_content_of_another_kind_than_announced_is_removed(world, api, samples, s3_storage):
    client = api(world.tutor)
    body = start(client, world.booking, len(samples.big_mkv), content_type="audio/mpeg", filename="a.mp3").json()
    response = complete(client, world.booking, body["upload_id"], put_parts(body, samples.big_mkv))
    assert response.status_code == 400
    assert "not the announced audio/mpeg" in response.json()["file"][0]
    assert s3_storage.keys() == [] and SessionRecording.objects.count() == 0


def test_abort_drops_the_parts_and_the_row(world, api, s3_storage, django_capture_on_commit_callbacks):
    client = api(world.tutor)
    body = start(client, world.booking, 6 * 1024 * 1024).json()
    assert len(s3_storage.open_uploads()) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"{url(world.booking)}/uploads/{body['upload_id']}")
    assert response.status_code == 204
    assert s3_storage.open_uploads() == [] and SessionRecording.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"filename": "a.mkv", "content_type": "video/x-matroska", "size": 3 * 1024**3}, 413, "detail"),
        ({"filename": "a.png", "content_type": "image/png", "size": 100}, 400, "content_type"),
        ({"filename": "../a.mkv", "content_type": "video/x-matroska", "size": 100}, 400, "filename"),
        ({"filename": "a.mkv", "content_type": "video/x-matroska", "size": 0}, 400, "size"),
        ({"filename": "a.mkv", "content_type": "video/x-matroska"}, 400, "size"),
    ],
)
def test_multipart_start_validates_its_input(world, api, s3_storage, body, status, field):
    response = api(world.tutor).post(f"{url(world.booking)}/uploads", body, format="json")
    assert response.status_code == status
    assert field in response.json()
    assert s3_storage.open_uploads() == [] and SessionRecording.objects.count() == 0


@pytest.mark.parametrize(("role", "status"), [("parent", 403), ("student_user", 403), ("other_tutor", 403)])
def test_only_the_starter_completes_or_aborts(world, api, s3_storage, role, status):
    body = start(api(world.tutor), world.booking, 6 * 1024 * 1024).json()
    client = api(world.user(role))
    assert complete(client, world.booking, body["upload_id"], [{"part_number": 1, "etag": "x"}]).status_code == status
    assert client.delete(f"{url(world.booking)}/uploads/{body['upload_id']}").status_code == status
    assert SessionRecording.objects.get().status == RecordingStatus.UPLOADING


def test_an_upload_is_not_reachable_through_another_session(world, api, s3_storage):
    body = start(api(world.tutor), world.booking, 6 * 1024 * 1024).json()
    other = api(world.other_tutor)
    response = other.delete(f"{url(world.other_booking)}/uploads/{body['upload_id']}")
    assert response.status_code == 404


# --- Cleanup on S3 ----------------------------------------------------------------------------


def test_cleanup_on_s3_removes_orphan_objects_and_abandoned_uploads(
    world, api, samples, s3_storage, settings, django_capture_on_commit_callbacks
):
    kept = upload(api(world.tutor), world.booking, samples.mp4).json()
    orphan_key = f"recordings/{world.booking.id}/{uuid.uuid4()}.mp4"
    s3_storage.client.put_object(Bucket=s3_storage.bucket, Key=orphan_key, Body=b"orphan")
    unknown_upload = s3_storage.client.create_multipart_upload(
        Bucket=s3_storage.bucket, Key=f"recordings/x/{uuid.uuid4()}"
    )
    abandoned = start(api(world.tutor), world.booking, 6 * 1024 * 1024).json()
    SessionRecording.objects.filter(pk=abandoned["upload_id"]).update(
        created_at=timezone.now() - timedelta(seconds=settings.RECORDING_UPLOAD_TTL_SECONDS) - timedelta(hours=2)
    )
    assert len(s3_storage.open_uploads()) == 2

    # Everything just written is younger than the grace period: seen from two hours later.
    later = timezone.now() + timedelta(hours=2)
    dry = recording_orphans_clean(dry_run=True, now=later)
    assert dry.bytes_without_rows == [orphan_key] and dry.uploads_without_rows == [unknown_upload["Key"]]
    assert len(dry.stale_rows) == 1 and dry.rows_without_bytes == []
    assert len(s3_storage.keys()) == 2

    with django_capture_on_commit_callbacks(execute=True):  # the command runs outside a transaction
        report = recording_orphans_clean(now=later)
    assert report.found == 3 and report.failed == []
    assert s3_storage.keys() == [SessionRecording.objects.get(pk=kept["id"]).storage_key]
    assert s3_storage.open_uploads() == []
    assert list(SessionRecording.objects.values_list("id", flat=True)) == [uuid.UUID(kept["id"])]


def test_cleanup_command_reports_s3(world, s3_storage):
    out = io.StringIO()
    call_command("cleanup_recordings", "--dry-run", stdout=out)
    assert re.search(r"Dry run: 0 orphan\(s\) found on S3\.", out.getvalue())
