"""A live socket's trips to the database and to the channel layer. A trip that reads nothing
still waits for a thread and for the interpreter lock, and a thousand sockets reconnect together
when a server process goes, so in that storm every trip counts, and none may wait behind
another socket's."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.test import Client

from k12.asgi import application
from sessions_app.chat.services import message_create
from tests.sessions_app.test_consumer import ORIGIN, Communicator, token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def trips(monkeypatch, settings):
    """The names of the functions run on a thread from now on (the periodic access re-check is
    kept out of the way)."""
    settings.WS_ACCESS_RECHECK_SECONDS = 3600
    names: list[str] = []
    original = SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        names.append(getattr(self.func, "__name__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    return names


async def test_a_rejoin_goes_to_the_database_for_the_token_and_the_join_only(world, trips):
    first = (await sync_to_async(message_create)(booking=world.booking, sender=world.tutor, text="seen"))[0]
    await sync_to_async(message_create)(booking=world.booking, sender=world.tutor, text="missed")
    trips.clear()
    comm = Communicator(application, "/ws/encounters/", headers=[ORIGIN])
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "auth", "token": token(world.parent)})
    assert (await comm.receive_json_from())["type"] == "ready"
    await comm.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id), "after": str(first.id)})
    reply = await comm.receive_json_from()
    assert [m["text"] for m in reply["missed"]] == ["missed"]
    await comm.send_json_to({"type": "typing", "sessionId": str(world.booking.id)})
    assert await comm.receive_nothing(timeout=0.2)
    assert trips == ["_user_from_token", "join_read"]
    await comm.disconnect()


async def test_a_browser_session_is_read_on_connect(world, trips):
    client = Client()
    await sync_to_async(client.force_login)(world.parent)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    trips.clear()
    comm = Communicator(application, "/ws/encounters/", headers=[ORIGIN, (b"cookie", cookie)])
    assert (await comm.connect())[0]
    ready = await comm.receive_json_from()
    assert ready["type"] == "ready" and ready["user"]["id"] == str(world.parent.id)
    assert trips == ["get_user"]
    await comm.disconnect()


async def test_a_join_into_a_room_the_process_is_in_asks_the_channel_layer_nothing(world, trips):
    """The process is in a room's group from its first socket's join: the next sockets of the
    room join without a trip to the channel layer (a thousand rejoin together when another
    server process goes)."""
    from unittest import mock

    from channels.layers import get_channel_layer

    from sessions_app.chat.services import session_group
    from tests.sessions_app.test_consumer import authed, joined

    tutor, _ = await joined(world.tutor, world.booking)
    parent = await authed(world.parent)
    layer = get_channel_layer()
    added: list[str] = []
    real_add = layer.group_add

    async def group_add(group, channel):
        added.append(group)
        return await real_add(group, channel)

    with mock.patch.object(layer, "group_add", group_add):
        await parent.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id)})
        assert (await parent.receive_json_from())["type"] == "joined"
    assert session_group(str(world.booking.id)) not in added
    await sync_to_async(message_create)(booking=world.booking, sender=world.tutor, text="both")
    for comm in (tutor, parent):
        assert (await comm.receive_json_from())["message"]["text"] == "both"
    await tutor.disconnect()
    await parent.disconnect()


async def test_a_socket_is_served_while_the_channel_layer_is_slow_to_take_the_users_events(world, trips):
    """The process joins the user's group (notifications and access changes) beside the user's
    first socket, not before serving it: the socket is accepted, authenticated, joined and given
    the room's messages while the layer has not answered yet, and gets the user's events once
    it has."""
    from unittest import mock

    from channels.layers import get_channel_layer

    from k12.notifications import user_group
    from tests.sessions_app.test_consumer import Communicator, joined

    tutor, _ = await joined(world.tutor, world.booking)  # the process holds the room's group
    layer = get_channel_layer()
    real_add = layer.group_add
    answer = asyncio.Event()

    async def slow_add(group, channel):
        if group == user_group(world.parent.id):
            await answer.wait()
        return await real_add(group, channel)

    with mock.patch.object(layer, "group_add", slow_add):
        comm = Communicator(application, "/ws/encounters/", headers=[ORIGIN])
        assert (await comm.connect())[0]
        await comm.send_json_to({"type": "auth", "token": token(world.parent)})
        assert (await comm.receive_json_from())["type"] == "ready"
        await comm.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id)})
        assert (await comm.receive_json_from())["type"] == "joined"
        await sync_to_async(message_create)(booking=world.booking, sender=world.tutor, text="served")
        assert (await comm.receive_json_from())["message"]["text"] == "served"
        answer.set()
        frame = await notified(comm, world.parent, "Hello")
        assert frame["type"] == "notification" and frame["notification"]["title"] == "Hello"
    await comm.disconnect()
    await tutor.disconnect()


async def notified(comm, user, title: str) -> dict:
    """Notify ``user`` until ``comm`` gets it (the process joins the user's group beside the
    user's first socket, shortly after it is ready); the frame."""
    from django.db import transaction

    from k12.notifications import notification_create

    def notify():
        with transaction.atomic():
            notification_create(user=user, kind="test", title=title, email=False)

    for _ in range(50):
        await sync_to_async(notify)()
        if not await comm.receive_nothing(timeout=0.2):
            break
    return await comm.receive_json_from()


async def test_the_sockets_of_a_user_share_the_process_subscription_to_the_users_events(world, trips):
    """A process is in a user's group once, from the user's first socket to the last: the
    user's other sockets (a thousand users reconnect together when another server process goes)
    ask the channel layer nothing, and each of them gets the user's events."""
    from unittest import mock

    from channels.layers import get_channel_layer

    from k12.notifications import user_group
    from tests.sessions_app.test_consumer import authed

    first = await authed(world.parent)
    assert (await notified(first, world.parent, "first"))["notification"]["title"] == "first"
    layer = get_channel_layer()
    asked: list[str] = []
    originals = {name: getattr(layer, name) for name in ("new_channel", "group_add", "group_discard")}

    def spy(name):
        async def call(*args, **kwargs):
            asked.append(f"{name} {args[0] if args and name != 'new_channel' else ''}".strip())
            return await originals[name](*args, **kwargs)

        return call

    with mock.patch.multiple(layer, **{name: spy(name) for name in originals}):
        second = await authed(world.parent)
        frame = await notified(second, world.parent, "both")
        assert (await first.receive_json_from())["notification"]["title"] == "both"
        assert frame["notification"]["title"] == "both"
        assert asked == []
        await first.disconnect()
        assert asked == []
        await second.disconnect()
        assert asked == [f"group_discard {user_group(world.parent.id)}"]


async def test_sockets_wait_on_the_database_side_by_side(world):
    """The live room's database work runs on the server's thread pool, not on one thread for
    the whole process: a join whose read is slow does not hold up another socket's join."""
    import threading
    from unittest import mock

    from sessions_app.chat import selectors
    from tests.sessions_app.test_consumer import authed

    slow, fast = await authed(world.parent), await authed(world.tutor)
    release, first = threading.Event(), threading.Event()
    real_read = selectors.room_join_read

    def read(*args, **kwargs):
        if not first.is_set():
            first.set()
            release.wait(timeout=30)
        return real_read(*args, **kwargs)

    try:
        with mock.patch.object(selectors, "room_join_read", read):
            await slow.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id)})
            await asyncio.to_thread(first.wait, 30)  # the slow join is in its read
            await fast.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id)})
            assert (await fast.receive_json_from())["type"] == "joined"
            assert await slow.receive_nothing(timeout=0.1)
            release.set()
            assert (await slow.receive_json_from())["type"] == "joined"
    finally:
        release.set()
    await slow.disconnect()
    await fast.disconnect()
