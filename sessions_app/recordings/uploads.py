"""Receiving a recording in a multipart request without holding it in memory.

- The request's size is checked against ``RECORDING_MAX_BYTES`` from ``Content-Length`` before a
  byte of the body is read (413).
- The body is parsed by Django's multipart parser with a single upload handler,
  ``RecordingUploadHandler``: every file goes to a temporary file on disk in 64 KiB chunks
  (whatever its size, so nothing over a chunk stays in memory), is hashed as it streams, and is
  cut off with a 413 the moment it passes the limit. A second file, a file in another field,
  and a file name with a path, control characters or more than 255 characters stop the parse
  with a 400 before anything more is written.
- The temporary file is removed when the request ends (Django closes uploaded files), whether
  or not the recording was accepted.
"""

from __future__ import annotations

import hashlib
import time
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.parsers import BaseParser, DataAndFiles
from rest_framework.request import Request

from k12.errors import TooLarge, field_error

FILE_FIELD = "file"
MAX_FILENAME_LENGTH = 255
# What a multipart envelope may add to the file's own bytes (boundaries, part headers, a few
# small fields). A request longer than the limit plus this cannot carry an acceptable file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class LengthRequired(APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_detail = "Send the upload with a Content-Length header."
    default_code = "length_required"


class UploadTooSlow(APIException):
    status_code = status.HTTP_408_REQUEST_TIMEOUT
    default_detail = "The upload arrives too slowly; try again on a better connection."
    default_code = "too_slow"


def too_slow(received: int, elapsed: float) -> bool:
    """An upload that, after its grace period, averages under RECORDING_MIN_BYTES_PER_SECOND:
    it holds one of the upload pool's workers for a file that would take hours to arrive."""
    grace = settings.RECORDING_UPLOAD_GRACE_SECONDS
    return elapsed > grace and received < settings.RECORDING_MIN_BYTES_PER_SECOND * elapsed


def too_large(max_bytes: int) -> TooLarge:
    return TooLarge(f"Recordings are limited to {_human(max_bytes)} ({max_bytes} bytes).")


def _human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.4g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def filename_problem(name: str) -> str | None:
    """Why a client's file name is refused, or None. Browsers send a bare name; a path,
    a control character (NUL included) or an overlong name is not one."""
    if not name or name.strip() in {"", ".", ".."}:
        return "The file needs a name."
    if len(name) > MAX_FILENAME_LENGTH:
        return f"The file name is too long (at most {MAX_FILENAME_LENGTH} characters)."
    if "/" in name or "\\" in name:
        return "The file name may not contain a path."
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "The file name may not contain control characters."
    return None


def display_filename(name: str) -> str:
    """The client's name as we show it: NFC, without invisible formatting characters (bidi
    overrides that make "evil\u202egpj.mp4" read as "evilmp4.jpg"), whitespace collapsed."""
    name = unicodedata.normalize("NFC", name or "")
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = " ".join(name.replace("/", "_").replace("\\", "_").split())
    return name[:MAX_FILENAME_LENGTH] or "recording"


