"""The live room, driven through the real ASGI stack (origin check, session middleware,
routing, consumer) with Channels' WebsocketCommunicator and the configured channel layer
(Redis under `make test`)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from k12.asgi import application
from k12.models import User
from sessions_app.chat.services import MAX_MESSAGE_LENGTH, message_create
from sessions_app.models import SessionMessage

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


class Communicator(WebsocketCommunicator):
    """Channels' communicator waits 1 s for a frame by default; on a loaded 2-core machine an
    expected frame can take longer. Waiting for what must come is cheap; asserting that
    nothing comes (receive_nothing) keeps its short timeouts."""

    async def receive_output(self, timeout=10):
        return await super().receive_output(timeout)

    async def receive_from(self, timeout=10):
        return await super().receive_from(timeout)

    async def receive_json_from(self, timeout=10):
        return await super().receive_json_from(timeout)


def token(user, lifetime: timedelta | None = None) -> str:
    access = AccessToken.for_user(user)
    if lifetime is not None:
        access.set_exp(lifetime=lifetime)
    return str(access)


async def open_socket(headers=None) -> WebsocketCommunicator:
    comm = Communicator(application, "/ws/encounters/", headers=headers or [ORIGIN])
    connected, _ = await comm.connect()
    assert connected
    return comm


async def authed(user) -> WebsocketCommunicator:
    comm = await open_socket()
    await comm.send_json_to({"type": "auth", "token": token(user)})
    ready = await comm.receive_json_from()
    assert ready["type"] == "ready" and ready["user"]["id"] == str(user.id)
    return comm


async def joined(user, booking, after=None) -> tuple[WebsocketCommunicator, dict]:
    comm = await authed(user)
    frame = {"type": "joinSession", "sessionId": str(booking.id)}
    if after:
        frame["after"] = after
    await comm.send_json_to(frame)
    reply = await comm.receive_json_from()
    assert reply["type"] == "joined", reply
    return comm, reply


async def refused_and_deaf(comm, world, text: str, timeout: float = 0.3) -> None:
    """Joining world.booking is refused (`forbidden`), and a message posted in it then does not
    reach the socket."""
    await comm.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id)})
    reply = await comm.receive_json_from()
    assert reply["type"] == "error" and reply["code"] == "forbidden"
    await sync_to_async(message_create)(booking=world.booking, sender=world.parent, text=text)
    assert await comm.receive_nothing(timeout=timeout)


async def expect_close(comm, code):
    output = await comm.receive_output()
    assert output == {"type": "websocket.close", "code": code}


async def test_auth_ok_sends_ready_with_the_user(world):
    comm = await authed(world.parent)
    await comm.disconnect()


@pytest.mark.parametrize("bad", ["garbage", "", None, 12, "a.b.c"])
async def test_bad_token_closes_4401(world, bad):
    comm = await open_socket()
    await comm.send_json_to({"type": "auth", "token": bad})
    await expect_close(comm, 4401)


async def test_refresh_token_is_not_accepted(world):
    comm = await open_socket()
    refresh = await sync_to_async(RefreshToken.for_user)(world.parent)
    await comm.send_json_to({"type": "auth", "token": str(refresh)})
    await expect_close(comm, 4401)


async def test_expired_token_closes_4401(world):
    comm = await open_socket()
    await comm.send_json_to({"type": "auth", "token": token(world.parent, timedelta(seconds=-1))})
    await expect_close(comm, 4401)


async def test_no_auth_in_time_closes_4401(world, settings):
    settings.WS_AUTH_TIMEOUT_SECONDS = 0.3
    comm = await open_socket()
    await expect_close(comm, 4401)


async def test_frames_before_auth_are_refused(world):
    comm = await open_socket()
    await comm.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id)})
    reply = await comm.receive_json_from()
    assert reply["type"] == "error" and reply["code"] == "unauthenticated"
    await comm.disconnect()


async def test_token_in_the_url_is_ignored(world):
    url = f"/ws/encounters/?token={token(world.parent)}"
    comm = Communicator(application, url, headers=[ORIGIN])
    # the route is /ws/encounters/ with no query auth: still unauthenticated
    connected, _ = await comm.connect()
    assert connected
    await comm.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id)})
    assert (await comm.receive_json_from())["code"] == "unauthenticated"
    await comm.disconnect()


async def test_foreign_origin_is_rejected(world):
    comm = Communicator(application, "/ws/encounters/", headers=[(b"origin", b"https://evil.example")])
    connected, _ = await comm.connect()
    assert not connected


async def test_session_cookie_authenticates(world):
    client = Client()
    await sync_to_async(client.force_login)(world.tutor)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    comm = await open_socket(headers=[ORIGIN, (b"cookie", cookie)])
    ready = await comm.receive_json_from()
    assert ready == {
        "type": "ready",
        "user": {
            "id": str(world.tutor.id),
            "email": world.tutor.email,
            "first_name": "Tom",
            "last_name": "",
            "role": "tutor",
        },
    }
    await comm.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id)})
    assert (await comm.receive_json_from())["type"] == "joined"
    await comm.disconnect()


@pytest.mark.parametrize("role", ["parent", "student_user", "tutor", "admin"])
async def test_participants_and_admin_join(world, role):
    comm, reply = await joined(getattr(world, role), world.booking)
    assert reply == {"type": "joined", "sessionId": str(world.booking.id), "missed": [], "hasMore": False}
    await comm.disconnect()


@pytest.mark.parametrize("role", ["other_parent", "other_student_user", "other_tutor"])
async def test_outsiders_are_forbidden(world, role):
    comm = await authed(getattr(world, role))
    await refused_and_deaf(comm, world, "private")  # and hear nothing of the room
    await comm.disconnect()


async def test_unknown_session_is_not_found(world):
    comm = await authed(world.parent)
    await comm.send_json_to({"type": "joinSession", "sessionId": str(uuid.uuid4())})
    assert (await comm.receive_json_from())["code"] == "not_found"
    await comm.disconnect()


async def test_join_returns_what_was_missed_after_a_cursor(world):
    created = []
    for i in range(5):
        created.append(
            (await sync_to_async(message_create)(booking=world.booking, sender=world.tutor, text=f"m{i}"))[0]
        )
    comm, reply = await joined(world.parent, world.booking, after=str(created[1].id))
    assert [m["text"] for m in reply["missed"]] == ["m2", "m3", "m4"]
    assert set(reply["missed"][0]) == {"id", "from", "user_id", "text", "created_at", "hidden"}
    await comm.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id), "after": "nope"})
    assert (await comm.receive_json_from())["code"] == "invalid"
    await comm.disconnect()


async def test_send_reaches_everyone_in_the_room_once_and_no_outsider(world):
    parent, _ = await joined(world.parent, world.booking)
    tutor, _ = await joined(world.tutor, world.booking)
    outsider, _ = await joined(world.other_parent, world.other_booking)
    await parent.send_json_to({"type": "sendMessage", "sessionId": str(world.booking.id), "text": " hello "})
    for comm in (parent, tutor):
        frame = await comm.receive_json_from()
        assert frame["type"] == "newMessage" and frame["sessionId"] == str(world.booking.id)
        assert frame["message"]["text"] == "hello" and frame["message"]["from"] == "Paula Parker"
        assert await comm.receive_nothing(timeout=0.2)
    assert await outsider.receive_nothing(timeout=0.3)
    assert await sync_to_async(SessionMessage.objects.filter(session=world.booking).count)() == 1
    for comm in (parent, tutor, outsider):
        await comm.disconnect()


@pytest.fixture(params=["pubsub", "lists"])
def each_redis_layer(request, settings):
    """Both channels-redis layers CHANNEL_LAYER can select, configured as k12/settings.py does."""
    backend = {
        "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "lists": "channels_redis.core.RedisChannelLayer",
    }[request.param]
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": backend,
            "CONFIG": {"hosts": [settings.REDIS_LAYER_HOST], "prefix": f"k12t{request.param}"},
        }
    }
    return request.param


async def test_rest_post_reaches_the_room(world, each_redis_layer):
    tutor, _ = await joined(world.tutor, world.booking)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token(world.parent)}")
    response = await sync_to_async(client.post)(
        f"/api/sessions/{world.booking.id}/messages", {"text": "from REST"}, format="json"
    )
    frame = await tutor.receive_json_from()
    assert frame["message"] == response.json()
    assert await tutor.receive_nothing(timeout=0.2)
    await tutor.disconnect()


async def test_a_quiet_room_keeps_its_sockets(world, each_redis_layer):
    """Nobody writes for longer than the channel layer's blocking read (5 s): the socket stays
    open and the next message still arrives. (redis-py 8 reads with a 5 s socket timeout by
    default, which broke every idle receive with "Timeout reading from ...": channels_redis#422.)"""
    tutor, _ = await joined(world.tutor, world.booking)
    assert await tutor.receive_nothing(timeout=6.5, interval=0.5)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token(world.parent)}")
    response = await sync_to_async(client.post)(
        f"/api/sessions/{world.booking.id}/messages", {"text": "still there?"}, format="json"
    )
    assert (await tutor.receive_json_from())["message"] == response.json()
    await tutor.disconnect()


