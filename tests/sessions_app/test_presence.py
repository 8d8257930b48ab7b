"""Presence: who has a socket in a session's room, as every process sees it. The /ws/ consumer
reports joins, leaves and disconnects; a process that dies without reporting drops out when its
entries expire."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis
import time_machine
from django.conf import settings

from sessions_app.chat import presence
from tests.sessions_app.test_consumer import joined

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_consumer_reports_join_leave_and_disconnect(world):
    session_id = str(world.booking.id)
    assert presence.users_present(session_id) == set()
    parent, _ = await joined(world.parent, world.booking)
    tutor, _ = await joined(world.tutor, world.booking)
    assert presence.users_present(session_id) == {str(world.parent.id), str(world.tutor.id)}

    await tutor.send_json_to({"type": "leaveSession", "sessionId": session_id})
    assert (await tutor.receive_json_from())["type"] == "left"
    assert presence.users_present(session_id) == {str(world.parent.id)}

    await parent.disconnect()
    await tutor.disconnect()
    assert presence.users_present(session_id) == set()


def test_two_sockets_of_one_user_count_until_both_are_gone():
    session_id, user = str(uuid.uuid4()), str(uuid.uuid4())
    presence.joined(session_id, user, "a")
    presence.joined(session_id, user, "b")
    presence.left(session_id, user, "a")
    assert presence.users_present(session_id) == {user}
    presence.left(session_id, user, "b")
    assert presence.users_present(session_id) == set()


def test_another_process_sees_the_room_and_a_dead_process_drops_out():
    if not settings.REDIS_URL:
        pytest.fail("cross-process presence lives in Redis: run with REDIS_URL set (make test does)")
    session_id, user = str(uuid.uuid4()), str(uuid.uuid4())
    # what another server process wrote: its entry, refreshed until it died
    client = redis.Redis.from_url(settings.REDIS_URL)
    key = f"{settings.CHANNEL_LAYER_PREFIX}:presence:{session_id}"
    client.zadd(key, {f"{user}/elsewhere": time.time() + settings.PRESENCE_TTL_SECONDS})
    assert presence.users_present(session_id) == {user}
    with time_machine.travel(time.time() + settings.PRESENCE_TTL_SECONDS + 1, tick=False):
        assert presence.users_present(session_id) == set()
    client.delete(key)


async def test_sockets_joining_together_are_all_recorded():
    """More sockets join at once than the process keeps Redis connections: each waits for a
    connection, and every one is in the room."""
    from asgiref.sync import sync_to_async

    session_id = str(uuid.uuid4())
    users = [str(uuid.uuid4()) for _ in range(200)]
    await asyncio.gather(*(presence.ajoined(session_id, user, f"s-{user}") for user in users))
    assert await sync_to_async(presence.users_present)(session_id) == set(users)
    await asyncio.gather(*(presence.aleft(session_id, user, f"s-{user}") for user in users))


async def test_sockets_joining_together_are_recorded_in_one_round_trip(round_trips):
    """A server process's sockets rejoining together: one pipeline for all their entries."""
    session_id = str(uuid.uuid4())
    users = [str(uuid.uuid4()) for _ in range(3)]
    await presence.ajoined(session_id, "first", "s-first")  # (opens the connection)
    round_trips.clear()
    await asyncio.gather(*(presence.ajoined(session_id, user, f"s-{user}") for user in users))
    assert round_trips == [["ZADD", "ZREMRANGEBYSCORE", "EXPIRE"] * 3]
    await asyncio.gather(*(presence.aleft(session_id, user, f"s-{user}") for user in [*users, "first"]))
