"""Where recordings' bytes live: the configured Django storage (``STORAGES["default"]``), local
disk by default and S3 through django-storages when a bucket is configured.

Everything else goes through these helpers, so no caller needs to know which one is active;
the only S3-specific capabilities (multipart uploads, presigned URLs) are asked for through
``s3_target`` and refused with a clear 409 on local disk.
"""

from __future__ import annotations

import posixpath
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.files.storage import Storage, default_storage

from k12.errors import Conflict

RECORDINGS_PREFIX = "recordings"


def recording_storage() -> Storage:
    """The storage recordings use (the project's default storage)."""
    return default_storage


def storage_is_s3(storage: Storage | None = None) -> bool:
    from storages.backends.s3 import S3Storage

    return isinstance(storage or recording_storage(), S3Storage)


def new_storage_key(session_id, extension: str) -> str:
    """``recordings/<session>/<uuid>.<ext>``: generated, never derived from the client's name."""
    return f"{RECORDINGS_PREFIX}/{session_id}/{uuid.uuid4()}.{extension}"


@dataclass(frozen=True)
class S3Target:
    """An object in the recordings bucket, addressed the way django-storages addresses it
    (its ``location`` prefix applied), for the calls django-storages does not wrap."""

    client: object
    bucket: str
    key: str


def s3_target(name: str, storage: Storage | None = None) -> S3Target:
    """The bucket object behind storage name ``name``; 409 when storage is not S3."""
    storage = storage or recording_storage()
    if not storage_is_s3(storage):
        raise Conflict(
            "Direct-to-storage uploads need S3 storage, and this server keeps recordings on local disk. "
            "Upload the file with POST /api/sessions/{id}/recordings instead."
        )
    from storages.utils import clean_name

    return S3Target(
        client=storage.bucket.meta.client,
        bucket=storage.bucket_name,
        key=storage._normalize_name(clean_name(name)),
    )


class S3RangeReader:
    """A read-only, seekable file over an S3 object, fetched in ranged GETs of ``block_size``
    and keeping at most ``max_blocks`` of them. django-storages' own ``S3File`` downloads the
    whole object on first read (into memory, with the default ``AWS_S3_MAX_MEMORY_SIZE``), which
    is exactly what probing a multi-gigabyte upload must not do."""

    def __init__(self, target: S3Target, *, size: int | None = None, block_size: int = 1024 * 1024, max_blocks=4):
        self._target = target
        self.size = size if size is not None else self._head()
        self._pos = 0
        self._block_size = block_size
        self._max_blocks = max_blocks
        self._blocks: OrderedDict[int, bytes] = OrderedDict()

    def _head(self) -> int:
        head = self._target.client.head_object(Bucket=self._target.bucket, Key=self._target.key)
        return int(head["ContentLength"])

    def _block(self, index: int) -> bytes:
        if index in self._blocks:
            self._blocks.move_to_end(index)
            return self._blocks[index]
        start = index * self._block_size
        end = min(self.size, start + self._block_size) - 1
        body = self._target.client.get_object(
            Bucket=self._target.bucket, Key=self._target.key, Range=f"bytes={start}-{end}"
        )["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        self._blocks[index] = data
        while len(self._blocks) > self._max_blocks:
            self._blocks.popitem(last=False)
        return data

    def read(self, n: int = -1) -> bytes:
        if self._pos >= self.size:
            return b""
        end = self.size if n is None or n < 0 else min(self.size, self._pos + n)
        out = bytearray()
        while self._pos < end:
            index, offset = divmod(self._pos, self._block_size)
            chunk = self._block(index)[offset : offset + (end - self._pos)]
            if not chunk:  # the object shrank under us
                break
            out += chunk
            self._pos += len(chunk)
        return bytes(out)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._blocks.clear()


def stored_recording_names(storage: Storage | None = None) -> Iterator[str]:
    """Every stored name under ``recordings/`` (``recordings/<session>/<file>``), on disk or in S3."""
    return _walk(storage or recording_storage(), RECORDINGS_PREFIX)


def _walk(storage: Storage, prefix: str) -> Iterator[str]:
    try:
        dirs, files = storage.listdir(prefix)
    except FileNotFoundError:  # local disk: nothing stored there (yet, or any more)
        return
    for name in files:
        yield posixpath.join(prefix, name)
    for sub in dirs:
        yield from _walk(storage, posixpath.join(prefix, sub))
