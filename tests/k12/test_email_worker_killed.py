"""A worker killed (SIGKILL, the whole worker at once) in the middle of sending: the task is
delivered again to another worker, and the email reaches the server once."""

from __future__ import annotations

import pytest

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


@pytest.fixture(scope="module")
def two_workers(test_database_url, smtp):  # noqa: F811
    env = email_worker_env(
        test_database_url,
        smtp,
        # a dead worker's message is handed on after 2 s, looked for every second; its claim on
        # the email lapses after 3 s
        CELERY_VISIBILITY_TIMEOUT="2",
        CELERY_RESTORE_CHECK_SECONDS="1",
        NOTIFICATION_EMAIL_LEASE_SECONDS="3",
    )
    first = CeleryWorker(env, "first").start()
    second = CeleryWorker(env, "second")
    yield first, second
    first.stop()
    second.stop()


def test_a_worker_killed_mid_send_leaves_the_email_to_another_which_sends_it_once(
    world,
    api,
    two_workers,
    through_the_broker,  # noqa: F811
    smtp,  # noqa: F811
):
    first, second = two_workers
    smtp.hang("data", 60)  # the first connection's message is never accepted while its client lives
    assert api(world.admin).post("/api/admin/allocations", allocation_body(world), format="json").status_code == 201
    assert smtp.data_received.wait(60)  # the first worker is mid-send
    note = Notification.objects.get(user=world.tutor)
    assert (note.email_status, note.email_attempts) == ("sending", 1)
    first.kill()
    second.start()
    [mail] = smtp.wait_for_mails(1)
    assert mail.recipients == [world.tutor.email]
    note = wait_until(lambda: Notification.objects.filter(pk=note.pk, email_status="sent").first())
    assert note.email_attempts == 2
    assert smtp.connections == 2 and len(smtp.mails) == 1
