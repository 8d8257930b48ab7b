"""Fixtures for the recordings tests: media samples synthesised with PyAV (nothing downloaded),
a temporary local storage, and a real S3-compatible endpoint (moto's server mode, one process
per test worker on a free port) used through the production S3 settings. And ``round_trips``,
the live room's writes to Redis."""

from __future__ import annotations

import fractions
import importlib.util
import io
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import av
import boto3
import pytest
import requests
from django.test import TestCase
from redis.asyncio.connection import AbstractConnection

import k12.settings
from tests.e2e.servers import free_port, stop_process

# --- Media samples ----------------------------------------------------------------------------

RATE = 48_000


def _tone(seconds: float, freq: float = 440.0) -> bytes:
    n = int(seconds * RATE)
    return b"".join(struct.pack("<h", int(12_000 * math.sin(2 * math.pi * freq * i / RATE))) for i in range(n))


def make_clip(
    fmt: str,
    *,
    video: str | None = None,
    audio: str | None = None,
    seconds: float = 2.0,
    size: tuple[int, int] = (160, 120),
    fps: int = 25,
    options: dict | None = None,
) -> bytes:
    """A ``seconds``-long clip: a colour ramp (``video`` codec) and/or a 440 Hz tone (``audio``)."""
    # A real file, not a BytesIO: the MP4 muxer re-opens its output by name for +faststart.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip"
        _write_clip(str(path), fmt, video, audio, seconds, size, fps, options)
        return path.read_bytes()


def _write_clip(path, fmt, video, audio, seconds, size, fps, options) -> None:
    out = av.open(path, "w", format=fmt, options=options or {})
    if video:
        vs = out.add_stream(video, rate=fps)
        vs.width, vs.height = size
        vs.pix_fmt = "yuv420p"
    if audio:
        aus = out.add_stream(audio, rate=RATE)
        aus.layout = "mono"
    if video:
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame(size[0], size[1], "yuv420p")
            for plane, value in zip(frame.planes, ((i * 5) % 256, 90, 200), strict=True):
                plane.update(bytes([value]) * plane.buffer_size)
            frame.pts = i
            frame.time_base = fractions.Fraction(1, fps)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
    if audio:
        pcm = _tone(seconds)
        step = aus.codec_context.frame_size or 1024
        total = len(pcm) // 2
        for start in range(0, total, step):
            n = min(step, total - start)
            frame = av.AudioFrame(format="s16", layout="mono", samples=n)
            frame.planes[0].update(pcm[start * 2 : (start + n) * 2])
            frame.sample_rate = RATE
            frame.pts = start
            frame.time_base = fractions.Fraction(1, RATE)
            for packet in aus.encode(frame):
                out.mux(packet)
        for packet in aus.encode():
            out.mux(packet)
    out.close()


def make_png() -> bytes:
    buf = io.BytesIO()
    out = av.open(buf, "w", format="image2pipe")
    stream = out.add_stream("png", rate=1)
    stream.width, stream.height, stream.pix_fmt = 16, 16, "rgb24"
    for packet in stream.encode(av.VideoFrame(16, 16, "rgb24")):
        out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return buf.getvalue()


@dataclass(frozen=True)
class Samples:
    mp4: bytes  # H.264 + AAC, moov at the end (FFmpeg's default)
    mp4_faststart: bytes  # moov first: a cut-off copy still opens
    webm: bytes  # VP8 + Opus
    wav: bytes
    mp3: bytes
    big_mkv: bytes  # raw video in Matroska, > 5 MiB: two S3 multipart parts
    png: bytes
    script: bytes


@pytest.fixture(scope="session")
def samples() -> Samples:
    return Samples(
        mp4=make_clip("mp4", video="libx264", audio="aac"),
        mp4_faststart=make_clip("mp4", video="libx264", audio="aac", options={"movflags": "+faststart"}),
        webm=make_clip("webm", video="libvpx", audio="libopus"),
        wav=make_clip("wav", audio="pcm_s16le"),
        mp3=make_clip("mp3", audio="libmp3lame"),
        big_mkv=make_clip("matroska", video="rawvideo", size=(320, 240)),
        png=make_png(),
        script=b"#!/bin/sh\necho 'not a video'\nrm -rf \"$HOME\"\n",
    )


# --- Requests ---------------------------------------------------------------------------------

KEY = re.compile(r"^recordings/(?P<session>[0-9a-f-]{36})/(?P<uuid>[0-9a-f-]{36})\.(?P<ext>[a-z0-9]+)$")


def url(booking) -> str:
    return f"/api/sessions/{booking.id}/recordings"


