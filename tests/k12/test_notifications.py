"""Notifications: one row per event for the right user only, an email, a push to the user's own
WebSocket group once the row is committed (never for a rolled-back one), and the REST API."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core.mail import EmailMessage
from django.db import transaction
from rest_framework_simplejwt.tokens import AccessToken

from k12 import notifications, services
from k12.asgi import application
from k12.models import Allocation, Notification
from tests.conftest import ROLES, client_for, next_slot


def allocate(w):
    return services.allocation_create(created_by=w.admin, student=w.child, tutor=w.tutor, subject=w.physics)


def receive_pushes(groups: dict[str, str], run) -> dict[str, dict | None]:
    """Listen on each ``name -> group`` with the real channel layer, call ``run()``, and return
    what each group received (None for nothing). The pushes happen inside ``run()``, so once the
    first expected one has arrived any other would have too: the short wait is for absent ones."""

    async def go():
        layer = get_channel_layer()
        channels = {}
        for name, group in groups.items():
            channels[name] = await layer.new_channel()
            await layer.group_add(group, channels[name])
        try:
            await sync_to_async(run)()
            received = {}
            for name, channel in channels.items():
                try:
                    received[name] = await asyncio.wait_for(layer.receive(channel), timeout=2)
                except TimeoutError:
                    received[name] = None
            return received
        finally:
            for name, group in groups.items():
                await layer.group_discard(group, channels[name])

    return async_to_sync(go)()


# --- who is notified of what ------------------------------------------------------------------


def test_new_allocation_notifies_the_tutor_once(world, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        allocation = allocate(world)
    rows = list(Notification.objects.all())
    assert len(rows) == 1
    note = rows[0]
    assert note.user == world.tutor and note.kind == "allocation_created"
    assert note.title == "New student: Sam Parker for Physics"
    assert note.data == {
        "allocationId": str(allocation.id),
        "studentId": str(world.child.id),
        "subjectId": str(world.physics.id),
    }
    assert note.read_at is None
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [world.tutor.email] and mail.subject == note.title and "Sam Parker" in mail.body


def test_ended_allocation_notifies_the_tutor_once(world, mailoutbox, django_capture_on_commit_callbacks):
    allocation = Allocation.objects.get(student=world.child, subject=world.math)
    with django_capture_on_commit_callbacks(execute=True):
        services.allocation_end(allocation=allocation, ended_by=world.admin)
    assert list(Notification.objects.values_list("user_id", "kind")) == [(world.tutor.id, "allocation_ended")]
    assert [m.to for m in mailoutbox] == [[world.tutor.email]]


def test_new_and_cancelled_sessions_notify_the_family_and_the_tutor_once_each(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        booking = services.booking_create(
            created_by=world.admin,
            student=world.child,
            tutor=world.tutor,
            subject=world.math,
            starts_at=next_slot(6, 10),
            duration_minutes=45,
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_cancel(booking=booking, cancelled_by=world.tutor)
    rows = list(Notification.objects.values_list("user_id", "kind", "data"))
    people = (world.parent, world.student_user, world.tutor)
    data = {"sessionId": str(booking.id)}
    assert sorted(rows, key=str) == sorted(
        [(p.id, kind, data) for p in people for kind in ("booking_created", "booking_cancelled")], key=str
    )
    assert sorted(m.to[0] for m in mailoutbox) == sorted(p.email for p in people for _ in range(2))


def test_refused_requests_notify_no_one(world, api, mailoutbox, django_capture_on_commit_callbacks):
    client = api(world.admin)
    body = {"studentId": str(world.child.id), "tutorId": str(world.other_tutor.id), "subjectId": str(world.math.id)}
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/api/admin/allocations", body, format="json").status_code == 400
        body["tutorId"] = str(world.tutor.id)
        assert client.post("/api/admin/allocations", body, format="json").status_code == 409
    assert not Notification.objects.exists() and not mailoutbox


# --- on commit, and only on commit -------------------------------------------------------------


def test_push_and_email_wait_for_the_commit(world, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        allocate(world)
        # inside the transaction: the row exists, nobody has been told
        assert Notification.objects.count() == 1
    assert not mailoutbox
    assert len(callbacks) == 2  # the push and the email, nothing else

    pushed = receive_pushes(
        {"tutor": notifications.user_group(world.tutor.id), "parent": notifications.user_group(world.parent.id)},
        lambda: [callback() for callback in callbacks],
    )

    note = Notification.objects.get()
    assert pushed["tutor"] == {
        "type": "notification.push",
        "userId": str(world.tutor.id),  # a process's one subscription to the user's events hands it out by it
        "notification": notifications.notification_payload(note),
    }
    assert pushed["parent"] is None  # only the tutor's own group
    assert [m.to for m in mailoutbox] == [[world.tutor.email]]


def test_a_rolled_back_allocation_tells_no_one(world, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            allocate(world)
            raise RuntimeError("something later in the same transaction failed")
    assert callbacks == []
    assert not Notification.objects.exists() and not Allocation.objects.filter(subject=world.physics).exists()
    assert not mailoutbox


def test_a_broken_channel_layer_or_mail_server_loses_nothing(
    world, api, mailoutbox, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    class Broken:
        async def group_send(self, *args, **kwargs):
            raise ConnectionError("redis is down")

    def broken_mail(*args, **kwargs):
        raise OSError("smtp is down")

    monkeypatch.setattr(notifications, "get_channel_layer", lambda: Broken())
    monkeypatch.setattr(EmailMessage, "send", broken_mail)
    body = {"studentId": str(world.child.id), "tutorId": str(world.tutor.id), "subjectId": str(world.physics.id)}
    with caplog.at_level("WARNING"), django_capture_on_commit_callbacks(execute=True):
        response = api(world.admin).post("/api/admin/allocations", body, format="json")
    assert response.status_code == 201
    note = Notification.objects.get(user=world.tutor)
    assert "could not push" in caplog.text
    # the email waits for its next attempt, with the reason recorded
    assert (note.email_status, note.email_attempts, note.email_error) == ("retrying", 1, "OSError: smtp is down")
    assert note.email_next_attempt_at > note.created_at


# --- GET /api/notifications ----------------------------------------------------------------------


def test_list_is_mine_newest_first(world, api):
    mine = [
        notifications.notification_create(user=world.parent, kind="k", title=f"n{i}", email=False) for i in range(3)
    ]
    notifications.notification_create(user=world.other_parent, kind="k", title="not yours", email=False)
    rows = api(world.parent).get("/api/notifications").json()
    assert [row["id"] for row in rows] == [str(n.id) for n in reversed(mine)]
    assert rows[0] == notifications.notification_payload(mine[-1])
    assert set(rows[0]) == {"id", "kind", "title", "body", "data", "created_at", "read_at"}


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
def test_every_role_sees_only_its_own(world, api, role):
    for user in (world.admin, world.parent, world.tutor, world.other_tutor, world.student_user):
        notifications.notification_create(user=user, kind="k", title=user.email, email=False)
    user = world.user(role)
    rows = api(user).get("/api/notifications").json()
    assert {row["title"] for row in rows} <= {user.email}
    assert len(rows) == Notification.objects.filter(user=user).count()


def test_anonymous_is_401(world, api):
    assert api(None).get("/api/notifications").status_code == 401
    note = notifications.notification_create(user=world.parent, kind="k", title="t", email=False)
    assert api(None).post(f"/api/notifications/{note.id}/read").status_code == 401


def test_list_walks_every_page_by_link(world, api):
    for i in range(23):
        notifications.notification_create(user=world.tutor, kind="k", title=f"n{i}", email=False)
    client = api(world.tutor)
    seen, response = [], client.get("/api/notifications", {"limit": 5})
    while True:
        seen += [row["title"] for row in response.json()]
        links = dict(
            (part.split(";")[1].strip(), part.split(";")[0].strip().strip("<>"))
            for part in response.get("Link", "").split(",")
            if part
        )
        if 'rel="next"' not in links:
            break
        response = client.get(links['rel="next"'])
    assert seen == [f"n{i}" for i in reversed(range(23))]
    for bad in ({"limit": 0}, {"limit": 500}, {"limit": ""}, {"cursor": "junk"}):
        assert client.get("/api/notifications", bad).status_code == 400


@pytest.mark.parametrize("size", [1, 50])
def test_list_query_count_is_constant(world, api, django_assert_num_queries, size):
    Notification.objects.bulk_create(Notification(user=world.tutor, kind="k", title=f"n{i}") for i in range(60))
    client = api(world.tutor)
    # user (JWT), page
    with django_assert_num_queries(2):
        response = client.get("/api/notifications", {"limit": size})
    assert len(response.json()) == size


# --- POST /api/notifications/{id}/read -----------------------------------------------------------


def test_read_marks_it_once(world, api):
    note = notifications.notification_create(user=world.parent, kind="k", title="t", email=False)
    client = api(world.parent)
    first = client.post(f"/api/notifications/{note.id}/read")
    assert first.status_code == 200 and first.json()["id"] == str(note.id)
    read_at = first.json()["read_at"]
    assert read_at and read_at.endswith("Z")
    again = client.post(f"/api/notifications/{note.id}/read/")
    assert again.status_code == 200 and again.json()["read_at"] == read_at  # the first time is kept
    assert client.get("/api/notifications").json()[0]["read_at"] == read_at


@pytest.mark.parametrize("role", ["admin", "other_parent", "tutor", "student_user"])
def test_someone_elses_notification_is_403(world, api, role):
    note = notifications.notification_create(user=world.parent, kind="k", title="t", email=False)
    response = api(world.user(role)).post(f"/api/notifications/{note.id}/read")
    assert response.status_code == 403
    note.refresh_from_db()
    assert note.read_at is None


@pytest.mark.parametrize("notification_id", [uuid.uuid4(), "nope", "1' OR '1'='1"])
def test_unknown_notification_is_404(world, api, notification_id):
    assert api(world.parent).post(f"/api/notifications/{notification_id}/read").status_code == 404


# --- live, through the real ASGI stack ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_tutors_open_socket_gets_the_allocation_live(world):
    """An admin allocates over REST; the tutor's live-room socket receives it, nobody else's."""

    async def signed_in(user) -> WebsocketCommunicator:
        comm = WebsocketCommunicator(application, "/ws/encounters/", headers=[(b"origin", b"http://127.0.0.1:8000")])
        assert (await comm.connect())[0]
        await comm.send_json_to({"type": "auth", "token": str(AccessToken.for_user(user))})
        assert (await comm.receive_json_from())["type"] == "ready"
        return comm

    tutor, parent = await signed_in(world.tutor), await signed_in(world.parent)
    body = {"studentId": str(world.child.id), "tutorId": str(world.tutor.id), "subjectId": str(world.physics.id)}

    response = await sync_to_async(
        lambda: client_for(world.admin).post("/api/admin/allocations", body, format="json")
    )()

    assert response.status_code == 201
    frame = await tutor.receive_json_from(timeout=5)
    assert frame["type"] == "notification"
    assert frame["notification"]["kind"] == "allocation_created"
    assert frame["notification"]["data"]["allocationId"] == response.json()["allocation"]["id"]
    assert await tutor.receive_nothing(timeout=0.3)  # once
    assert await parent.receive_nothing(timeout=0.3)
    await tutor.disconnect()
    await parent.disconnect()
