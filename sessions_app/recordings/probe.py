"""What an uploaded file really is, decided by its content with PyAV (the FFmpeg libraries in
PyAV's wheel), never by the client's file name or Content-Type.

``media_probe`` reads through a seekable binary file object in FFmpeg's small buffers: the
header, the first decodable frame, and the last seconds (or, where the container gives no
duration or cannot seek, one demuxing pass). Nothing is ever read whole into memory, so a
multi-gigabyte file costs what a small one does; on S3 the same reads are ranged GETs.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import BinaryIO

import av
from av.stream import Disposition

logger = logging.getLogger(__name__)

__all__ = [
    "DECLARED_TYPES",
    "MediaInfo",
    "NotMedia",
    "declared_type",
    "media_probe",
]

# FFmpeg demuxer name -> the container family we accept. Anything else (images, subtitles,
# text that some demuxer would take, playlists, ...) is refused.
FORMAT_FAMILIES = {
    "mov,mp4,m4a,3gp,3g2,mj2": "mp4",
    "matroska,webm": "matroska",
    "ogg": "ogg",
    "wav": "wav",
    "mp3": "mp3",
    "flac": "flac",
    "aac": "aac",
}
# Families whose container carries an index and a duration of its own: a file that ends well
# before that duration was cut short. The others (wav, mp3, ogg, ...) derive their duration from
# the file size or a bitrate, so there the bytes that are there are the recording.
INDEXED_FAMILIES = {"mp4", "matroska"}
WEBM_CODECS = {"vp8", "vp9", "av1", "opus", "vorbis"}

# Content types a client may announce for a direct-to-S3 upload -> (family, key extension).
# The announcement only picks the key's extension before the bytes exist; the content must then
# prove to be of the same family, and the stored type is the measured one.
DECLARED_TYPES = {
    "video/mp4": ("mp4", "mp4"),
    "audio/mp4": ("mp4", "m4a"),
    "audio/x-m4a": ("mp4", "m4a"),
    "video/quicktime": ("mp4", "mov"),
    "video/webm": ("matroska", "webm"),
    "audio/webm": ("matroska", "webm"),
    "video/x-matroska": ("matroska", "mkv"),
    "audio/x-matroska": ("matroska", "mka"),
    "video/ogg": ("ogg", "ogv"),
    "audio/ogg": ("ogg", "ogg"),
    "audio/wav": ("wav", "wav"),
    "audio/x-wav": ("wav", "wav"),
    "audio/wave": ("wav", "wav"),
    "audio/mpeg": ("mp3", "mp3"),
    "audio/flac": ("flac", "flac"),
    "audio/x-flac": ("flac", "flac"),
    "audio/aac": ("aac", "aac"),
}

# How far before the declared end the tail check starts reading.
TAIL_SECONDS = 5.0


class NotMedia(Exception):
    """The content is not audio/video we accept; ``str(exc)`` says why, for the client."""


@dataclass(frozen=True)
class MediaInfo:
    family: str
    content_type: str
    extension: str
    duration: float  # seconds, measured from the packets
    has_video: bool
    has_audio: bool

    @property
    def duration_seconds(self) -> int:
        """Whole seconds, as the API's ``duration_seconds`` (half up, at least 1 for any sound)."""
        return max(1, math.floor(self.duration + 0.5)) if self.duration > 0 else 0


def declared_type(content_type: str) -> tuple[str, str, str] | None:
    """``"video/webm;codecs=vp8,opus"`` -> ``("video/webm", "matroska", "webm")``; None if not accepted."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime not in DECLARED_TYPES:
        return None
    family, extension = DECLARED_TYPES[mime]
    return mime, family, extension


class _ContentOnly:
    """The file object FFmpeg sees. PyAV hands a file object's ``name`` to FFmpeg, whose format
    probe then gives weight to the extension; without a name only the bytes count."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw

    def read(self, n: int = -1) -> bytes:
        return self._raw.read(n)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


# FFmpeg may probe only the demuxers we accept, and may open nothing besides ``raw``: playlist
# and concat demuxers (HLS, ffconcat) would otherwise follow references inside an uploaded
# file to local paths or URLs.
OPEN_OPTIONS = {
    "format_whitelist": ",".join(FORMAT_FAMILIES),
    "protocol_whitelist": "none",
}


def _open(raw: BinaryIO):
    raw.seek(0)
    return av.open(_ContentOnly(raw), mode="r", options=dict(OPEN_OPTIONS), metadata_errors="ignore")