def multipart(parts: list[tuple[str, str | None, bytes, str | None]]) -> tuple[bytes, str]:
    """A multipart body built by hand, so file names reach the server exactly as given (Django's
    test client would strip directories from them)."""
    boundary = f"----k12-{uuid.uuid4().hex}"
    body = bytearray()
    for field, filename, content, content_type in parts:
        disposition = f'form-data; name="{field}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if content_type:
            body += f"Content-Type: {content_type}\r\n".encode()
        body += b"\r\n" + content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), f"multipart/form-data; boundary={boundary}"


def post_parts(client, booking, parts, **extra):
    body, content_type = multipart(parts)
    return client.generic("POST", url(booking), body, content_type=content_type, **extra)


def upload(client, booking, content: bytes, name: str = "lesson.mp4", content_type: str = "video/mp4"):
    return post_parts(client, booking, [("file", name, content, content_type)])


def upload_processed(client, booking, content: bytes, **kwargs):
    """An upload, and the processing its commit hands to a worker (poster, faststart), run
    before this returns, as an eagerly run task does outside a test's transaction."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return upload(client, booking, content, **kwargs)


# --- Local storage ----------------------------------------------------------------------------


@dataclass
class LocalStorage:
    media: Path
    uploads_tmp: Path

    def stored(self) -> list[Path]:
        return sorted(p for p in self.media.rglob("*") if p.is_file())

    def temp_files(self) -> list[Path]:
        return sorted(p for p in self.uploads_tmp.rglob("*") if p.is_file())


@pytest.fixture
def local_storage(settings, tmp_path) -> LocalStorage:
    """Recordings on a temporary disk; upload temporary files in a directory of their own so
    a test can see that none is left behind."""
    media, uploads_tmp = tmp_path / "media", tmp_path / "upload-tmp"
    media.mkdir()
    uploads_tmp.mkdir()
    settings.MEDIA_ROOT = media
    settings.FILE_UPLOAD_TEMP_DIR = str(uploads_tmp)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(media)}},
    }
    return LocalStorage(media, uploads_tmp)


# --- S3 (moto server) -------------------------------------------------------------------------


def _wait_until_serving(proc: subprocess.Popen, url: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            requests.get(url, timeout=1)
            return True
        except requests.ConnectionError:
            time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    """A moto S3 server for this test process (each xdist worker starts its own, on its own free
    port), stopped at the end of the session."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    for _attempt in range(5):
        port = free_port()
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        endpoint = f"http://127.0.0.1:{port}"
        if _wait_until_serving(proc, f"{endpoint}/moto-api/"):
            break
        proc.kill()
        proc.wait()
    else:
        raise RuntimeError(f"moto server did not start; see {log}")
    try:
        yield endpoint
    finally:
        stop_process(proc)


def production_s3_settings(env: dict[str, str]) -> dict:
    """Evaluate k12/settings.py afresh with ``env`` (as a production process would see it) and
    return its storage settings: the S3 tests run on exactly the production configuration."""
    with mock.patch.dict(os.environ, env):
        spec = importlib.util.spec_from_file_location("k12_settings_for_s3", k12.settings.__file__)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    names = [n for n in dir(module) if n.startswith("AWS_")] + ["STORAGES"]
    return {name: getattr(module, name) for name in names}


@dataclass
class S3:
    endpoint: str
    bucket: str
    client: object

    def keys(self) -> list[str]:
        return [o["Key"] for o in self.client.list_objects_v2(Bucket=self.bucket).get("Contents", [])]

    def body(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def open_uploads(self) -> list[dict]:
        return self.client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])


@pytest.fixture
def s3_storage(moto_endpoint, settings, monkeypatch, tmp_path) -> S3:
    """Recordings in a fresh bucket of the moto server, through django-storages' S3Storage
    configured by k12/settings.py from the environment, as in production."""
    bucket = f"rec-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=bucket)
    production = production_s3_settings(
        {
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_S3_ENDPOINT_URL": moto_endpoint,
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_S3_ADDRESSING_STYLE": "path",
        }
    )
    for name, value in production.items():
        setattr(settings, name, value)
    uploads_tmp = tmp_path / "upload-tmp"
    uploads_tmp.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(uploads_tmp)
    return S3(moto_endpoint, bucket, client)


@pytest.fixture
def round_trips():
    """What this process sends Redis from the event loop meanwhile: one list of command names
    per write (a pipeline is one write, one round trip)."""
    sent: list[list[str]] = []
    real = AbstractConnection.send_packed_command

    async def spy(self, command, check_health=True):
        packed = command if isinstance(command, bytes) else b"".join(command)
        lines, names, i = packed.split(b"\r\n"), [], 0
        while i < len(lines) and lines[i].startswith(b"*"):  # *N, then N times $len and the value
            names.append(lines[i + 2].decode())
            i += 1 + 2 * int(lines[i][1:])
        sent.append(names)
        return await real(self, command, check_health)

    with mock.patch.object(AbstractConnection, "send_packed_command", spy):
        yield sent