class RecordingUploadHandler(TemporaryFileUploadHandler):
    """Disk only, one file, in field ``file``, at most ``max_bytes``; hashes as it streams.

    A refusal is recorded in ``refusal`` and stops the parse (``StopUpload``); the view raises
    it once the parser has closed and removed what it had written."""

    def __init__(self, request=None, *, max_bytes: int):
        super().__init__(request)
        self.max_bytes = max_bytes
        self.started = time.monotonic()
        self.refusal: APIException | TooLarge | None = None
        self.files_started = 0
        self.received = 0
        self.client_name = ""
        self._sha256 = hashlib.sha256()

    @property
    def checksum_sha256(self) -> str:
        return self._sha256.hexdigest()

    def refuse(self, error: APIException | TooLarge):
        if self.refusal is None:
            self.refusal = error
        # Read and drop the rest of the body: under the size limit that is at most the
        # multipart overhead, and a drained connection lets the client read our answer.
        raise StopUpload(connection_reset=False)

    def new_file(self, field_name, file_name, *args, **kwargs):
        self.files_started += 1
        if self.files_started > 1:
            self.refuse(field_error(FILE_FIELD, "Send exactly one file per request."))
        if field_name != FILE_FIELD:
            self.refuse(field_error(FILE_FIELD, f"Send the recording in the multipart field `{FILE_FIELD}`."))
        self.client_name = file_name
        super().new_file(field_name, file_name, *args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.refuse(too_large(self.max_bytes))
        if too_slow(self.received, time.monotonic() - self.started):
            self.refuse(UploadTooSlow())
        self._sha256.update(raw_data)
        return super().receive_data_chunk(raw_data, start)


class _StrictMultiPartParser(DjangoMultiPartParser):
    """Django's parser, but a bad file name is refused instead of quietly rewritten (Django
    would turn "../../etc/passwd.mp4" into "passwd.mp4"); ours never becomes a path either way."""

    def sanitize_file_name(self, file_name):
        problem = filename_problem(file_name)
        if problem:
            for handler in self._upload_handlers:
                if isinstance(handler, RecordingUploadHandler):
                    handler.refuse(field_error(FILE_FIELD, problem))
        return super().sanitize_file_name(file_name)


class RecordingMultiPartParser(BaseParser):
    """DRF parser for the recording upload: ``_StrictMultiPartParser`` with the request's
    upload handlers; malformed bodies and Django's request-size guards become 400s."""

    media_type = "multipart/form-data"

    def parse(self, stream, media_type=None, parser_context=None):
        request = parser_context["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        encoding = parser_context.get("encoding") or "utf-8"
        try:
            parser = _StrictMultiPartParser(meta, stream, request.upload_handlers, encoding)
            data, files = parser.parse()
        except MultiPartParserError as exc:
            raise field_error(FILE_FIELD, f"The request is not a valid multipart upload: {exc}") from None
        except SuspiciousOperation as exc:  # too many fields, an oversized form field
            raise field_error(FILE_FIELD, str(exc)) from None
        return DataAndFiles(data, files)


@dataclass
class ReceivedUpload:
    file: UploadedFile
    filename: str  # the client's name, validated; display it through display_filename()
    checksum_sha256: str


def reject_oversized_request(request: Request, *, max_bytes: int) -> None:
    """413 from the declared request size alone, before any of the body is read."""
    raw = request.META.get("CONTENT_LENGTH")
    try:
        length = int(raw) if raw not in (None, "") else None
    except ValueError:
        raise field_error(FILE_FIELD, "Invalid Content-Length.") from None
    if length is None:
        raise LengthRequired()
    if length > max_bytes + MULTIPART_OVERHEAD_BYTES:
        raise too_large(max_bytes)


def declared_file_bytes(request: Request) -> int | None:
    """The least the uploaded file weighs given the request's declared size (the multipart
    envelope taken off); None without a usable Content-Length (receive_recording_upload then
    answers 411 or 400)."""
    try:
        return max(0, int(request.META["CONTENT_LENGTH"]) - MULTIPART_OVERHEAD_BYTES)
    except (KeyError, ValueError):
        return None


def receive_recording_upload(request: Request, *, max_bytes: int) -> ReceivedUpload:
    """Check the request's size, then stream its single ``file`` to a temporary file.
    Raises 411, 413 or a 400 on the ``file`` field."""
    reject_oversized_request(request, max_bytes=max_bytes)
    handler = RecordingUploadHandler(request._request, max_bytes=max_bytes)
    request._request.upload_handlers = [handler]
    files = request.FILES  # parses the body, through RecordingMultiPartParser
    if handler.refusal is not None:
        for uploaded in files.values():
            uploaded.close()
        raise handler.refusal
    uploaded = files.get(FILE_FIELD)
    if uploaded is None:
        raise field_error(FILE_FIELD, "No file was submitted.")
    if uploaded.size == 0:
        uploaded.close()
        raise field_error(FILE_FIELD, "The submitted file is empty.")
    return ReceivedUpload(file=uploaded, filename=handler.client_name, checksum_sha256=handler.checksum_sha256)