async def test_send_retry_with_client_id_is_stored_once(world):
    parent, _ = await joined(world.parent, world.booking)
    tutor, _ = await joined(world.tutor, world.booking)
    key = str(uuid.uuid4())
    frame = {"type": "sendMessage", "sessionId": str(world.booking.id), "text": "once", "clientId": key}
    await parent.send_json_to(frame)
    first = await parent.receive_json_from()
    assert (await tutor.receive_json_from())["message"]["id"] == first["message"]["id"]
    await parent.send_json_to(frame)
    again = await parent.receive_json_from()
    assert again["message"] == first["message"]
    assert await tutor.receive_nothing(timeout=0.3)
    assert await sync_to_async(SessionMessage.objects.count)() == 1
    await parent.disconnect()
    await tutor.disconnect()


async def test_send_needs_access_and_valid_text(world):
    outsider = await authed(world.other_parent)
    await outsider.send_json_to({"type": "sendMessage", "sessionId": str(world.booking.id), "text": "x"})
    assert (await outsider.receive_json_from())["code"] == "forbidden"
    parent = await authed(world.parent)
    for text in ("", "   ", None, 5, "x" * (MAX_MESSAGE_LENGTH + 1)):
        await parent.send_json_to({"type": "sendMessage", "sessionId": str(world.booking.id), "text": text})
        reply = await parent.receive_json_from()
        assert reply["code"] == "invalid" and "text" in reply["errors"], reply
    await parent.send_json_to(
        {"type": "sendMessage", "sessionId": str(world.booking.id), "text": "x", "clientId": "nope"}
    )
    assert "clientId" in (await parent.receive_json_from())["errors"]
    assert await sync_to_async(SessionMessage.objects.count)() == 0
    await outsider.disconnect()
    await parent.disconnect()


