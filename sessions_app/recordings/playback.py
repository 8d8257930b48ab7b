"""Playback links for recordings: time-limited, signed, and playable by a browser.

- On S3, ``file_url`` is an S3 presigned GET URL (S3 checks the signature and the expiry, and
  serves HTTP Range itself).
- On local disk it points at ``recording_file`` below:
  ``/api/recordings/<id>/file?expires=<unix time>&signature=<HMAC>``, the signature made with
  Django's ``Signer`` (HMAC-SHA256 over the id and the expiry, keyed by ``SECRET_KEY``, with
  ``SECRET_KEY_FALLBACKS`` accepted during a key rotation). The view refuses a link that was
  altered or has expired (403), answers 404 once the recording is deleted, and serves single
  byte ranges (206) so a ``<video>`` element can seek.

A link is minted only by ``playback_links``, for someone who passed the access rule (the list
endpoint, the staff desk's play link), and every link it mints is in the audit trail. Its scope
comes from ``k12.permissions.playback_scope_for``: a staff link keeps playing without the
child's recording consent, a participant's stops when consent is withdrawn
(``k12.permissions.can_play_with_link``). Like S3's, it is a bearer link for its lifetime, which
is why it is short (``RECORDING_URL_TTL_SECONDS``).
"""

from __future__ import annotations

import functools
import os
import re
import time
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.storage import Storage
from django.core.handlers.asgi import ASGIRequest
from django.core.signing import BadSignature, Signer
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods

from k12 import permissions
from k12.audit import audit_record_many
from k12.models import AuditAction
from k12.permissions import parse_uuid
from sessions_app.models import RecordingStatus, SessionRecording
from sessions_app.recordings.storage import recording_storage, storage_is_s3

SALT = "sessions_app.recording-playback"
CHUNK_BYTES = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _signer() -> Signer:
    return Signer(salt=SALT)


# What a link opens: the recording's bytes or its poster frame (a poster link opens no file).
FILE, POSTER = "", ".poster"


def _signed_value(recording_id, expires: int, scope: str, part: str = FILE) -> str:
    return f"{recording_id}.{expires}.{scope}{part}"


PARTICIPANT, STAFF = permissions.PARTICIPANT_PLAYBACK, permissions.STAFF_PLAYBACK


def playback_links(*, recordings, viewer, request: HttpRequest | None = None) -> dict:
    """``{recording id: {"file_url", "poster_url"}}``: the signed links of ``recordings`` (None
    while one is not ready) for ``viewer``, who has passed the access rule for them. Each playback
    link issued is audited (one INSERT for them all)."""
    scope = permissions.playback_scope_for(viewer)
    links = {
        r.pk: {
            "file_url": playback_url(r, request=request, scope=scope),
            "poster_url": playback_url(r, part=POSTER, request=request, scope=scope),
        }
        for r in recordings
    }
    issued = [r for r in recordings if links[r.pk]["file_url"]]
    if issued:
        audit_record_many(
            action=AuditAction.RECORDING_URL_VIEWED,
            actor=viewer,
            targets=issued,
            session_id=issued[0].session_id if len({r.session_id for r in issued}) == 1 else None,
            request=request,
        )
    return links


def playback_url(
    recording: SessionRecording,
    *,
    scope: str,
    part: str = FILE,
    request: HttpRequest | None = None,
    ttl: int | None = None,
    now: float | None = None,
) -> str | None:
    """A signed URL of ``part`` of ``recording``: its bytes (``FILE``) or its poster frame, a JPEG
    (``POSTER``), for ``ttl`` seconds (``RECORDING_URL_TTL_SECONDS``); None while it is not ready,
    or for the poster of one that has none (audio). Absolute when ``request`` is given. Mint links
    through ``playback_links`` (which picks the scope and audits).

    On S3, the presigned GET of the object; on local disk, the signed link to ``recording_file``
    or ``recording_poster``."""
    if recording.status != RecordingStatus.READY:
        return None
    if part == POSTER:
        if not recording.poster:
            return None
        name, s3_parameters = recording.poster, {"ResponseContentType": "image/jpeg"}
    else:
        name = recording.file.name
        s3_parameters = {
            "ResponseContentType": recording.content_type,
            "ResponseContentDisposition": content_disposition_header(False, recording.filename or "recording"),
        }
    ttl = settings.RECORDING_URL_TTL_SECONDS if ttl is None else ttl
    storage = recording_storage()
    if storage_is_s3(storage):
        return storage.url(name, expire=ttl, parameters=s3_parameters)
    expires = int(time.time() if now is None else now) + ttl
    signature = _signer().signature(_signed_value(recording.pk, expires, scope, part))
    route = "recording-poster-noslash" if part == POSTER else "recording-file-noslash"
    path = reverse(route, kwargs={"recording_id": recording.pk})
    url = f"{path}?{urlencode({'expires': expires, 'scope': scope, 'signature': signature})}"
    return request.build_absolute_uri(url) if request is not None else url


