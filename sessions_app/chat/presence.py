"""Who has a socket open in a session's live room, across all server processes.

Every live protocol calls the same three functions for each socket::

    await presence.ajoined(session_id, user_id, socket_id)   # the socket is in the room
    await presence.aleft(session_id, user_id, socket_id)     # left, lost access, or disconnected
    presence.users_present(session_id)                       # -> {user_id, ...}, from any process

(``joined``/``left`` are the same calls for synchronous code; the ``a`` ones talk to Redis
without a thread, so a join waits on nothing but its own round trip.) ``socket_id`` is anything
unique to the socket within its process (a channel name, a socket.io sid).

With Redis (``REDIS_URL``) a room is one sorted set, ``<prefix>:presence:<session>``, whose
members are ``<user>/<socket>`` scored by the time they stop counting. Each process keeps its own
sockets' entries fresh from one background thread, so the sockets of a process that died
without saying goodbye drop out within ``PRESENCE_TTL_SECONDS``. Without Redis (the embedded
default, one server process) the rooms are a dictionary in this process.

Presence is advisory: it decides whether a participant needs a missed-message email. If Redis
cannot be reached ``users_present`` answers None ("unknown"), and callers treat everyone as
away, which at worst sends an email too many.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import weakref

import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from sessions_app.chat.redis_batch import Batcher

logger = logging.getLogger(__name__)

__all__ = ["aleft", "ajoined", "joined", "left", "users_present"]


def _ttl() -> float:
    return float(settings.PRESENCE_TTL_SECONDS)


class _LocalRooms:
    """This process's sockets: the whole truth without Redis, what to refresh with it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rooms: dict[str, set[str]] = {}

    def add(self, session_id: str, member: str) -> None:
        with self.lock:
            self.rooms.setdefault(session_id, set()).add(member)

    def discard(self, session_id: str, member: str) -> None:
        with self.lock:
            members = self.rooms.get(session_id)
            if members is not None:
                members.discard(member)
                if not members:
                    del self.rooms[session_id]

    def users(self, session_id: str) -> set[str]:
        with self.lock:
            return {member.split("/", 1)[0] for member in self.rooms.get(session_id, ())}

    def snapshot(self) -> dict[str, list[str]]:
        with self.lock:
            return {session_id: list(members) for session_id, members in self.rooms.items()}


def _key(prefix: str, session_id: str) -> str:
    return f"{prefix}:presence:{session_id}"


def _queue_add(pipe, key: str, members: list[str], now: float) -> None:
    """The members count until now + TTL; entries whose time is up go (pipelined, either client)."""
    ttl = _ttl()
    pipe.zadd(key, {member: now + ttl for member in members})
    pipe.zremrangebyscore(key, "-inf", now)
    pipe.expire(key, int(ttl) + 1)


_CLIENT_OPTIONS = {"socket_timeout": 1, "socket_connect_timeout": 1, "retry": Retry(NoBackoff(), 0)}


class _RedisRooms:
    def __init__(self, url: str, prefix: str):
        self.client = redis.Redis.from_url(url, **_CLIENT_OPTIONS)
        self.prefix = prefix

    def key(self, session_id: str) -> str:
        return _key(self.prefix, session_id)

    def add(self, session_id: str, members: list[str], now: float) -> None:
        pipe = self.client.pipeline(transaction=False)
        _queue_add(pipe, self.key(session_id), members, now)
        pipe.execute()

    def remove(self, session_id: str, member: str) -> None:
        self.client.zrem(self.key(session_id), member)

    def users(self, session_id: str, now: float) -> set[str]:
        members = self.client.zrangebyscore(self.key(session_id), now, "+inf")
        return {member.decode().split("/", 1)[0] for member in members}


# Connections to Redis per event loop for the sockets' joins and leaves: sockets joining together
# (another process's, reconnecting) are recorded in one pipeline (redis_batch.py); leaves wait
# for a connection, at most this long, instead of going unrecorded.
_ASYNC_CONNECTIONS = 50
_ASYNC_WAIT_SECONDS = 5.0


class _AsyncRedisRooms:
    """The same writes for the live room's sockets, one client per event loop (a redis.asyncio
    client belongs to the loop that made it)."""

    def __init__(self, url: str, prefix: str):
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=_ASYNC_CONNECTIONS, timeout=_ASYNC_WAIT_SECONDS, **_CLIENT_OPTIONS
        )
        self.client = aioredis.Redis.from_pool(pool)
        self.batcher = Batcher(self.client)
        self.prefix = prefix

    async def add(self, session_id: str, members: list[str], now: float) -> None:
        key = _key(self.prefix, session_id)
        for reply in await self.batcher.run(lambda pipe: _queue_add(pipe, key, members, now)):
            if isinstance(reply, Exception):
                raise reply

    async def remove(self, session_id: str, member: str) -> None:
        await self.client.zrem(_key(self.prefix, session_id), member)