async def test_typing_is_relayed_to_others_throttled_and_not_stored(world):
    parent, _ = await joined(world.parent, world.booking)
    tutor, _ = await joined(world.tutor, world.booking)
    for _ in range(3):
        await parent.send_json_to({"type": "typing", "sessionId": str(world.booking.id)})
    frame = await tutor.receive_json_from()
    assert frame == {
        "type": "typing",
        "sessionId": str(world.booking.id),
        "user": {"id": str(world.parent.id), "name": "Paula Parker"},
    }
    assert await tutor.receive_nothing(timeout=0.3)  # the other two were throttled
    assert await parent.receive_nothing(timeout=0.1)  # never echoed to the typist
    assert await sync_to_async(SessionMessage.objects.count)() == 0
    await parent.disconnect()
    await tutor.disconnect()


BAD_FRAMES = [
    ("not json", "{nope"),
    ("array", "[1, 2]"),
    ("string", '"hello"'),
    ("no type", '{"sessionId": "x"}'),
    ("numeric type", '{"type": 3}'),
    ("unknown type", '{"type": "deleteEverything"}'),
    ("missing session", '{"type": "joinSession"}'),
    ("numeric session", '{"type": "joinSession", "sessionId": 5}'),
    ("malformed session", '{"type": "joinSession", "sessionId": "../../etc"}'),
    ("typing elsewhere", '{"type": "typing", "sessionId": "00000000-0000-4000-8000-000000000000"}'),
    ("oversized", json.dumps({"type": "sendMessage", "text": "x" * 20000})),
]


