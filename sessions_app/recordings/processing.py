"""Preparing a verified recording for playback, in a background worker (``sessions_app.tasks``).

After an upload is verified (direct or multipart) the row stays ``processing`` and this runs:

- a poster frame: one frame of the video a second in (or a third of the way into a shorter
  one), encoded as JPEG with PyAV's MJPEG encoder, stored next to the recording
  (``recordings/<session>/<uuid>.jpg``) and served by a signed URL like the file;
- faststart: an MP4/QuickTime file whose index (``moov``) comes after its media data (``mdat``)
  cannot start playing until the whole file has arrived. It is remuxed with PyAV, stream copy
  (no re-encode), with the index first; the copy must probe as the same streams and duration.
  It is stored under a new key and the row is switched to it in one update, under the row's
  lock (so a concurrent delete wins cleanly); the old bytes go once that is committed.

Then the row becomes ``ready`` and the participants (parent, student login) are notified. Any
failure is logged and leaves the original bytes in place: the recording becomes ``ready`` as it
was uploaded. A delivered-again task finds the row no longer ``processing`` and does nothing.
"""

from __future__ import annotations

import fractions
import logging
import os
import shutil
import struct
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import av
from av.stream import Disposition
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from k12 import permissions
from k12.notifications import notification_create
from sessions_app.models import RecordingStatus, SessionRecording
from sessions_app.recordings.probe import media_probe
from sessions_app.recordings.services import recording_bytes_discard
from sessions_app.recordings.storage import new_storage_key, recording_storage

logger = logging.getLogger(__name__)

POSTER_MAX_WIDTH = 1280
MP4_TYPES = {"video/mp4": "mp4", "audio/mp4": "mp4", "video/quicktime": "mov"}
COPY_CHUNK = 1024 * 1024


@dataclass
class Outcome:
    status: str
    poster: bool = False
    faststart: bool = False


def recording_process_enqueue(recording_id) -> None:
    """Hand a verified recording to the workers (called on commit). Never raises: a recording
    whose task was lost is queued again by ``recordings_process_sweep``."""
    from sessions_app.tasks import recording_process

    try:
        recording_process.delay(str(recording_id))
    except Exception:
        logger.exception("could not queue processing of recording %s; the sweep will", recording_id)


def recordings_process_sweep(*, grace: timedelta = timedelta(minutes=10)) -> int:
    """Queue again verified recordings still ``processing`` ``grace`` after their last change."""
    stuck = SessionRecording.objects.filter(
        status=RecordingStatus.PROCESSING,
        verified_at__isnull=False,
        updated_at__lt=timezone.now() - grace,
    ).values_list("pk", flat=True)
    ids = list(stuck[:500])
    for recording_id in ids:
        recording_process_enqueue(recording_id)
    return len(ids)


def recording_process(*, recording_id) -> Outcome:
    """Make the poster and the faststart copy of a verified recording, then mark it ready."""
    recording = SessionRecording.objects.filter(
        pk=recording_id, status=RecordingStatus.PROCESSING, verified_at__isnull=False
    ).first()
    if recording is None:
        return Outcome("skipped")
    storage = recording_storage()
    poster_key = remuxed_key = ""
    remuxed_size = None
    with tempfile.TemporaryDirectory(prefix="k12-recording-") as tmp, _local_copy(recording, Path(tmp)) as source:
        try:
            jpeg = poster_jpeg(source)
            if jpeg:
                poster_key = storage.save(new_storage_key(recording.session_id, "jpg"), ContentFile(jpeg))
        except Exception:
            logger.exception("recording %s: no poster frame", recording.pk)
        try:
            fmt = MP4_TYPES.get(recording.content_type)
            if fmt and not moov_before_mdat(source):
                target = Path(tmp) / f"faststart.{fmt}"
                remux_faststart(source, target, fmt)
                with open(target, "rb") as fh:
                    remuxed_key = storage.save(new_storage_key(recording.session_id, fmt), File(fh))
                remuxed_size = target.stat().st_size
        except Exception:
            logger.exception("recording %s: faststart remux failed; the file stays as uploaded", recording.pk)
    return _finish(recording, poster_key, remuxed_key, remuxed_size)


def _finish(recording: SessionRecording, poster_key: str, remuxed_key: str, remuxed_size: int | None) -> Outcome:
    with transaction.atomic():
        row = (
            SessionRecording.objects.select_for_update(of=("self",))
            .select_related("session__student__parent", "session__student__user", "session__subject")
            .filter(pk=recording.pk, status=RecordingStatus.PROCESSING)
            .first()
        )
        if row is None:  # deleted (or finished by another worker) meanwhile: keep nothing of ours
            transaction.on_commit(lambda: _discard(poster_key, remuxed_key))
            return Outcome("skipped")
        old_file, old_poster = row.file.name, row.poster
        fields = {"status": RecordingStatus.READY, "updated_at": timezone.now()}
        if poster_key:
            fields["poster"] = poster_key
        if remuxed_key:
            fields.update(file=remuxed_key, file_size_bytes=remuxed_size)
        SessionRecording.objects.filter(pk=row.pk).update(**fields)
        transaction.on_commit(lambda: _discard(old_poster if poster_key else "", old_file if remuxed_key else ""))
        _notify_ready(row)
    return Outcome(RecordingStatus.READY, poster=bool(poster_key), faststart=bool(remuxed_key))