_local = _LocalRooms()
_state: dict = {"pid": None, "redis": None, "refresher": None}
_state_lock = threading.Lock()


def _redis() -> _RedisRooms | None:
    """The process's Redis rooms (None without Redis), and its refresher thread."""
    url = settings.REDIS_URL
    if not url:
        return None
    with _state_lock:
        if _state["pid"] != os.getpid():  # a forked process starts its own client and thread
            _state["pid"] = os.getpid()
            _state["redis"] = _RedisRooms(url, settings.CHANNEL_LAYER_PREFIX)
            thread = threading.Thread(target=_refresh_forever, name="presence-refresh", daemon=True)
            _state["refresher"] = thread
            thread.start()
        return _state["redis"]


def _refresh_forever() -> None:
    while True:
        time.sleep(_ttl() / 3)
        rooms = _state["redis"]
        if rooms is None:
            continue
        for session_id, members in _local.snapshot().items():
            try:
                rooms.add(session_id, members, time.time())
            except Exception:
                logger.warning("presence: could not refresh %s", session_id, exc_info=True)


def _member(user_id, socket_id) -> str:
    return f"{user_id}/{socket_id}"


# What a failed write to the shared rooms leaves behind, and why that is acceptable.
_JOIN_FAILED = "presence: could not record a join of %s (refreshed later)"
_LEAVE_FAILED = "presence: could not record a leave of %s (it expires)"


@contextlib.contextmanager
def _advisory(failure: str, session_id: str):
    """A write to the shared rooms that may fail: presence is advisory, and the process's own
    record (refreshed) or the entry's expiry puts the room right, so a failure is only logged."""
    try:
        yield
    except Exception:
        logger.warning(failure, session_id, exc_info=True)


def joined(session_id, user_id, socket_id) -> None:
    """The socket ``socket_id`` of ``user_id`` is now in the room of ``session_id``."""
    session_id, member = str(session_id), _member(user_id, socket_id)
    _local.add(session_id, member)
    rooms = _redis()
    if rooms is not None:
        with _advisory(_JOIN_FAILED, session_id):
            rooms.add(session_id, [member], time.time())


def left(session_id, user_id, socket_id) -> None:
    """The socket is no longer in the room (it left, lost access, or disconnected)."""
    session_id, member = str(session_id), _member(user_id, socket_id)
    _local.discard(session_id, member)
    rooms = _redis()
    if rooms is not None:
        with _advisory(_LEAVE_FAILED, session_id):
            rooms.remove(session_id, member)


def users_present(session_id) -> set[str] | None:
    """The ids (strings) of the users with at least one socket in the room now, from every
    process; None when that cannot be known (Redis unreachable)."""
    rooms = _redis()
    if rooms is None:
        return _local.users(str(session_id))
    try:
        return rooms.users(str(session_id), time.time())
    except Exception:
        logger.warning("presence: could not read the room of %s", session_id, exc_info=True)
        return None


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _AsyncRedisRooms] = weakref.WeakKeyDictionary()


def _aredis() -> _AsyncRedisRooms | None:
    rooms = _redis()  # (starts the process's refresher)
    if rooms is None:
        return None
    loop = asyncio.get_running_loop()
    arooms = _per_loop.get(loop)
    if arooms is None:
        arooms = _per_loop[loop] = _AsyncRedisRooms(settings.REDIS_URL, rooms.prefix)
    return arooms


async def ajoined(session_id, user_id, socket_id) -> None:
    """``joined``, for the event loop."""
    session_id, member = str(session_id), _member(user_id, socket_id)
    _local.add(session_id, member)
    rooms = _aredis()
    if rooms is not None:
        with _advisory(_JOIN_FAILED, session_id):
            await rooms.add(session_id, [member], time.time())


async def aleft(session_id, user_id, socket_id) -> None:
    """``left``, for the event loop."""
    session_id, member = str(session_id), _member(user_id, socket_id)
    _local.discard(session_id, member)
    rooms = _aredis()
    if rooms is not None:
        with _advisory(_LEAVE_FAILED, session_id):
            await rooms.remove(session_id, member)