@pytest.mark.parametrize(("name", "raw"), BAD_FRAMES, ids=[n for n, _ in BAD_FRAMES])
async def test_bad_frames_get_invalid_and_the_socket_stays_open(world, name, raw):
    comm = await authed(world.parent)
    await comm.send_to(text_data=raw)
    reply = await comm.receive_json_from()
    assert reply["type"] == "error" and reply["code"] == "invalid", reply
    await comm.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id)})
    assert (await comm.receive_json_from())["type"] == "joined"
    await comm.disconnect()


async def test_binary_frames_are_invalid(world):
    comm = await authed(world.parent)
    await comm.send_to(bytes_data=b"\x00\x01")
    assert (await comm.receive_json_from())["code"] == "invalid"
    await comm.disconnect()


async def test_flooding_is_rate_limited_then_closed(world, settings):
    settings.WS_RATE_PER_SECOND = 1
    settings.WS_RATE_BURST = 5
    settings.WS_FLOOD_STRIKES = 10
    parent, _ = await joined(world.parent, world.booking)  # auth + join use 2 of the 5
    tutor, _ = await joined(world.tutor, world.booking)
    for i in range(20):
        await parent.send_to(
            text_data=json.dumps({"type": "sendMessage", "sessionId": str(world.booking.id), "text": f"{i}"})
        )
    codes = []
    while True:
        output = await parent.receive_output(timeout=10)
        if output["type"] == "websocket.close":
            assert output["code"] == 4429
            break
        frame = json.loads(output["text"])
        codes.append(frame.get("code") or frame["type"])
    assert codes.count("rate_limited") >= 10
    stored = await sync_to_async(SessionMessage.objects.count)()
    assert stored <= 4  # what the burst allowed; the rest was neither stored nor broadcast
    received = 0
    while not await tutor.receive_nothing(timeout=0.3):
        assert (await tutor.receive_json_from())["type"] == "newMessage"
        received += 1
    assert received == stored
    await tutor.disconnect()


async def test_deactivated_user_is_closed(world):
    tutor, _ = await joined(world.tutor, world.booking)
    await sync_to_async(User.objects.filter(pk=world.tutor.pk).update)(is_active=False)
    await tutor.send_input({"type": "websocket.receive", "text": json.dumps({"type": "typing"})})
    # the server is told access changed (the admin does this on deactivation)
    from channels.layers import get_channel_layer

    from k12.notifications import user_group

    event = {"type": "access.changed", "userId": str(world.tutor.id)}
    await get_channel_layer().group_send(user_group(world.tutor.id), event)
    while True:
        output = await tutor.receive_output(timeout=10)
        if output["type"] == "websocket.close":
            assert output["code"] == 4403
            break


async def test_lost_access_stops_delivery(world, settings):
    settings.WS_ACCESS_RECHECK_SECONDS = 0.2
    student, _ = await joined(world.student_user, world.booking)
    # the child's login is unlinked: the student is no longer a participant
    from k12.models import Student

    await sync_to_async(Student.objects.filter(pk=world.child.pk).update)(user=None)
    reply = await student.receive_json_from(timeout=10)
    assert reply["type"] == "error" and reply["code"] == "forbidden"
    await sync_to_async(message_create)(booking=world.booking, sender=world.parent, text="not for you")
    assert await student.receive_nothing(timeout=0.4)
    await student.disconnect()


