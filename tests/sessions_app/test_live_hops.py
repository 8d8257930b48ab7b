"""A live socket's trips to the database thread. Every daphne process runs its database work on
one thread (Channels' ``database_sync_to_async``); a trip that reads nothing still waits in that
thread's queue and for the interpreter lock, so in a reconnect storm every trip counts."""

from __future__ import annotations

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
