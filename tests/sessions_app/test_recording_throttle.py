"""Recording uploads are rate-limited per user (THROTTLE_UPLOADS): 429 with Retry-After."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from sessions_app.models import SessionRecording
from tests.sessions_app.conftest import multipart, upload, url


def test_uploads_are_limited_per_user(world, api, samples, local_storage, settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"upload-throttle-{uuid.uuid4()}"}}
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "recording_upload": "2/hour"},
    }
    tutor = api(world.tutor)
    codes = [upload(tutor, world.booking, samples.mp4).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    refused = upload(tutor, world.booking, samples.mp4)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert SessionRecording.objects.count() == 2
    # reading the list is not limited, and another uploader has their own budget
    assert tutor.get(f"/api/sessions/{world.booking.id}/recordings").status_code == 200
    assert upload(api(world.admin), world.booking, samples.mp4).status_code == 201


@pytest.fixture
def two_an_hour(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "recording_upload": "2/hour"},
    }


def test_refused_uploads_do_not_spend_the_quota(world, api, samples, local_storage, two_an_hour):
    tutor = api(world.tutor)
    unknown = SimpleNamespace(id=uuid.uuid4())
    refused = [upload(tutor, unknown, samples.mp4).status_code for _ in range(3)]  # no such session
    refused += [upload(tutor, world.booking, samples.png, "x.png", "image/png").status_code for _ in range(3)]  # junk
    refused += [upload(tutor, world.other_booking, samples.mp4).status_code for _ in range(2)]  # not theirs
    assert refused == [404] * 3 + [400] * 3 + [403] * 2
    # the quota is whole: two accepted, then refused
    assert [upload(tutor, world.booking, samples.mp4).status_code for _ in range(3)] == [201, 201, 429]
    assert SessionRecording.objects.count() == 2


def test_an_upload_over_the_quota_is_refused_before_its_body_is_read(world, api, samples, local_storage, two_an_hour):
    tutor = api(world.tutor)
    for _ in range(2):
        assert upload(tutor, world.booking, samples.mp4).status_code == 201
    # a body that could not even be parsed: the quota answers first
    refused = tutor.generic(
        "POST", url(world.booking), b"not multipart at all", content_type="multipart/form-data; boundary=x"
    )
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 3000
    assert refused.json()["detail"].startswith("Request was throttled.")


def test_cheap_refusals_come_before_the_body(world, api, samples, local_storage, settings):
    tutor = api(world.tutor)
    # no consent: 409 without reading the (unparseable) body
    world.child.recording_consent = False
    world.child.save(update_fields=["recording_consent"])
    junk = b"not multipart at all"
    refused = tutor.generic("POST", url(world.booking), junk, content_type="multipart/form-data; boundary=x")
    assert refused.status_code == 409
    world.child.recording_consent = True
    world.child.save(update_fields=["recording_consent"])
    # a declared size over the limit: 413 before reading
    settings.RECORDING_MAX_BYTES = 1000
    body, content_type = multipart([("file", "a.mp4", samples.mp4, "video/mp4")])
    too_big = tutor.generic("POST", url(world.booking), body, content_type=content_type)
    assert too_big.status_code == 413
    assert SessionRecording.objects.count() == 0


def test_an_upload_slower_than_the_minimum_rate_is_refused(world, api, samples, local_storage, settings, monkeypatch):
    from sessions_app.recordings import uploads

    settings.RECORDING_UPLOAD_GRACE_SECONDS = 30
    settings.RECORDING_MIN_BYTES_PER_SECOND = 16 * 1024
    clock = iter([0.0, 3600.0, 3600.0, 3600.0])  # start, then each chunk an hour later
    monkeypatch.setattr(uploads.time, "monotonic", lambda: next(clock, 3600.0))
    response = upload(api(world.tutor), world.booking, samples.mp4)
    assert response.status_code == 408 and response.json()["detail"].startswith("The upload arrives too slowly")
    assert SessionRecording.objects.count() == 0
    assert local_storage.temp_files() == []


def test_a_slow_start_within_the_grace_period_is_fine(world, api, samples, local_storage, settings, monkeypatch):
    from sessions_app.recordings import uploads

    settings.RECORDING_UPLOAD_GRACE_SECONDS = 30
    monkeypatch.setattr(uploads.time, "monotonic", iter([0.0] + [29.0] * 1000).__next__)
    assert upload(api(world.tutor), world.booking, samples.mp4).status_code == 201