async def test_socket_closes_when_its_token_expires_unless_refreshed(world):
    # JWT expiry has one-second resolution and this machine can be slow: a token of N seconds
    # is valid for at least N-1 of them.
    comm = await open_socket()
    await comm.send_json_to({"type": "auth", "token": token(world.parent, timedelta(seconds=2))})
    assert (await comm.receive_json_from(timeout=3))["type"] == "ready"
    await comm.send_json_to({"type": "auth", "token": token(world.parent, timedelta(seconds=5))})
    assert (await comm.receive_json_from(timeout=3))["type"] == "ready"
    await asyncio.sleep(2.2)  # past the first token's expiry: still open
    assert await comm.receive_nothing(timeout=0.1)
    output = await comm.receive_output(timeout=6)
    assert output == {"type": "websocket.close", "code": 4401}


async def test_notification_reaches_only_its_user(world):
    parent = await authed(world.parent)
    other = await authed(world.other_parent)
    from k12.notifications import notification_create

    def create():
        from django.db import transaction

        with transaction.atomic():
            notification_create(user=world.parent, kind="test", title="Hello", email=False)

    await sync_to_async(create)()
    frame = await parent.receive_json_from()
    assert frame["type"] == "notification" and frame["notification"]["title"] == "Hello"
    assert await other.receive_nothing(timeout=0.3)
    await parent.disconnect()
    await other.disconnect()


async def test_a_lost_or_overtaken_broadcast_leaves_no_gap_and_no_duplicate(world):
    """A broadcast lost on the way (Redis blinked) or overtaken by a later one (two server
    processes): the socket still gets every message once, in session order."""
    from unittest import mock

    from sessions_app.chat.services import broadcast_message

    parent, _ = await joined(world.parent, world.booking)
    with mock.patch("sessions_app.chat.services.realtime.group_send"):  # this broadcast is lost
        lost = (await sync_to_async(message_create)(booking=world.booking, sender=world.tutor, text="lost"))[0]
    assert await parent.receive_nothing(timeout=0.3)
    await sync_to_async(message_create)(booking=world.booking, sender=world.tutor, text="next")
    first = await parent.receive_json_from()
    second = await parent.receive_json_from()
    assert [first["message"]["text"], second["message"]["text"]] == ["lost", "next"]
    # the lost broadcast turning up late is not delivered twice
    await sync_to_async(broadcast_message)(lost)
    assert await parent.receive_nothing(timeout=0.3)
    await parent.disconnect()


async def test_a_gap_fill_that_fails_is_tried_again(world):
    """The database blinks while a gap is filled (the room hub's read fails, then the socket's
    own first try): the held messages are not dropped."""
    from unittest import mock

    from sessions_app.chat import hub, live

    parent, _ = await joined(world.parent, world.booking)
    with mock.patch("sessions_app.chat.services.realtime.group_send"):
        await sync_to_async(message_create)(booking=world.booking, sender=world.tutor, text="lost")
    real_gap, calls = live._gap, []

    async def flaky_gap(*args):
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("database blinked")
        return await real_gap(*args)

    down = mock.AsyncMock(side_effect=RuntimeError("database is down"))
    with mock.patch.object(hub, "_gap_items", down), mock.patch.object(live, "_gap", flaky_gap):
        await sync_to_async(message_create)(booking=world.booking, sender=world.tutor, text="next")
        texts = [(await parent.receive_json_from())["message"]["text"] for _ in range(2)]
    assert texts == ["lost", "next"] and len(calls) == 2
    await parent.disconnect()


