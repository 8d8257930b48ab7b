"""Retention and cleanup of recordings: what ``manage.py purge_recordings`` and
``manage.py cleanup_recordings`` do. Both work on whichever storage is configured."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from k12.audit import audit_record
from k12.models import AuditAction
from sessions_app.models import RecordingStatus, SessionRecording
from sessions_app.recordings.services import recording_bytes_discard, recording_multipart_abort, recording_remove
from sessions_app.recordings.storage import (
    RECORDINGS_PREFIX,
    recording_storage,
    s3_target,
    storage_is_s3,
    stored_recording_names,
)

logger = logging.getLogger(__name__)

Progress = Callable[[Iterable, int], Iterable]


def _no_progress(items: Iterable, total: int) -> Iterable:
    return items


# --- Retention --------------------------------------------------------------------------------


@dataclass
class PurgeSummary:
    matched: int
    matched_bytes: int
    purged: int = 0
    purged_bytes: int = 0
    failed: list[str] = field(default_factory=list)  # keys whose bytes could not be removed
    held: int = 0  # as old, kept: their sessions are under legal hold


def recordings_purge(
    *,
    older_than: timedelta,
    dry_run: bool = False,
    progress: Progress = _no_progress,
    now: datetime | None = None,
) -> PurgeSummary:
    """Remove every recording created more than ``older_than`` ago: rows and bytes (and any
    multipart upload still open), except those of sessions under legal hold. ``dry_run`` only
    counts. Rows go first; bytes that cannot be removed are reported in ``failed``
    (``cleanup_recordings`` removes them later). Each run but a dry one leaves one audit event
    (what, how many, how many held), as the message purge does, also when it removed nothing."""
    cutoff = (now or timezone.now()) - older_than
    old = SessionRecording.objects.filter(created_at__lt=cutoff)
    qs = old.filter(session__legal_hold=False)
    stats = qs.aggregate(total_bytes=Sum("file_size_bytes"))
    summary = PurgeSummary(
        matched=qs.count(), matched_bytes=stats["total_bytes"] or 0, held=old.filter(session__legal_hold=True).count()
    )
    if dry_run:
        return summary
    rows = qs.order_by("created_at", "id").only("id", "file", "file_size_bytes", "multipart_upload_id", "poster")
    for recording in progress(rows.iterator(chunk_size=500), summary.matched):
        removal = recording_remove(recording)
        if not removal.row_deleted:
            continue  # deleted meanwhile by someone else
        summary.purged += 1
        summary.purged_bytes += recording.file_size_bytes or 0
        if removal.bytes_removed is False:
            summary.failed.append(recording.file.name)
    audit_record(
        action=AuditAction.RETENTION_PURGE,
        target_type=SessionRecording._meta.label_lower,
        data={
            "older_than_days": older_than.days,
            "deleted": summary.purged,
            "deleted_bytes": summary.purged_bytes,
            "held": summary.held,
            "bytes_not_removed": len(summary.failed),
            "cutoff": cutoff.isoformat(),
        },
    )
    return summary


# --- Orphans ----------------------------------------------------------------------------------


@dataclass
class OrphanReport:
    rows_without_bytes: list[str] = field(default_factory=list)  # "ready" rows whose bytes are gone
    stale_rows: list[str] = field(default_factory=list)  # abandoned uploads, stuck or failed processing
    bytes_without_rows: list[str] = field(default_factory=list)  # stored names no row points at
    uploads_without_rows: list[str] = field(default_factory=list)  # open S3 multipart uploads
    failed: list[str] = field(default_factory=list)

    @property
    def found(self) -> int:
        return (
            len(self.rows_without_bytes)
            + len(self.stale_rows)
            + len(self.bytes_without_rows)
            + len(self.uploads_without_rows)
        )


def _open_s3_uploads() -> Iterator[tuple[str, str, datetime]]:
    storage = recording_storage()
    target = s3_target(RECORDINGS_PREFIX + "/", storage)
    paginator = target.client.get_paginator("list_multipart_uploads")
    prefix_len = len(target.key) - len(RECORDINGS_PREFIX + "/")  # django-storages' location prefix
    for page in paginator.paginate(Bucket=target.bucket, Prefix=target.key):
        for upload in page.get("Uploads", ()):
            yield upload["Key"][prefix_len:], upload["UploadId"], upload["Initiated"]


def recording_orphans_clean(
    *, grace: timedelta = timedelta(hours=1), dry_run: bool = False, now: datetime | None = None
) -> OrphanReport:
    """Find, and unless ``dry_run`` remove, what a crash or an abandoned upload can leave:

    - ``ready`` rows whose bytes are missing from storage (the row goes);
    - uploads never completed within ``RECORDING_UPLOAD_TTL_SECONDS`` + ``grace``, and rows stuck
      in ``processing`` or left ``failed`` for longer than ``grace`` (row, bytes, open upload go);
    - stored bytes under ``recordings/`` that no row names, older than ``grace`` (they go);
    - on S3, multipart uploads under ``recordings/`` that no row knows, older than ``grace``
      (aborted, so S3 stops keeping and billing their parts).

    ``grace`` keeps it off uploads in flight: bytes are stored a moment before their row commits.
    """
    now = now or timezone.now()
    settled = now - grace
    storage = recording_storage()
    report = OrphanReport()

    # Storage is listed before the rows are read: a row committed after the listing then still
    # covers its bytes, and bytes stored after the listing are not looked at.
    stored = set(stored_recording_names(storage))
    known = set(SessionRecording.objects.values_list("file", flat=True))
    known |= set(SessionRecording.objects.exclude(poster="").values_list("poster", flat=True))
    # Read before any row below goes: a removed row's open upload is aborted with it (once its
    # removal commits), not counted again as an upload no row knows.
    is_s3 = storage_is_s3(storage)
    open_ids = (
        set(SessionRecording.objects.exclude(multipart_upload_id="").values_list("multipart_upload_id", flat=True))
        if is_s3
        else set()
    )

    upload_deadline = now - timedelta(seconds=settings.RECORDING_UPLOAD_TTL_SECONDS) - grace
    stale = SessionRecording.objects.filter(
        Q(status=RecordingStatus.UPLOADING, created_at__lt=upload_deadline)
        # (a verified recording still processing is playable as uploaded: the processing sweep
        # hands it to a worker again, nothing removes it)
        | Q(status=RecordingStatus.PROCESSING, verified_at__isnull=True, updated_at__lt=settled)
        | Q(status=RecordingStatus.FAILED, updated_at__lt=settled)
    )
    for recording in stale.iterator():
        report.stale_rows.append(recording.file.name)
        if not dry_run and recording_remove(recording).bytes_removed is False:
            report.failed.append(recording.file.name)

    settled_ready = SessionRecording.objects.filter(status=RecordingStatus.READY, created_at__lt=settled)
    for recording in settled_ready.only("id", "file", "multipart_upload_id", "poster").iterator():
        if recording.file.name in stored or storage.exists(recording.file.name):  # or stored after the listing
            continue
        report.rows_without_bytes.append(recording.file.name)
        if not dry_run:
            recording_remove(recording)

    for name in sorted(stored - known):
        try:
            if storage.get_modified_time(name) >= settled:
                continue
        except FileNotFoundError:
            continue
        if SessionRecording.objects.filter(file=name).exists():  # its row committed meanwhile
            continue
        report.bytes_without_rows.append(name)
        if not dry_run and not recording_bytes_discard(name, ""):
            report.failed.append(name)

    if is_s3:
        for name, upload_id, initiated in _open_s3_uploads():
            if upload_id in open_ids or initiated >= settled:
                continue
            report.uploads_without_rows.append(name)
            if not dry_run:
                try:
                    recording_multipart_abort(name, upload_id)
                except Exception:
                    logger.exception("could not abort multipart upload %s of %s", upload_id, name)
                    report.failed.append(name)
    return report