def _packet_end(packet) -> float | None:
    ts = packet.pts if packet.pts is not None else packet.dts
    if ts is None or packet.time_base is None:
        return None
    return float((ts + (packet.duration or 0)) * packet.time_base)


def _demux_end(container, streams) -> float:
    """The latest packet end over ``streams``, reading from the container's current position."""
    end = 0.0
    for packet in container.demux(*streams):
        packet_end = _packet_end(packet)
        if packet_end is not None and packet_end > end:
            end = packet_end
    return end


def _content_type(family: str, container, has_video: bool, codecs: set[str]) -> tuple[str, str]:
    kind = "video" if has_video else "audio"
    if family == "mp4":
        if (container.metadata.get("major_brand") or "").strip() == "qt":
            return "video/quicktime", "mov"
        return (f"{kind}/mp4", "mp4" if has_video else "m4a")
    if family == "matroska":
        if codecs <= WEBM_CODECS:
            return f"{kind}/webm", "webm"
        return f"{kind}/x-matroska", "mkv" if has_video else "mka"
    if family == "ogg":
        return f"{kind}/ogg", "ogv" if has_video else "ogg"
    return {
        "wav": ("audio/wav", "wav"),
        "mp3": ("audio/mpeg", "mp3"),
        "flac": ("audio/flac", "flac"),
        "aac": ("audio/aac", "aac"),
    }[family]


def media_probe(raw: BinaryIO) -> MediaInfo:
    """Decide what ``raw`` (a seekable binary file object) is.

    Accepts only the container families above holding at least one audio or video stream whose
    first frame decodes. The duration is measured from the last packets, and a file with an
    index (MP4, Matroska/WebM) whose packets stop well short of its own declared duration is
    refused as truncated. Raises ``NotMedia`` with a message for the client; I/O errors of
    ``raw`` itself propagate unchanged (they are not the client's fault).
    """
    try:
        container = _open(raw)
    except (av.FFmpegError, ValueError, EOFError) as exc:
        logger.info("probe: cannot open: %s", exc)
        raise NotMedia("This is not a playable audio or video file.") from None
    with container:
        family = FORMAT_FAMILIES.get(container.format.name)
        if family is None:
            raise NotMedia(f"Unsupported format ({container.format.name}): upload an audio or video recording.")
        video = [s for s in container.streams.video if not (s.disposition & Disposition.attached_pic)]
        audio = list(container.streams.audio)
        if not video and not audio:
            raise NotMedia("The file has no audio or video stream.")
        streams = video + audio
        codecs = {s.codec_context.name for s in streams}
        content_type, extension = _content_type(family, container, bool(video), codecs)
        primary = streams[0]
        primary.codec_context.thread_count = 1  # one frame is all we decode; no thread pool for it
        try:
            first = next(iter(container.decode(primary)), None)
        except (av.FFmpegError, ValueError, EOFError) as exc:
            logger.info("probe: first frame does not decode: %s", exc)
            first = None
        if first is None:
            raise NotMedia("The file's audio/video data cannot be decoded: it is truncated or corrupt.")

        start = container.start_time / av.time_base if container.start_time else 0.0
        declared = container.duration / av.time_base if container.duration else None
        end = None
        if declared:
            try:
                container.seek(int(max(0.0, start + declared - TAIL_SECONDS) * av.time_base), backward=True)
                end = _demux_end(container, streams)
            except av.FFmpegError as exc:
                if family in INDEXED_FAMILIES:
                    logger.info("probe: tail unreadable: %s", exc)
                    raise NotMedia("The file is truncated or corrupt.") from None
                end = None  # a stream format that cannot seek: measure it in one pass below
    if end is None:
        # No declared duration (e.g. a browser's MediaRecorder WebM) or no seeking: one pass.
        try:
            with _open(raw) as container:
                streams = [s for s in container.streams if s.type in ("audio", "video")]
                end = _demux_end(container, streams)
        except av.FFmpegError as exc:
            logger.info("probe: demux failed: %s", exc)
            raise NotMedia("The file is truncated or corrupt.") from None

    duration = max(0.0, end - start)
    if declared and family in INDEXED_FAMILIES and duration < declared - max(0.5, 0.05 * declared):
        raise NotMedia(f"The file is truncated: it declares {declared:.1f} s but its data ends at {duration:.1f} s.")
    if duration <= 0:
        raise NotMedia("The file holds no playable audio or video.")
    return MediaInfo(
        family=family,
        content_type=content_type,
        extension=extension,
        duration=duration,
        has_video=bool(video),
        has_audio=bool(audio),
    )