async def test_a_socket_whose_join_crashes_leaves_the_room_hub(world):
    """A join that fails with an unexpected error ends the consumer; the process's room hub
    keeps no dead socket (nor the events it would hold for it)."""
    from unittest import mock

    from channels.layers import get_channel_layer

    from sessions_app.chat import live
    from sessions_app.chat.hub import hub_for

    tutor, _ = await joined(world.tutor, world.booking)
    crashing = await authed(world.parent)
    with mock.patch.object(live, "_join", side_effect=RuntimeError("database is down")):
        await crashing.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id)})
        with pytest.raises(RuntimeError):
            await crashing.wait(timeout=10)
    hub = hub_for(get_channel_layer())
    assert hub.members(str(world.booking.id)) == 1  # the tutor only
    await tutor.disconnect()
    assert hub.members(str(world.booking.id)) == 0 and hub.listener is None


async def test_a_refused_rejoin_leaves_the_room(world):
    """Joining again after access ended: `forbidden`, and the socket stops getting the room's
    messages at once (not at the next periodic re-check)."""
    from k12.models import Student

    student, _ = await joined(world.student_user, world.booking)
    await sync_to_async(Student.objects.filter(pk=world.child.pk).update)(user=None)
    await refused_and_deaf(student, world, "not for you", timeout=0.4)
    await student.disconnect()


async def test_a_long_gap_is_read_once_per_room_and_sent_as_one_batch(world):
    """Broadcasts lost while Redis was away: at the next message the process reads the gap once
    for all its sockets in the room; a long gap reaches each socket as one `joined` frame with
    the missed messages (a short one as `newMessage` frames), then the live message: each once,
    in order."""
    from unittest import mock

    from sessions_app.chat import hub, live

    parent, _ = await joined(world.parent, world.booking)
    tutor, _ = await joined(world.tutor, world.booking)
    with mock.patch("sessions_app.chat.services.realtime.group_send"):  # these broadcasts are lost
        for i in range(6):
            await sync_to_async(message_create)(booking=world.booking, sender=world.parent, text=f"lost{i}")
    hub_reads, socket_reads = [], []
    real_items, real_gap = hub._gap_items, live._gap

    async def count_hub(*args):
        hub_reads.append(args)
        return await real_items(*args)

    async def count_socket(*args):
        socket_reads.append(args)
        return await real_gap(*args)

    with mock.patch.object(hub, "_gap_items", count_hub), mock.patch.object(live, "_gap", count_socket):
        await sync_to_async(message_create)(booking=world.booking, sender=world.parent, text="live")
        for comm in (parent, tutor):
            batch = await comm.receive_json_from()
            assert batch["type"] == "joined" and batch["hasMore"] is False
            assert [m["text"] for m in batch["missed"]] == [f"lost{i}" for i in range(6)]
            frame = await comm.receive_json_from()
            assert frame["type"] == "newMessage" and frame["message"]["text"] == "live"
            assert await comm.receive_nothing(timeout=0.2)
    assert len(hub_reads) == 1 and socket_reads == []
    await parent.disconnect()
    await tutor.disconnect()


async def test_staff_get_the_text_of_a_hidden_message_in_a_gap_fill(world):
    from unittest import mock

    from sessions_app.models import SessionMessage

    admin, _ = await joined(world.admin, world.booking)
    parent, _ = await joined(world.parent, world.booking)
    with mock.patch("sessions_app.chat.services.realtime.group_send"):
        lost = (await sync_to_async(message_create)(booking=world.booking, sender=world.tutor, text="rude"))[0]
    await sync_to_async(SessionMessage.objects.filter(pk=lost.pk).update)(hidden_at=lost.created_at)
    await sync_to_async(message_create)(booking=world.booking, sender=world.tutor, text="next")
    seen = {}
    for name, comm in (("admin", admin), ("parent", parent)):
        first = (await comm.receive_json_from())["message"]
        second = (await comm.receive_json_from())["message"]
        seen[name] = [(first["text"], first["hidden"]), (second["text"], second["hidden"])]
    assert seen["admin"] == [("rude", True), ("next", False)]
    assert seen["parent"] == [("", True), ("next", False)]
    await admin.disconnect()
    await parent.disconnect()
