"""At most WS_MAX_SOCKETS_PER_USER sockets per user, counted in Redis across processes, with
leases that a crashed process stops renewing."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from django.conf import settings as django_settings

from sessions_app.chat import socket_cap
from sessions_app.chat.socket_cap import CLOSE_TOO_MANY_SOCKETS, socket_acquire, socket_release, sockets_held
from tests.sessions_app.test_consumer import authed, expect_close, open_socket, token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def needs_redis():
    if not django_settings.REDIS_URL:
        pytest.fail("the socket cap is counted in Redis: run with REDIS_URL set (make test does)")


async def forget(user):
    """Start from no leases (a previous test's sockets may still be expiring)."""
    client = aioredis.Redis.from_url(django_settings.REDIS_URL)
    await client.delete(socket_cap._key(user.id))
    await client.aclose()


async def test_one_socket_over_the_cap_is_closed_4409(world, settings):
    settings.WS_MAX_SOCKETS_PER_USER = 3
    await forget(world.parent)
    sockets = [await authed(world.parent) for _ in range(3)]

    extra = await open_socket()
    await extra.send_json_to({"type": "auth", "token": token(world.parent)})
    await expect_close(extra, CLOSE_TOO_MANY_SOCKETS)

    # another user is not affected
    other = await authed(world.tutor)
    # a socket that goes away gives its place back
    await sockets.pop().disconnect()
    assert await sockets_held(world.parent.id) == 2
    sockets.append(await authed(world.parent))
    for comm in [*sockets, other]:
        await comm.disconnect()
    assert await sockets_held(world.parent.id) == 0


async def test_the_cap_counts_sockets_held_by_other_processes(world, settings):
    settings.WS_MAX_SOCKETS_PER_USER = 3
    await forget(world.parent)
    # two sockets held elsewhere (another daphne, or the socket.io endpoint)
    assert await socket_acquire(world.parent.id, "elsewhere-1")
    assert await socket_acquire(world.parent.id, "elsewhere-2")
    here = await authed(world.parent)
    extra = await open_socket()
    await extra.send_json_to({"type": "auth", "token": token(world.parent)})
    await expect_close(extra, CLOSE_TOO_MANY_SOCKETS)
    await socket_release(world.parent.id, "elsewhere-1")
    again = await authed(world.parent)
    for comm in (here, again):
        await comm.disconnect()
    await socket_release(world.parent.id, "elsewhere-2")


async def test_a_crashed_process_sockets_stop_counting_when_their_leases_run_out(world, settings):
    settings.WS_MAX_SOCKETS_PER_USER = 2
    settings.WS_SOCKET_LEASE_SECONDS = 1
    await forget(world.parent)
    # A process that died holding two sockets: their leases are in Redis, nobody renews them.
    client = aioredis.Redis.from_url(django_settings.REDIS_URL)
    script = client.register_script(socket_cap._LEASE_SCRIPT)
    for dead in ("dead-1", "dead-2"):
        assert await script(keys=[socket_cap._key(world.parent.id)], args=[dead, 2, 1000])
    await client.aclose()

    refused = await open_socket()
    await refused.send_json_to({"type": "auth", "token": token(world.parent)})
    await expect_close(refused, CLOSE_TOO_MANY_SOCKETS)

    await asyncio.sleep(1.2)
    live = [await authed(world.parent), await authed(world.parent)]
    # live sockets' leases are renewed: after more than a lease they still count
    await asyncio.sleep(1.5)
    assert await sockets_held(world.parent.id) == 2
    for comm in live:
        await comm.disconnect()


async def test_a_socket_whose_consumer_crashed_gives_its_place_back(world, settings, monkeypatch):
    settings.WS_MAX_SOCKETS_PER_USER = 1
    await forget(world.parent)
    from sessions_app.chat.consumers import SessionChatConsumer

    async def boom(self, frame):
        raise RuntimeError("handler bug")

    monkeypatch.setattr(SessionChatConsumer, "on_typing", boom)
    comm = await authed(world.parent)
    await comm.send_json_to({"type": "typing", "sessionId": str(world.booking.id)})
    with pytest.raises(RuntimeError):
        await comm.receive_output()
    assert await sockets_held(world.parent.id) == 0
    fresh = await authed(world.parent)
    await fresh.disconnect()


async def test_sockets_arriving_together_are_all_counted(world, settings):
    """More sockets ask for a place at once than the process keeps Redis connections (a server
    process's sockets reconnecting together): each waits for a connection, and the cap holds
    exactly, none let in uncounted."""
    settings.WS_MAX_SOCKETS_PER_USER = 150
    await forget(world.parent)
    admitted = await asyncio.gather(*(socket_acquire(world.parent.id, f"together-{i}") for i in range(200)))
    assert sum(admitted) == 150
    assert await sockets_held(world.parent.id) == 150
    await asyncio.gather(*(socket_release(world.parent.id, f"together-{i}") for i in range(200)))
    assert await sockets_held(world.parent.id) == 0


async def test_sockets_arriving_together_take_one_round_trip_for_their_places(world, settings, round_trips):
    """A server process's sockets reconnecting together: their places are asked for in one
    pipeline, not one round trip (and one pooled connection) each."""
    settings.WS_MAX_SOCKETS_PER_USER = 150
    await forget(world.parent)
    assert await socket_acquire(world.parent.id, "first")  # (loads the script)
    round_trips.clear()
    admitted = await asyncio.gather(*(socket_acquire(world.parent.id, f"together-{i}") for i in range(20)))
    assert all(admitted)
    assert round_trips == [["EVALSHA"] * 20]
    assert await sockets_held(world.parent.id) == 21
    await asyncio.gather(*(socket_release(world.parent.id, f"together-{i}") for i in range(20)))
    await socket_release(world.parent.id, "first")


async def test_a_place_asked_for_after_redis_forgot_the_script_is_still_counted(world, settings):
    settings.WS_MAX_SOCKETS_PER_USER = 1
    await forget(world.parent)
    assert await socket_acquire(world.parent.id, "before")
    await socket_release(world.parent.id, "before")
    client = aioredis.Redis.from_url(django_settings.REDIS_URL)
    await client.script_flush()  # (a Redis restarted empty)
    await client.aclose()
    assert await asyncio.gather(socket_acquire(world.parent.id, "a"), socket_acquire(world.parent.id, "b")) == [
        True,
        False,
    ]
    assert await sockets_held(world.parent.id) == 1
    await socket_release(world.parent.id, "a")
