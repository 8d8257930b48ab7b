"""Recordings on local storage: who may list, upload and delete; every bad input; the signed
playback view (Range, tampering, expiry, deletion); query counts; the maintenance commands."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import time
import uuid
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.handlers.asgi import ASGIRequest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from sessions_app.models import RecordingStatus, SessionRecording
from sessions_app.recordings.playback import playback_url, recording_file
from tests.conftest import ROLES, VIEW_ACCESS
from tests.sessions_app.conftest import KEY, multipart, post_parts, upload, url

pytestmark = pytest.mark.usefixtures("local_storage")

UPLOADERS = {role: 403 for role in ROLES} | {"anonymous": 401, "admin": 201, "tutor": 201}
READERS = VIEW_ACCESS
DELETERS = {role: 403 for role in ROLES} | {"anonymous": 401, "admin": 204, "tutor": 204}


def fetch(client: Client, file_url: str, **headers):
    parts = urlsplit(file_url)
    return client.get(f"{parts.path}?{parts.query}", headers=headers)


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def stored_row(world, *, uploaded_by=None, content: bytes = b"x" * 1000, age=timedelta(0), **fields):
    """A ready recording with bytes in storage, made directly (for list/delete/command tests)."""
    name = default_storage.save(f"recordings/{world.booking.id}/{uuid.uuid4()}.mp4", ContentFile(content))
    return SessionRecording.objects.create(
        session=fields.pop("session", world.booking),
        uploaded_by=uploaded_by or world.tutor,
        file=name,
        filename="lesson.mp4",
        file_size_bytes=len(content),
        duration_seconds=2,
        content_type="video/mp4",
        status=fields.pop("status", RecordingStatus.READY),
        created_at=timezone.now() - age,
        **fields,
    )


def assert_nothing_kept(local_storage):
    assert SessionRecording.objects.count() == 0
    assert local_storage.stored() == []
    assert local_storage.temp_files() == []


# --- Roles ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_upload_follows_the_role_table(world, api, samples, local_storage, role):
    response = upload(api(world.user(role)), world.booking, samples.mp4)
    assert response.status_code == UPLOADERS[role], response.content
    if UPLOADERS[role] == 201:
        assert SessionRecording.objects.get().uploaded_by == world.user(role)
        assert len(local_storage.stored()) == 1
    else:
        assert_nothing_kept(local_storage)
    assert local_storage.temp_files() == []


@pytest.mark.parametrize("role", ROLES)
def test_list_follows_the_role_table(world, api, samples, role):
    recording = stored_row(world)
    response = api(world.user(role)).get(url(world.booking))
    assert response.status_code == READERS[role]
    if READERS[role] == 200:
        assert [r["id"] for r in response.json()] == [str(recording.id)]


@pytest.mark.parametrize("session_id", [uuid.uuid4(), "nope", "1;DROP TABLE x"])
def test_unknown_session_is_404(world, api, samples, session_id):
    client = api(world.tutor)
    assert client.get(f"/api/sessions/{session_id}/recordings").status_code == 404
    body, content_type = multipart([("file", "a.mp4", samples.mp4, "video/mp4")])
    response = client.generic("POST", f"/api/sessions/{session_id}/recordings", body, content_type=content_type)
    assert response.status_code == 404


def test_other_sessions_recordings_are_not_listed(world, api):
    stored_row(world, session=world.other_booking, uploaded_by=world.other_tutor)
    mine = stored_row(world)
    assert [r["id"] for r in api(world.parent).get(url(world.booking)).json()] == [str(mine.id)]


# --- A good upload ----------------------------------------------------------------------------


def test_upload_is_measured_stored_under_a_generated_key_and_listed(world, api, samples, local_storage):
    response = upload(api(world.tutor), world.booking, samples.mp4, name="Week 3 – fractions.mp4")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id",
        "session_id",
        "uploaded_by",
        "filename",
        "file_url",
        "poster_url",
        "file_size_bytes",
        "duration_seconds",
        "content_type",
        "status",
        "created_at",
        "can",
    }
    assert body["can"] == {"delete": True}  # its uploader
    assert body["session_id"] == str(world.booking.id)
    assert body["uploaded_by"] == str(world.tutor.id)
    assert body["filename"] == "Week 3 – fractions.mp4"
    assert body["file_size_bytes"] == len(samples.mp4)
    assert body["duration_seconds"] == 2
    assert body["content_type"] == "video/mp4"
    # verified, measured and stored; a worker has yet to make its poster and faststart copy
    assert body["status"] == "processing" and body["file_url"] is None
    assert body["created_at"].endswith("Z")

    recording = SessionRecording.objects.get()
    key = KEY.match(recording.storage_key)
    assert key and key["session"] == str(world.booking.id) and key["ext"] == "mp4"
    assert "fractions" not in recording.storage_key
    (stored,) = local_storage.stored()
    assert stored.read_bytes() == samples.mp4
    assert recording.checksum_sha256 == hashlib.sha256(samples.mp4).hexdigest()
    assert local_storage.temp_files() == []

    listed = api(world.student_user).get(url(world.booking)).json()
    assert [(r["id"], r["status"], r["file_url"]) for r in listed] == [(body["id"], "processing", None)]


@pytest.mark.parametrize(
    ("sample", "client_name", "client_type", "content_type", "ext"),
    [
        ("mp4_faststart", "a.mp4", "video/mp4", "video/mp4", "mp4"),
        ("webm", "call.webm", "video/webm", "video/webm", "webm"),
        ("wav", "voice.wav", "audio/wav", "audio/wav", "wav"),
        ("mp3", "voice.mp3", "audio/mpeg", "audio/mpeg", "mp3"),
        # the client's name and type are not believed: the content decides
        ("wav", "lesson.mp4", "video/mp4", "audio/wav", "wav"),
        ("mp4", "notes.txt", "text/plain", "video/mp4", "mp4"),
    ],
)
def test_type_and_extension_come_from_the_content(
    world, api, samples, sample, client_name, client_type, content_type, ext
):
    response = upload(api(world.tutor), world.booking, getattr(samples, sample), client_name, client_type)
    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == content_type
    assert response.json()["duration_seconds"] == 2
    assert KEY.match(SessionRecording.objects.get().storage_key)["ext"] == ext


def test_display_name_drops_invisible_formatting_characters(world, api, samples):
    # U+202E (right-to-left override) would make "lesson\u202e4pm.exe" read as "lessonexe.mp4"
    response = upload(api(world.tutor), world.booking, samples.mp4, name="lesson\u202e4pm.exe")
    assert response.status_code == 201
    assert response.json()["filename"] == "lesson4pm.exe"


def test_paths_work_with_and_without_trailing_slash(world, api, samples):
    client = api(world.tutor)
    body, content_type = multipart([("file", "a.mp4", samples.mp4, "video/mp4")])
    assert client.generic("POST", url(world.booking) + "/", body, content_type=content_type).status_code == 201
    assert client.get(url(world.booking) + "/").status_code == 200


# --- Bad input --------------------------------------------------------------------------------


def _bad_inputs(s):
    mp4 = s.mp4
    return {
        "no file field": ([("note", None, b"hello", None)], "No file was submitted."),
        "file part without a name": ([("file", "", mp4, "video/mp4")], "No file was submitted."),
        "empty file": ([("file", "empty.mp4", b"", "video/mp4")], "The submitted file is empty."),
        "script renamed .mp4": ([("file", "lesson.mp4", s.script, "video/mp4")], "not a playable audio or video"),
        "png": ([("file", "lesson.mp4", s.png, "video/mp4")], "not a playable audio or video"),
        "truncated mp4": ([("file", "lesson.mp4", mp4[: len(mp4) // 2], "video/mp4")], "not a playable"),
        "truncated faststart mp4": (
            [("file", "lesson.mp4", s.mp4_faststart[: len(s.mp4_faststart) * 2 // 3], "video/mp4")],
            "truncated",
        ),
        "traversal": ([("file", "../../etc/passwd.mp4", mp4, "video/mp4")], "may not contain a path"),
        "absolute path": ([("file", "/etc/passwd.mp4", mp4, "video/mp4")], "may not contain a path"),
        "windows path": ([("file", "C:\\Users\\t\\lesson.mp4", mp4, "video/mp4")], "may not contain a path"),
        "NUL byte": ([("file", "lesson\x00.mp4", mp4, "video/mp4")], "control characters"),
        "300-character name": ([("file", "a" * 296 + ".mp4", mp4, "video/mp4")], "too long"),
        "two files": ([("file", "a.mp4", mp4, "video/mp4")] * 2, "exactly one file"),
        "101 files": ([("file", f"{i}.mp4", b"0123", "video/mp4") for i in range(101)], "exactly one file"),
        "wrong field": ([("video", "a.mp4", mp4, "video/mp4")], "multipart field `file`"),
    }


BAD_INPUTS = list(_bad_inputs(SimpleNamespace(mp4=b"", mp4_faststart=b"", script=b"", png=b"")))


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_a_400_that_keeps_nothing(world, api, samples, local_storage, case):
    parts, message = _bad_inputs(samples)[case]
    response = post_parts(api(world.tutor), world.booking, parts)
    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()["file"])
    assert_nothing_kept(local_storage)


def test_json_instead_of_multipart_is_415(world, api, local_storage):
    response = api(world.tutor).post(url(world.booking), {"file": "x"}, format="json")
    assert response.status_code == 415
    assert_nothing_kept(local_storage)


def test_over_the_limit_by_content_length_is_413(world, api, samples, settings, local_storage):
    settings.RECORDING_MAX_BYTES = 10_000  # the request (a 192 KB WAV) is far over it
    response = upload(api(world.tutor), world.booking, samples.wav, "long.wav", "audio/wav")
    assert response.status_code == 413
    assert "10000 bytes" in response.json()["detail"]
    assert_nothing_kept(local_storage)


def test_over_the_limit_while_streaming_is_413(world, api, samples, settings, local_storage):
    # Within the multipart allowance, so only the upload handler can tell: it stops at the limit.
    settings.RECORDING_MAX_BYTES = len(samples.mp4) - 1
    response = upload(api(world.tutor), world.booking, samples.mp4)
    assert response.status_code == 413
    assert_nothing_kept(local_storage)


def test_exactly_at_the_limit_is_accepted(world, api, samples, settings):
    settings.RECORDING_MAX_BYTES = len(samples.mp4)
    assert upload(api(world.tutor), world.booking, samples.mp4).status_code == 201


class UnreadableBody(io.RawIOBase):
    def readable(self):
        return True

    def readinto(self, buffer):
        raise AssertionError("the body was read")


def test_oversized_request_is_refused_before_its_body_is_read(world, api, settings, local_storage):
    settings.RECORDING_MAX_BYTES = 1024 * 1024
    response = api(world.tutor).generic(
        "POST",
        url(world.booking),
        b"",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(5 * 1024**3),
        **{"wsgi.input": UnreadableBody()},
    )
    assert response.status_code == 413
    assert_nothing_kept(local_storage)


def test_missing_content_length_is_411(world, api, local_storage):
    response = api(world.tutor).generic(
        "POST", url(world.booking), b"", content_type="multipart/form-data; boundary=x", CONTENT_LENGTH=""
    )
    assert response.status_code == 411


def test_a_failed_row_insert_removes_the_stored_file(world, api, samples, local_storage, monkeypatch):
    def broken_create(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(SessionRecording.objects, "create", broken_create)
    client = api(world.tutor)
    client.raise_request_exception = False
    assert upload(client, world.booking, samples.mp4).status_code == 500
    assert_nothing_kept(local_storage)


# --- Playback ---------------------------------------------------------------------------------


@pytest.fixture
def uploaded(world, api, samples, django_capture_on_commit_callbacks):
    """A processed upload, as the list shows it. Its MP4 has its index first already, so the
    processing keeps its bytes as they were sent."""
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(api(world.tutor), world.booking, samples.mp4_faststart)
    assert response.status_code == 201
    [listed] = api(world.tutor).get(url(world.booking)).json()
    assert listed["status"] == "ready"
    return listed


def test_signed_url_returns_the_exact_bytes_without_login(uploaded, samples):
    response = fetch(Client(), uploaded["file_url"])
    assert response.status_code == 200
    assert body_of(response) == samples.mp4_faststart
    assert response["Content-Type"] == "video/mp4"
    assert response["Content-Length"] == str(len(samples.mp4_faststart))
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Disposition"].startswith("inline")


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-100", -100, None), ("bytes=50-10000000", 50, None)],
)
def test_range_requests_get_206_with_the_right_slice(uploaded, samples, header, first, last):
    response = fetch(Client(), uploaded["file_url"], Range=header)
    assert response.status_code == 206
    expected = samples.mp4_faststart[first : None if last is None else last + 1]
    got = body_of(response)
    assert got == expected
    assert response["Content-Length"] == str(len(expected))
    start = first if first >= 0 else len(samples.mp4_faststart) + first
    assert response["Content-Range"] == f"bytes {start}-{start + len(expected) - 1}/{len(samples.mp4_faststart)}"


def test_first_hundred_bytes(uploaded, samples):
    response = fetch(Client(), uploaded["file_url"], Range="bytes=0-99")
    assert response.status_code == 206
    assert body_of(response) == samples.mp4_faststart[:100] and len(samples.mp4_faststart[:100]) == 100


def test_unsatisfiable_range_is_416(uploaded, samples):
    response = fetch(Client(), uploaded["file_url"], Range=f"bytes={len(samples.mp4_faststart)}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(samples.mp4_faststart)}"


def test_head_describes_without_a_body(uploaded, samples):
    parts = urlsplit(uploaded["file_url"])
    response = Client().head(f"{parts.path}?{parts.query}")
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(samples.mp4_faststart))


def test_playback_under_asgi_streams_with_an_async_iterator(uploaded, samples):
    # Django drains a synchronous iterator into one list before sending it over ASGI (the whole
    # file in memory); under daphne the view must hand over an asynchronous one.
    parts = urlsplit(uploaded["file_url"])
    scope = {
        "type": "http",
        "method": "GET",
        "path": parts.path,
        "query_string": parts.query.encode(),
        "headers": [(b"host", b"testserver"), (b"range", b"bytes=0-99")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
    }
    response = recording_file(ASGIRequest(scope, io.BytesIO()), recording_id=uploaded["id"])
    assert response.status_code == 206 and response.is_async

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    assert asyncio.run(collect()) == samples.mp4_faststart[:100]


def _tamper(file_url: str, **changes) -> str:
    parts = urlsplit(file_url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    path = parts.path
    if "recording_id" in changes:
        path = re.sub(r"/recordings/[^/]+/", f"/recordings/{changes.pop('recording_id')}/", path)
    query.update(changes)
    return f"{path}?{urlencode(query)}"


def test_tampered_links_are_refused(world, uploaded, samples):
    other = stored_row(world)
    file_url = uploaded["file_url"]
    signature = parse_qs(urlsplit(file_url).query)["signature"][0]
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    expires = int(parse_qs(urlsplit(file_url).query)["expires"][0])
    for tampered in (
        _tamper(file_url, signature=flipped),
        _tamper(file_url, expires=str(expires + 3600)),
        _tamper(file_url, recording_id=other.id),
        _tamper(file_url, signature=""),
        urlsplit(file_url).path,  # no signature at all
    ):
        response = Client().get(tampered)
        assert response.status_code == 403, tampered
        assert response.json()["detail"] == "This link is not valid."


def test_expired_links_are_refused(world, uploaded, settings):
    recording = SessionRecording.objects.get(pk=uploaded["id"])
    expired = playback_url(recording, scope="p", now=time.time() - settings.RECORDING_URL_TTL_SECONDS - 1)
    response = Client().get(expired)
    assert response.status_code == 403
    assert response.json()["detail"] == "This link has expired."
    assert Client().get(playback_url(recording, scope="p")).status_code == 200


def test_a_poster_link_to_a_recording_without_its_poster_is_not_found(world, api, local_storage):
    poster = default_storage.save(f"recordings/{world.booking.id}/{uuid.uuid4()}.jpg", ContentFile(b"\xff\xd8jpeg"))
    recording = stored_row(world, poster=poster)
    poster_url = api(world.parent).get(url(world.booking)).json()[0]["poster_url"]
    assert Client().get(poster_url).status_code == 200
    SessionRecording.objects.filter(pk=recording.pk).update(poster="")
    response = Client().get(poster_url)
    assert response.status_code == 404
    assert response.json()["detail"] == "This recording has no poster."


def test_a_deleted_recordings_link_stops_working(
    world, api, uploaded, local_storage, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert api(world.tutor).delete(f"/api/recordings/{uploaded['id']}").status_code == 204
    assert fetch(Client(), uploaded["file_url"]).status_code == 404
    assert local_storage.stored() == []


def test_links_expire_after_the_configured_ttl(world, uploaded, settings):
    expires = int(parse_qs(urlsplit(uploaded["file_url"]).query)["expires"][0])
    assert 0 < expires - time.time() <= settings.RECORDING_URL_TTL_SECONDS


# --- Delete -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_delete_follows_the_role_table(world, api, local_storage, role, django_capture_on_commit_callbacks):
    recording = stored_row(world)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(world.user(role)).delete(f"/api/recordings/{recording.id}")
    assert response.status_code == DELETERS[role]
    deleted = DELETERS[role] == 204
    assert SessionRecording.objects.filter(pk=recording.pk).exists() is not deleted
    assert (local_storage.stored() == []) is deleted


def test_only_the_uploader_deletes_even_among_tutors_of_the_session(world, api):
    by_admin = stored_row(world, uploaded_by=world.admin)
    assert api(world.tutor).delete(f"/api/recordings/{by_admin.id}").status_code == 403


@pytest.mark.parametrize("recording_id", [uuid.uuid4(), "nope"])
def test_delete_unknown_recording_is_404(world, api, recording_id):
    assert api(world.admin).delete(f"/api/recordings/{recording_id}").status_code == 404


def test_a_rolled_back_delete_keeps_the_file(world, local_storage, django_capture_on_commit_callbacks):
    from django.db import transaction

    from sessions_app.recordings.services import recording_delete

    recording = stored_row(world)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            recording_delete(recording=recording, deleted_by=world.tutor)
            raise RuntimeError("rollback")
    assert callbacks == []  # the file removal was never scheduled
    assert SessionRecording.objects.filter(pk=recording.pk).exists()
    assert len(local_storage.stored()) == 1


# --- Direct-to-storage uploads on local disk --------------------------------------------------


def test_multipart_endpoints_answer_409_on_local_storage(world, api):
    client = api(world.tutor)
    start = client.post(
        f"{url(world.booking)}/uploads",
        {"filename": "a.mp4", "content_type": "video/mp4", "size": 10_000_000},
        format="json",
    )
    assert start.status_code == 409
    assert "local disk" in start.json()["detail"]
    assert SessionRecording.objects.count() == 0


@pytest.mark.parametrize(("role", "status"), [("parent", 403), ("other_tutor", 403), ("anonymous", 401)])
def test_multipart_start_needs_the_upload_right(world, api, role, status):
    response = api(world.user(role)).post(
        f"{url(world.booking)}/uploads", {"filename": "a.mp4", "content_type": "video/mp4", "size": 10}, format="json"
    )
    assert response.status_code == status


# --- The list ---------------------------------------------------------------------------------


def test_list_is_newest_first_and_pages_with_a_link_header(world, api):
    rows = [stored_row(world, age=timedelta(minutes=m)) for m in (30, 20, 10)]
    client = api(world.parent)
    first = client.get(url(world.booking), {"limit": 2})
    assert [r["id"] for r in first.json()] == [str(rows[2].id), str(rows[1].id)]
    next_url = re.search(r'<([^>]+)>; rel="next"', first["Link"]).group(1)
    second = client.get(next_url)
    assert [r["id"] for r in second.json()] == [str(rows[0].id)]


def test_unfinished_recordings_are_listed_without_a_url(world, api):
    stored_row(world, status=RecordingStatus.UPLOADING, multipart_upload_id="abc")
    (row,) = api(world.parent).get(url(world.booking)).json()
    assert row["status"] == "uploading" and row["file_url"] is None


@pytest.mark.parametrize("count", [1, 40])
def test_list_costs_the_same_number_of_queries_for_one_or_many(world, api, django_assert_num_queries, count):
    for _ in range(count):
        stored_row(world)
    client = api(world.parent)
    # the session and the user (JWT) in one query, one page of recordings, and one INSERT of the
    # audit events for the links it issued
    with django_assert_num_queries(3):
        response = client.get(url(world.booking))
    assert len(response.json()) == count


# --- Commands ---------------------------------------------------------------------------------


def test_purge_dry_run_counts_and_keeps_everything(world, local_storage):
    stored_row(world, age=timedelta(days=40))
    out = io.StringIO()
    call_command("purge_recordings", "--older-than", "30", "--dry-run", stdout=out, stderr=io.StringIO())
    assert "Dry run: 1 recording(s)" in out.getvalue()
    assert SessionRecording.objects.count() == 1 and len(local_storage.stored()) == 1


def test_purge_removes_old_recordings_and_their_files(world, local_storage, django_capture_on_commit_callbacks):
    old = [stored_row(world, age=timedelta(days=days)) for days in (31, 45)]
    recent = stored_row(world, age=timedelta(days=29))
    out, err = io.StringIO(), io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):  # the command runs outside a transaction
        call_command("purge_recordings", "--older-than", "30", stdout=out, stderr=err)
    assert "Purged 2 of 2 recording(s) older than 30 day(s)" in out.getvalue()
    assert "2/2" in err.getvalue()  # tqdm's progress bar
    assert list(SessionRecording.objects.all()) == [recent]
    assert [p.name for p in local_storage.stored()] == [os.path.basename(recent.storage_key)]
    assert all(not default_storage.exists(r.storage_key) for r in old)


@pytest.mark.parametrize("maintenance", ["purge", "cleanup"])
def test_a_rolled_back_purge_or_cleanup_keeps_the_file(
    world, local_storage, django_capture_on_commit_callbacks, maintenance
):
    # given a recording the purge would remove (old), or the cleanup (its processing failed)
    from django.db import transaction

    from sessions_app.recordings.maintenance import recording_orphans_clean, recordings_purge

    if maintenance == "purge":
        recording = stored_row(world, age=timedelta(days=400))
        run = lambda: recordings_purge(older_than=timedelta(days=365))  # noqa: E731
    else:
        recording = stored_row(world, status=RecordingStatus.FAILED, age=timedelta(hours=3))
        SessionRecording.objects.filter(pk=recording.pk).update(updated_at=timezone.now() - timedelta(hours=3))
        run = recording_orphans_clean
    # when it runs in a transaction that rolls back
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            run()
            raise RuntimeError("rollback")
    # then, as with a user's delete, the row is back and so are its bytes
    assert callbacks == []  # the file removal was never scheduled
    assert SessionRecording.objects.filter(pk=recording.pk).exists()
    assert len(local_storage.stored()) == 1


@pytest.mark.django_db(transaction=True)  # as the command runs: each removal commits at once
def test_purge_reports_the_files_storage_refused_to_remove(world, local_storage, monkeypatch):
    from k12.models import AuditAction, AuditEvent

    old = stored_row(world, age=timedelta(days=40))

    def refuse(name):
        raise OSError("storage unreachable")

    monkeypatch.setattr("sessions_app.recordings.services.recording_storage", lambda: SimpleNamespace(delete=refuse))
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 stored file"):
        call_command("purge_recordings", "--older-than", "30", stdout=io.StringIO(), stderr=err)
    assert f"could not remove stored file {old.storage_key}" in err.getvalue()
    assert not SessionRecording.objects.exists() and len(local_storage.stored()) == 1
    event = AuditEvent.objects.get(action=AuditAction.RETENTION_PURGE)
    assert event.data["deleted"] == 1 and event.data["bytes_not_removed"] == 1


def test_purge_needs_a_positive_age(db):
    with pytest.raises(CommandError):
        call_command("purge_recordings", "--older-than", "0", stdout=io.StringIO())


def _age_file(path, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def test_cleanup_removes_orphans_on_both_sides(world, local_storage, django_capture_on_commit_callbacks):
    kept = stored_row(world, age=timedelta(hours=3))
    _age_file(local_storage.media / kept.storage_key, 3)
    lost = stored_row(world, age=timedelta(hours=3))
    os.remove(local_storage.media / lost.storage_key)  # a row whose file is gone
    orphan = default_storage.save(f"recordings/{world.booking.id}/{uuid.uuid4()}.mp4", ContentFile(b"o" * 10))
    _age_file(local_storage.media / orphan, 2)  # bytes no row points at
    young = default_storage.save(f"recordings/{world.booking.id}/{uuid.uuid4()}.mp4", ContentFile(b"y" * 10))
    failed = stored_row(world, status=RecordingStatus.FAILED, age=timedelta(hours=3))
    SessionRecording.objects.filter(pk=failed.pk).update(updated_at=timezone.now() - timedelta(hours=3))

    dry = io.StringIO()
    call_command("cleanup_recordings", "--dry-run", stdout=dry)
    assert "Dry run: 3 orphan(s) found on local disk." in dry.getvalue()
    assert SessionRecording.objects.count() == 3

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):  # the command runs outside a transaction
        call_command("cleanup_recordings", "--verbosity", "2", stdout=out)
    assert "3 orphan(s) removed" in out.getvalue()
    assert lost.storage_key in out.getvalue() and orphan in out.getvalue()
    assert list(SessionRecording.objects.all()) == [kept]
    assert default_storage.exists(kept.storage_key)
    assert not default_storage.exists(orphan)
    assert not default_storage.exists(failed.storage_key)
    assert default_storage.exists(young)  # younger than the grace period: maybe an upload in flight


# --- Admin ------------------------------------------------------------------------------------


def test_admin_lists_searches_and_deletes_through_the_service(world, local_storage, django_capture_on_commit_callbacks):
    recording = stored_row(world)
    client = Client()
    client.force_login(world.admin)
    changelist = "/admin/sessions_app/sessionrecording/"
    assert client.get(changelist, {"q": str(world.booking.id), "status__exact": "ready"}).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{changelist}{recording.id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert SessionRecording.objects.count() == 0
    assert local_storage.stored() == []
