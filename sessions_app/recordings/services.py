"""Writes of session recordings. Every recording comes to exist, and stops existing, through
these functions: the REST views, the Django admin and the maintenance commands call them.

Invariants they keep together:
- a ``ready`` row points at bytes that were verified as audio/video and measured; its storage
  key is generated (``recordings/<session>/<uuid>.<ext>``);
- no row is left pointing at bytes that were never stored: bytes are stored before the row
  that names them is committed, and a row is deleted before (on commit) its bytes are;
- a refused upload stores nothing and leaves no row.
What a crash between two of those steps can still leave behind (bytes without a row, an
abandoned multipart upload) is found and removed by ``manage.py cleanup_recordings``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from k12 import permissions
from k12.audit import audit_record
from k12.errors import Conflict, Forbidden, RateLimited, field_error
from k12.models import AuditAction, Booking, User
from k12.throttling import configured_rate
from sessions_app.models import RecordingStatus, SessionRecording
from sessions_app.recordings.probe import MediaInfo, NotMedia, declared_type, media_probe
from sessions_app.recordings.storage import (
    S3RangeReader,
    new_storage_key,
    recording_storage,
    s3_target,
    storage_is_s3,
)
from sessions_app.recordings.uploads import display_filename, filename_problem, too_large

logger = logging.getLogger(__name__)

S3_MIN_PART_BYTES = 5 * 1024 * 1024
S3_MAX_PARTS = 10_000


# --- Direct upload ----------------------------------------------------------------------------


def _require_consent(booking: Booking) -> None:
    if permissions.recording_consent_missing(booking):
        raise Conflict(
            "The student's parent has not given consent to record their sessions; "
            "nothing can be uploaded until they do."
        )


def recording_upload_admit(*, booking: Booking, uploaded_by: User, declared_bytes: int | None) -> None:
    """The cheap checks of an upload, made before a byte of it is read: who uploads (403), the
    parent's consent (409), the size the client declared (413, when it declared one), and the
    uploader's quota (429). ``declared_bytes`` is the least the file can weigh given what the
    client declared."""
    if not permissions.can_upload_recording(uploaded_by, booking):
        raise Forbidden("Only the session's tutor can upload recordings.")
    _require_consent(booking)
    if declared_bytes is not None and declared_bytes > settings.RECORDING_MAX_BYTES:
        raise too_large(settings.RECORDING_MAX_BYTES)
    _require_upload_quota(uploaded_by)


def _require_upload_quota(user: User) -> None:
    """At most THROTTLE_UPLOADS recordings per uploader in a sliding window: the uploads that
    were accepted (their rows: stored, or started as a multipart upload), so refused requests
    (an unknown session, a junk file, no consent) spend none of it, and the limit protects
    storage. Uploads in flight together may each pass before any is stored: the proxy bounds
    them per user."""
    rate = configured_rate("recording_upload")  # the API's rates, one table
    if rate is None:
        return
    limit, period = rate
    now = timezone.now()
    recent = SessionRecording.objects.filter(uploaded_by=user, created_at__gt=now - timedelta(seconds=period))
    if recent.count() < limit:
        return
    oldest_counted = recent.order_by("-created_at").values_list("created_at", flat=True)[limit - 1]
    raise RateLimited(max(1, math.ceil((oldest_counted + timedelta(seconds=period) - now).total_seconds())))


def recording_upload(
    *,
    booking: Booking,
    uploaded_by: User,
    file: File,
    filename: str,
    checksum_sha256: str = "",
) -> SessionRecording:
    """Verify, measure and store an uploaded recording; returns it ``processing`` (a worker makes
    its poster and faststart copy, then it is ``ready``; at once when tasks run eagerly).

    - Only the session's tutor or an admin (checked here as well as in the view).
    - ``file`` is read through a file object in small pieces (a ``TemporaryUploadedFile`` from
      the upload handler in the API): the content must be audio/video (``media_probe``); its
      type, extension and duration come from it. Empty, oversized or non-media: a 400/413 and
      nothing is stored.
    - ``filename`` (the client's) is only kept, sanitised, for display.
    - The bytes are stored under a new generated key before the row is committed; if the row
      cannot be created the bytes are removed again.
    """
    if not permissions.can_upload_recording(uploaded_by, booking):
        raise Forbidden("Only the session's tutor can upload recordings.")
    _require_consent(booking)
    _require_upload_quota(uploaded_by)
    if problem := filename_problem(filename):
        raise field_error("file", problem)
    size = file.size
    if not size:
        raise field_error("file", "The submitted file is empty.")
    if size > settings.RECORDING_MAX_BYTES:
        raise too_large(settings.RECORDING_MAX_BYTES)
    try:
        info = media_probe(file)
    except NotMedia as exc:
        raise field_error("file", str(exc)) from None

    storage = recording_storage()
    file.seek(0)
    # On local disk a TemporaryUploadedFile is moved into place, not copied.
    name = storage.save(new_storage_key(booking.pk, info.extension), file)
    try:
        with transaction.atomic():
            recording = SessionRecording.objects.create(
                session=booking,
                uploaded_by=uploaded_by,
                file=name,
                filename=display_filename(filename),
                file_size_bytes=size,
                duration_seconds=info.duration_seconds,
                content_type=info.content_type,
                status=RecordingStatus.PROCESSING,
                verified_at=timezone.now(),
                checksum_sha256=checksum_sha256,
            )
            audit_record(
                action=AuditAction.RECORDING_UPLOADED,
                actor=uploaded_by,
                target=recording,
                session_id=booking.pk,
                data={"bytes": size, "content_type": info.content_type},
            )
            _process_on_commit(recording)
    except BaseException:
        recording_bytes_discard(name, "")
        raise
    recording.refresh_from_db()  # processed already when tasks run eagerly
    return recording


def _process_on_commit(recording: SessionRecording) -> None:
    """The verified recording goes to a worker for its poster and faststart copy
    (sessions_app/recordings/processing.py); it stays ``processing``, then becomes ``ready``."""
    from sessions_app.recordings.processing import recording_process_enqueue

    transaction.on_commit(lambda: recording_process_enqueue(recording.pk))


# --- Direct-to-S3 multipart upload ------------------------------------------------------------


@dataclass(frozen=True)
class PartUrl:
    part_number: int
    url: str


@dataclass(frozen=True)
class MultipartUpload:
    recording: SessionRecording
    part_size: int
    parts: list[PartUrl]
    expires_at: datetime


def multipart_part_size(size: int) -> int:
    """The configured part size (S3's 5 MiB minimum), grown so that no upload needs more than
    S3's 10,000 parts."""
    configured = max(S3_MIN_PART_BYTES, settings.RECORDING_MULTIPART_PART_BYTES)
    return max(configured, math.ceil(size / S3_MAX_PARTS))


def recording_upload_start(
    *, booking: Booking, uploaded_by: User, filename: str, content_type: str, size: int
) -> MultipartUpload:
    """Start a direct-to-S3 multipart upload of ``size`` bytes and presign its part URLs.

    Creates the row as ``uploading`` (it holds the generated key and S3's upload id; there are
    no bytes yet, and its ``file_url`` stays empty). ``content_type`` must be an accepted
    audio/video type; it picks the key's extension, and on completion the content must prove
    to be of that kind. 409 on local storage, 413 over ``RECORDING_MAX_BYTES``.
    """
    if not permissions.can_upload_recording(uploaded_by, booking):
        raise Forbidden("Only the session's tutor can upload recordings.")
    _require_consent(booking)
    if problem := filename_problem(filename):
        raise field_error("filename", problem)
    declared = declared_type(content_type)
    if declared is None:
        raise field_error("content_type", f"Not an accepted audio or video type: {content_type!r}.")
    mime, _family, extension = declared
    if size < 1:
        raise field_error("size", "The recording must not be empty.")
    if size > settings.RECORDING_MAX_BYTES:
        raise too_large(settings.RECORDING_MAX_BYTES)
    _require_upload_quota(uploaded_by)

    key = new_storage_key(booking.pk, extension)
    target = s3_target(key)  # 409 unless S3
    upload_id = target.client.create_multipart_upload(Bucket=target.bucket, Key=target.key, ContentType=mime)[
        "UploadId"
    ]
    try:
        recording = SessionRecording.objects.create(
            session=booking,
            uploaded_by=uploaded_by,
            file=key,
            filename=display_filename(filename),
            file_size_bytes=size,
            content_type=mime,
            status=RecordingStatus.UPLOADING,
            multipart_upload_id=upload_id,
        )
    except BaseException:
        recording_multipart_abort(key, upload_id)
        raise
    part_size = multipart_part_size(size)
    ttl = settings.RECORDING_UPLOAD_TTL_SECONDS
    parts = [
        PartUrl(
            number,
            target.client.generate_presigned_url(
                "upload_part",
                Params={"Bucket": target.bucket, "Key": target.key, "UploadId": upload_id, "PartNumber": number},
                ExpiresIn=ttl,
            ),
        )
        for number in range(1, math.ceil(size / part_size) + 1)
    ]
    return MultipartUpload(recording, part_size, parts, timezone.now() + timedelta(seconds=ttl))


def _set_status(recording: SessionRecording, status: str, **fields) -> None:
    fields = {"status": status, "updated_at": timezone.now(), **fields}
    SessionRecording.objects.filter(pk=recording.pk).update(**fields)
    for name, value in fields.items():
        setattr(recording, name, value)


def _s3_parts(target, upload_id: str) -> dict[int, tuple[str, int]]:
    paginator = target.client.get_paginator("list_parts")
    found = {}
    for page in paginator.paginate(Bucket=target.bucket, Key=target.key, UploadId=upload_id):
        for part in page.get("Parts", ()):
            found[int(part["PartNumber"])] = (part["ETag"].strip('"'), int(part["Size"]))
    return found


def _verify_parts(recording: SessionRecording, claimed: list[dict], stored: dict[int, tuple[str, int]]) -> list:
    """The client's list must be S3's: parts 1..n, each with S3's ETag, every part but the
    last exactly the part size, adding up to the announced size."""
    size = recording.file_size_bytes
    part_size = multipart_part_size(size)
    expected = math.ceil(size / part_size)
    numbers = [int(p["part_number"]) for p in claimed]
    if sorted(numbers) != list(range(1, expected + 1)):
        raise field_error("parts", f"Expected parts 1 to {expected}, each once, for {size} bytes.")
    completed = []
    for part in sorted(claimed, key=lambda p: int(p["part_number"])):
        number = int(part["part_number"])
        if number not in stored:
            raise field_error("parts", f"Part {number} has not been uploaded.")
        etag, part_bytes = stored[number]
        if str(part["etag"]).strip().strip('"') != etag:
            raise field_error("parts", f"Part {number}: the ETag does not match the uploaded part.")
        want = part_size if number < expected else size - part_size * (expected - 1)
        if part_bytes != want:
            raise field_error("parts", f"Part {number} is {part_bytes} bytes; expected {want}.")
        completed.append({"PartNumber": number, "ETag": f'"{etag}"'})
    return completed


def recording_upload_complete(
    *, recording: SessionRecording, completed_by: User, parts: list[dict]
) -> tuple[SessionRecording, bool]:
    """Finish a multipart upload: verify the parts and the size with S3, assemble the object,
    then probe it like a direct upload. Returns ``(recording, created)``.

    - Whoever started the upload (or an admin), while they may upload to the session.
    - A parts list that does not match S3 is a 400 and the upload stays open to be fixed.
    - Content that is not audio/video of the announced kind is a 400: the object and the row
      are removed.
    - A retry after success returns the recording with ``created=False``; a concurrent second
      completion is a 409.
    - Should storage or the probe fail unexpectedly, the object is removed and the row is left
      ``failed`` (not pointing at anything) before the error propagates.
    """
    if not permissions.can_manage_upload(completed_by, recording):
        raise Forbidden("Only whoever started this upload can complete it.")
    target = s3_target(recording.file.name)  # 409 unless S3
    with transaction.atomic():
        locked = SessionRecording.objects.select_for_update().get(pk=recording.pk)
        if locked.status == RecordingStatus.READY or locked.verified_at is not None:
            return locked, False  # completed before (and being, or done, processing)
        if locked.status != RecordingStatus.UPLOADING:
            raise Conflict(f"This upload is {locked.status}; it cannot be completed now.")
        _set_status(locked, RecordingStatus.PROCESSING)
    recording = locked

    try:
        stored_parts = _s3_parts(target, recording.multipart_upload_id)
        completed = _verify_parts(recording, parts, stored_parts)
        target.client.complete_multipart_upload(
            Bucket=target.bucket,
            Key=target.key,
            UploadId=recording.multipart_upload_id,
            MultipartUpload={"Parts": completed},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
            recording_remove(recording)
            raise Conflict("This upload no longer exists in storage (aborted or expired); start a new one.") from None
        _set_status(recording, RecordingStatus.UPLOADING)
        raise field_error(
            "parts", f"Storage refused the parts: {exc.response.get('Error', {}).get('Message')}"
        ) from None
    except BaseException:
        _set_status(recording, RecordingStatus.UPLOADING)  # the client may fix its list and retry
        raise

    try:
        reader = S3RangeReader(target)
        if reader.size != recording.file_size_bytes:
            raise NotMedia(f"Storage holds {reader.size} bytes, not the announced {recording.file_size_bytes}.")
        info: MediaInfo = media_probe(reader)
        declared = declared_type(recording.content_type)
        if declared is None or declared[1] != info.family:
            raise NotMedia(f"The content is {info.content_type}, not the announced {recording.content_type}.")
    except NotMedia as exc:
        recording_bytes_discard(recording.file.name, "")
        recording_remove(recording)
        raise field_error("file", str(exc)) from None
    except BaseException:
        logger.exception("processing of upload %s failed", recording.pk)
        recording_bytes_discard(recording.file.name, "")
        _set_status(recording, RecordingStatus.FAILED, multipart_upload_id="")
        raise
    with transaction.atomic():
        _set_status(
            recording,
            RecordingStatus.PROCESSING,
            content_type=info.content_type,
            duration_seconds=info.duration_seconds,
            multipart_upload_id="",
            verified_at=timezone.now(),
        )
        audit_record(
            action=AuditAction.RECORDING_UPLOADED,
            actor=completed_by,
            target=recording,
            session_id=recording.session_id,
            data={"bytes": recording.file_size_bytes, "content_type": info.content_type, "direct": True},
        )
        _process_on_commit(recording)
    recording.refresh_from_db()
    return recording, True


def recording_upload_abort(*, recording: SessionRecording, aborted_by: User) -> None:
    """Abort a multipart upload still in progress: S3 drops the parts, the row goes. 409 once it
    has been completed (delete the recording instead)."""
    if not permissions.can_manage_upload(aborted_by, recording):
        raise Forbidden("Only whoever started this upload can abort it.")
    s3_target(recording.file.name)  # 409 unless S3
    with transaction.atomic():
        locked = SessionRecording.objects.select_for_update().filter(pk=recording.pk).first()
        if locked is None:
            return
        if locked.status != RecordingStatus.UPLOADING:
            raise Conflict(f"This upload is {locked.status}; delete the recording instead.")
        recording_remove(locked)


# --- Deletion ---------------------------------------------------------------------------------


def recording_delete(*, recording: SessionRecording, deleted_by: User) -> None:
    """Delete a recording and its stored bytes: its uploader or an admin. The row goes first;
    the bytes (and an unfinished multipart upload) go once that is committed, so a rolled-back
    delete never leaves a row without bytes. Playback links stop working with the row."""
    if not permissions.can_delete_recording(deleted_by, recording):
        raise Forbidden("Only the recording's uploader or an admin can delete it.")
    if Booking.objects.filter(pk=recording.session_id, legal_hold=True).exists():
        raise Conflict("The session is under legal hold: its recordings are kept.")
    with transaction.atomic():
        if recording_remove(recording).row_deleted:
            audit_record(
                action=AuditAction.RECORDING_DELETED,
                actor=deleted_by,
                target=recording,
                session_id=recording.session_id,
                data={"storage_key": recording.file.name},
            )


@dataclass(frozen=True)
class RecordingRemoval:
    row_deleted: bool  # False: it was gone already
    # False when storage refused the file's bytes (logged; cleanup_recordings retries them), None
    # while their removal waits for the caller's transaction to commit.
    bytes_removed: bool | None


def recording_remove(recording: SessionRecording) -> RecordingRemoval:
    """The one way a recording's row and bytes go, whoever asks: a user's delete, an upload
    aborted or refused, retention, cleanup. No access check (the callers make theirs). The row
    goes first; its bytes (the file, the poster, an unfinished multipart upload) once that is
    committed, so a rolled-back removal never leaves a row without bytes."""
    name, upload_id, poster = recording.file.name, recording.multipart_upload_id, recording.poster
    removed: list[bool] = []

    def discard() -> None:
        if poster:
            recording_bytes_discard(poster, "")
        removed.append(recording_bytes_discard(name, upload_id))

    with transaction.atomic():
        deleted, _ = SessionRecording.objects.filter(pk=recording.pk).delete()
        if deleted:
            transaction.on_commit(discard)
    return RecordingRemoval(row_deleted=bool(deleted), bytes_removed=removed[0] if removed else None)


def recording_multipart_abort(name: str, upload_id: str) -> bool:
    target = s3_target(name)
    try:
        target.client.abort_multipart_upload(Bucket=target.bucket, Key=target.key, UploadId=upload_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
            raise
    return True


def recording_bytes_discard(name: str, upload_id: str) -> bool:
    """Remove stored bytes (and an unfinished multipart upload). Never raises: what it cannot
    remove now is logged and left to ``cleanup_recordings``."""
    try:
        if upload_id and storage_is_s3():
            recording_multipart_abort(name, upload_id)
        recording_storage().delete(name)
        return True
    except Exception:
        logger.exception("could not remove stored recording %s; cleanup_recordings will retry", name)
        return False