def _discard(*names: str) -> None:
    for name in names:
        if name:
            recording_bytes_discard(name, "")


def _notify_ready(recording: SessionRecording) -> None:
    """The parent and the student's login hear of it, if the access rule lets them see it (it
    does not while the parent's consent is missing)."""
    booking = recording.session
    student = booking.student
    when = booking.starts_at.strftime("%Y-%m-%d %H:%M UTC")
    for user in (student.parent, student.user):
        if user is None or not permissions.can_see_recordings(user, booking):
            continue
        notification_create(
            user=user,
            kind="recording_ready",
            title=f"Recording ready: {booking.subject.name}, {when}",
            body=f"The recording of {student.first_name}'s {booking.subject.name} session on {when} can be watched.",
            data={"sessionId": str(booking.pk), "recordingId": str(recording.pk)},
        )


@contextmanager
def _local_copy(recording: SessionRecording, tmp: Path):
    """A path to the recording's bytes: the stored file itself on local disk, else a copy."""
    storage = recording_storage()
    try:
        path = storage.path(recording.file.name)
    except NotImplementedError:
        path = None
    if path is not None:
        yield Path(path)
        return
    copy = tmp / "source"
    with storage.open(recording.file.name, "rb") as src, open(copy, "wb") as dst:
        shutil.copyfileobj(src, dst, COPY_CHUNK)
    yield copy


# --- PyAV ------------------------------------------------------------------------------------


def _video_stream(container):
    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            return stream
    return None


def poster_jpeg(path: Path) -> bytes | None:
    """A JPEG of the frame a second in (a third of the way into shorter videos); None for audio."""
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = _video_stream(container)
        if stream is None:
            return None
        duration = container.duration / av.time_base if container.duration else 0.0
        at = min(1.0, duration / 3) if duration else 0.0
        frame = None
        if at > 0 and stream.time_base:
            container.seek(int(at / stream.time_base), stream=stream, backward=True)
        for candidate in container.decode(stream):
            frame = candidate
            if candidate.time is None or candidate.time >= at:
                break
        if frame is None:
            return None
    width, height = frame.width, frame.height
    if width > POSTER_MAX_WIDTH:
        width, height = POSTER_MAX_WIDTH, max(2, round(height * POSTER_MAX_WIDTH / width))
    width, height = width - width % 2, height - height % 2  # 4:2:0 wants even sizes
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = fractions.Fraction(1, 25)
    image = frame.reformat(width=width, height=height, format="yuvj420p")
    return b"".join(bytes(packet) for packet in [*encoder.encode(image), *encoder.encode(None)])


def _top_level_boxes(path: Path):
    """(type, offset) of each top-level ISO BMFF box, reading only the headers."""
    size_total = os.path.getsize(path)
    with open(path, "rb") as fh:
        offset = 0
        while offset + 8 <= size_total:
            fh.seek(offset)
            size, kind = struct.unpack(">I4s", fh.read(8))
            if size == 1:
                (size,) = struct.unpack(">Q", fh.read(8))
            elif size == 0:
                size = size_total - offset
            if size < 8:
                return
            yield kind, offset
            offset += size


def moov_before_mdat(path: Path) -> bool:
    """True when the index comes first (plays while downloading) or there is no media data box."""
    for kind, _ in _top_level_boxes(path):
        if kind == b"moov":
            return True
        if kind == b"mdat":
            return False
    return True


def remux_faststart(source: Path, target: Path, fmt: str) -> None:
    """Copy the audio and video streams into a new ``fmt`` file with the index first, then check
    that the copy has the same streams and duration."""
    with av.open(str(source), metadata_errors="ignore") as inp:
        streams = [s for s in inp.streams if s.type in ("audio", "video")]
        with av.open(str(target), "w", format=fmt, options={"movflags": "+faststart"}) as out:
            mapping = {s.index: out.add_stream_from_template(s) for s in streams}
            for packet in inp.demux(*streams):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
    with open(source, "rb") as fh:
        before = media_probe(fh)
    with open(target, "rb") as fh:
        after = media_probe(fh)
    same = (before.has_video, before.has_audio) == (after.has_video, after.has_audio)
    if not same or abs(before.duration - after.duration) > 0.1 or not moov_before_mdat(target):
        raise ValueError(f"the faststart copy differs: {before} -> {after}")