def _detail(status: int, message: str, **headers) -> JsonResponse:
    response = JsonResponse({"detail": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _byte_range(header: str, size: int) -> tuple[int, int] | None | str:
    """``(first, last)`` for a satisfiable single range, None to serve everything (no header, or
    several ranges, which RFC 9110 lets a server ignore), ``"unsatisfiable"`` otherwise."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None if "," in header else "unsatisfiable"
    first, last = match.groups()
    if first == "" and last == "":
        return "unsatisfiable"
    if first == "":  # the last N bytes
        length = int(last)
        if length == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or end < start:
        return "unsatisfiable"
    return start, end


def _chunks(fh, start: int, length: int):
    try:
        fh.seek(start)
        remaining = length
        while remaining > 0:
            data = fh.read(min(CHUNK_BYTES, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        fh.close()


async def _achunks(fh, start: int, length: int):
    # Under ASGI a synchronous iterator would be drained into one list before sending (Django's
    # StreamingHttpResponse.__aiter__): the whole file in memory. Read chunk by chunk instead.
    iterator = _chunks(fh, start, length)
    try:
        while True:
            chunk = await sync_to_async(next, thread_sensitive=False)(iterator, None)
            if chunk is None:
                break
            yield chunk
    finally:
        await sync_to_async(iterator.close, thread_sensitive=False)()


def _linked_recording(request: HttpRequest, recording_id: str, part: str):
    """``(recording, storage, seconds left)``: the ready recording a valid, unexpired signed link
    to ``part`` names, on local disk. Otherwise the response to send instead: a refusal (403 for a
    bad or expired link, 404 once the recording or its poster is gone or consent was withdrawn),
    or on S3 a redirect to S3's own link for what is left of this one (a local link minted before
    the switch to S3)."""
    expires_raw = request.GET.get("expires", "")
    signature = request.GET.get("signature", "")
    scope = request.GET.get("scope", "")
    pk = parse_uuid(recording_id)
    if pk is None or not expires_raw.isdigit() or not signature or scope not in (PARTICIPANT, STAFF):
        return _detail(403, "This link is not valid.")
    try:
        _signer().unsign(f"{_signed_value(pk, int(expires_raw), scope, part)}{_signer().sep}{signature}")
    except BadSignature:
        return _detail(403, "This link is not valid.")
    expires = int(expires_raw)
    now = time.time()
    if expires < now:
        return _detail(403, "This link has expired.")

    recording = (
        SessionRecording.objects.select_related("session__student").filter(pk=pk, status=RecordingStatus.READY).first()
    )
    if recording is None:
        return _detail(404, "Recording not found.")
    if not permissions.can_play_with_link(scope, recording):
        return _detail(404, "Recording not available: consent to record has been withdrawn.")
    if part == POSTER and not recording.poster:
        return _detail(404, "This recording has no poster.")
    left = expires - now
    storage = recording_storage()
    if storage_is_s3(storage):
        return HttpResponseRedirect(playback_url(recording, scope=scope, part=part, ttl=max(1, int(left))))
    return recording, storage, left


def _served_by_link(part: str):
    """A view of ``part`` of a recording, for the holder of a signed link to it: the link is
    checked first (``_linked_recording``), and the view is called with ``(request, recording,
    storage, seconds left)`` only when it holds; otherwise the refusal or redirect is the answer."""

    def decorate(view):
        @require_http_methods(["GET", "HEAD"])
        @functools.wraps(view)
        def checked_view(request: HttpRequest, recording_id: str) -> HttpResponse:
            checked = _linked_recording(request, recording_id, part)
            if isinstance(checked, HttpResponse):
                return checked
            return view(request, *checked)

        return checked_view

    return decorate


def _as_linked(response: HttpResponse, left: float) -> HttpResponse:
    """What a link serves is private, cached no longer than the link lives, and, served from the
    API's origin, never allowed to act as a document."""
    response["Cache-Control"] = f"private, max-age={max(0, int(left))}"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@_served_by_link(POSTER)
def recording_poster(request: HttpRequest, recording: SessionRecording, storage: Storage, left: float) -> HttpResponse:
    """Serve a recording's poster frame (JPEG)."""
    try:
        with storage.open(recording.poster, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return _detail(404, "Recording not found.")
    response = HttpResponse(b"" if request.method == "HEAD" else data, content_type="image/jpeg")
    response["Content-Length"] = str(len(data))
    return _as_linked(response, left)


@_served_by_link(FILE)
def recording_file(request: HttpRequest, recording: SessionRecording, storage: Storage, left: float) -> HttpResponse:
    """Serve a recording's bytes, a single byte range of them when asked (206)."""
    try:
        fh = storage.open(recording.file.name, "rb")
    except FileNotFoundError:
        return _detail(404, "Recording not found.")
    size = os.fstat(fh.fileno()).st_size if hasattr(fh, "fileno") else storage.size(recording.file.name)

    byte_range = _byte_range(request.headers.get("Range", ""), size)
    if byte_range == "unsatisfiable":
        fh.close()
        return _detail(416, "Requested range not satisfiable.", Content_Range=f"bytes */{size}")
    start, end = byte_range if byte_range else (0, size - 1)
    length = end - start + 1 if size else 0
    if request.method == "HEAD":
        fh.close()
        response = HttpResponse(status=206 if byte_range else 200)
    else:
        body = _achunks(fh, start, length) if isinstance(request, ASGIRequest) else _chunks(fh, start, length)
        response = StreamingHttpResponse(body, status=206 if byte_range else 200)
    response["Content-Type"] = recording.content_type
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Disposition"] = content_disposition_header(False, recording.filename or "recording")
    return _as_linked(response, left)
