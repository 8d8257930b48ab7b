"""The live room under hostile frames and a Redis outage: a frame nested too deeply is an
`invalid` error on an open socket; without Redis a socket still connects, authenticates and
joins, and `sendMessage` is answered as soon as the message is stored."""

from __future__ import annotations

import socket
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings

from sessions_app.chat.services import message_create
from sessions_app.models import SessionMessage
from tests.sessions_app.test_consumer import authed

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_deeply_nested_frame_is_invalid_and_the_socket_stays_open(world):
    comm = await authed(world.parent)
    await comm.send_to(text_data="[" * 10_000)
    reply = await comm.receive_json_from()
    assert reply == {"type": "error", "code": "invalid", "message": "Frame is nested too deeply."}
    await comm.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id)})
    assert (await comm.receive_json_from())["type"] == "joined"
    await comm.disconnect()


@pytest.fixture
def redis_down(settings):
    """Redis unreachable (a port nothing listens on) for the channel layer, the socket cap, the
    cache and presence, as in an outage."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    settings.REDIS_URL = dead
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{**django_settings.REDIS_LAYER_HOST, "address": dead}], "prefix": "k12-down"},
        }
    }
    return dead


async def test_without_redis_a_socket_connects_joins_and_gets_its_message_acknowledged(world, redis_down):
    # given a message stored before, and Redis down
    await sync_to_async(message_create)(booking=world.booking, sender=world.tutor, text="before the outage")
    # when a socket connects, authenticates and joins
    comm = await authed(world.parent)
    await comm.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id)})
    joined = await comm.receive_json_from()
    assert joined["type"] == "joined"
    assert [m["text"] for m in joined["missed"]] == ["before the outage"]
    # and sends a message: it is stored, and the sender hears back at once
    await comm.send_json_to(
        {"type": "sendMessage", "sessionId": str(world.booking.id), "text": "during", "clientId": str(uuid.uuid4())}
    )
    echo = await comm.receive_json_from(timeout=3)
    assert echo["type"] == "newMessage" and echo["message"]["text"] == "during"
    assert await sync_to_async(SessionMessage.objects.filter(text="during").count)() == 1
    await comm.disconnect()


async def test_without_redis_a_sender_outside_the_room_is_acknowledged_too(world, redis_down):
    comm = await authed(world.tutor)
    await comm.send_json_to({"type": "sendMessage", "sessionId": str(world.booking.id), "text": "from outside"})
    echo = await comm.receive_json_from(timeout=3)
    assert echo == {"type": "newMessage", "sessionId": str(world.booking.id), "message": echo["message"]}
    assert echo["message"]["text"] == "from outside"
    await comm.disconnect()


async def test_the_sender_gets_its_message_once_when_the_broadcast_works(world):
    comm = await authed(world.parent)
    await comm.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id)})
    assert (await comm.receive_json_from())["type"] == "joined"
    await comm.send_json_to({"type": "sendMessage", "sessionId": str(world.booking.id), "text": "once"})
    echo = await comm.receive_json_from()
    assert echo["type"] == "newMessage" and echo["message"]["text"] == "once"
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()
