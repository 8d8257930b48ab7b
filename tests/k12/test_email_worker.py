"""Notification email goes through Redis to a real worker process: the request that caused it
never waits for SMTP; a failing SMTP server is retried, and recorded once retries run out."""

from __future__ import annotations

import pytest
from django.test import Client

from k12.models import Notification
from tests.k12.email_worker import (  # noqa: F401
    allocation_body,
    email_worker_env,
    smtp,
    test_database_url,
    through_the_broker,
)
from tests.workers import CeleryWorker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("celery")]

RETRIES = 2


@pytest.fixture(scope="module")
def worker(test_database_url, smtp):  # noqa: F811
    env = email_worker_env(
        test_database_url,
        smtp,
        NOTIFICATION_EMAIL_RETRIES=str(RETRIES),
        NOTIFICATION_EMAIL_RETRY_SECONDS="1",  # time to bring the server back between attempts
    )
    process = CeleryWorker(env, "email", concurrency=2).start()
    yield process
    process.stop()


def email_status(note: Notification) -> str:
    note.refresh_from_db()
    return note.email_status


def test_the_email_arrives_from_the_worker(world, api, worker, through_the_broker, smtp):  # noqa: F811
    assert api(world.admin).post("/api/admin/allocations", allocation_body(world), format="json").status_code == 201
    note = Notification.objects.get(user=world.tutor)
    [mail] = smtp.wait_for_mails(1)
    assert mail.recipients == [world.tutor.email]
    assert f"notification-{note.pk}@".encode() in mail.data  # its Message-ID
    wait_until(lambda: email_status(note) == "sent")
    assert note.email_attempts == 1 and note.email_sent_at is not None


def test_a_hanging_smtp_server_does_not_hold_the_request(world, api, worker, through_the_broker, smtp):  # noqa: F811
    smtp.hang("greeting", 10)
    response = api(world.admin).post("/api/admin/allocations", allocation_body(world), format="json")
    assert response.status_code == 201
    # Had the request sent the email itself, it would have waited out the 10 s greeting and the
    # mail would be delivered by now; it is not, yet the server has been or is being contacted.
    assert smtp.mails == []
    [mail] = smtp.wait_for_mails(1)
    assert mail.recipients == [world.tutor.email]
    note = Notification.objects.get(user=world.tutor)
    wait_until(lambda: email_status(note) == "sent")


def test_smtp_down_is_retried_until_it_is_back(world, api, worker, through_the_broker, smtp):  # noqa: F811
    with smtp.down():
        api(world.admin).post("/api/admin/allocations", allocation_body(world), format="json")
        note = Notification.objects.get(user=world.tutor)
        wait_until(lambda: email_status(note) == "retrying")
        assert "Connection refused" in note.email_error
    [mail] = smtp.wait_for_mails(1)
    assert mail.recipients == [world.tutor.email]
    wait_until(lambda: email_status(note) == "sent")
    assert note.email_attempts >= 2 and note.email_error == ""


def test_smtp_down_for_good_is_recorded_and_shown_to_staff(world, api, worker, through_the_broker, smtp):  # noqa: F811
    with smtp.down():
        api(world.admin).post("/api/admin/allocations", allocation_body(world), format="json")
        note = Notification.objects.get(user=world.tutor)
        wait_until(lambda: email_status(note) == "failed")
    assert note.email_attempts == 1 + RETRIES
    assert "Connection refused" in note.email_error
    assert smtp.mails == []
    staff = Client()
    staff.force_login(world.admin)
    page = staff.get("/admin/k12/notification/", {"email_status__exact": "failed"}).content.decode()
    assert note.title in page and "Connection refused" in page
