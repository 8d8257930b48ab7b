"""Recording uploads are rate-limited per user (THROTTLE_UPLOADS): 429 with Retry-After."""

from __future__ import annotations

import uuid

from sessions_app.models import SessionRecording
from tests.sessions_app.conftest import upload


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
