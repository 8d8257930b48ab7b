"""At most ``WS_MAX_SOCKETS_PER_USER`` live sockets per user, counted across every server process
and every socket protocol.

    if not await socket_acquire(user.id, socket_id):
        ...refuse (the raw WebSocket closes with CLOSE_TOO_MANY_SOCKETS)...
    try:
        ...serve the socket...
    finally:
        await socket_release(user.id, socket_id)

``socket_id`` is anything unique to the socket in the whole deployment (a channel name, a
socket.io sid). Acquiring the same id twice holds one place.

Each socket holds a lease, not a tally: a Redis sorted set per user, the socket id scored with
its lease's expiry (Redis' own clock, so the processes' clocks need not agree). The process
renews the leases of its live sockets every third of ``WS_SOCKET_LEASE_SECONDS``; a process that
dies (kill -9, a lost node) stops renewing, and its sockets stop counting once their leases run
out, with nothing to clean up. A bare counter would stay wrong forever after one crash.

If Redis is unreachable the socket is let in (logged): the cap guards against one user hogging
the server, and refusing every socket while Redis blinks would hurt every user instead. The
socket's lease is written on the next renewal that reaches Redis. Without ``REDIS_URL`` (one
embedded process) the leases are counted in the process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref

import redis.asyncio as aioredis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

from sessions_app.chat.redis_batch import Batcher

logger = logging.getLogger(__name__)

__all__ = ["CLOSE_TOO_MANY_SOCKETS", "socket_acquire", "socket_release", "sockets_held"]

# The raw WebSocket's close code for a socket over the cap (README, "Chat and the live room").
CLOSE_TOO_MANY_SOCKETS = 4409

REDIS_TIMEOUT_SECONDS = 1.0
# Connections to Redis per event loop. Sockets arriving together (another process's, reconnecting)
# ask in one pipeline (redis_batch.py); other calls wait for a connection instead of failing
# (which would let a socket in uncounted), at most this long.
REDIS_CONNECTIONS = 50
REDIS_WAIT_SECONDS = 5.0
KEY_PREFIX = "k12:sockets:"

# KEYS[1] the user's set; ARGV: socket id, limit (-1: no check, a renewal), lease in ms.
# Drops expired leases, then admits the socket if it already holds a place or one is free.
_LEASE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[2])
if limit >= 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""

_COUNT_SCRIPT = """
local t = redis.call('TIME')
return redis.call('ZCOUNT', KEYS[1], '(' .. (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)), '+inf')
"""


def _limit() -> int:
    return int(settings.WS_MAX_SOCKETS_PER_USER)


def _lease_ms() -> int:
    return int(float(settings.WS_SOCKET_LEASE_SECONDS) * 1000)


def _key(user_id) -> str:
    return f"{KEY_PREFIX}{user_id}"


class _RedisLeases:
    """One per event loop (redis.asyncio clients belong to the loop that made them)."""

    def __init__(self, url: str):
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=REDIS_CONNECTIONS,
            timeout=REDIS_WAIT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),
        )
        self.client = aioredis.Redis.from_pool(pool)
        self.script = self.client.register_script(_LEASE_SCRIPT)
        self.count_script = self.client.register_script(_COUNT_SCRIPT)
        self.batcher = Batcher(self.client)
        self.held: dict[tuple[str, str], None] = {}
        self.renewer: asyncio.Task | None = None

    async def acquire(self, user_id: str, socket_id: str) -> bool:
        key, args = _key(user_id), [socket_id, _limit(), _lease_ms()]
        try:
            (admitted,) = await self.batcher.run(lambda pipe: pipe.evalsha(self.script.sha, 1, key, *args))
            if isinstance(admitted, NoScriptError):  # Redis has forgotten it (a restart): load it
                admitted = await self.script(keys=[key], args=args)
            elif isinstance(admitted, Exception):
                raise admitted
        except Exception:
            logger.warning("socket cap not applied for user %s: Redis unavailable", user_id, exc_info=True)
            admitted = 1
        if not admitted:
            return False
        self.held[(user_id, socket_id)] = None
        if self.renewer is None or self.renewer.done():
            self.renewer = asyncio.create_task(self._renew_forever(), name="socket-cap-renewer")
        return True

    async def release(self, user_id: str, socket_id: str) -> None:
        self.held.pop((user_id, socket_id), None)
        try:
            await self.client.zrem(_key(user_id), socket_id)
        except Exception:  # the lease runs out by itself
            logger.warning("socket cap: could not release a lease of user %s", user_id, exc_info=True)

    async def count(self, user_id: str) -> int:
        return int(await self.count_script(keys=[_key(user_id)]))

    async def _renew_forever(self) -> None:
        while self.held:
            await asyncio.sleep(_lease_ms() / 3000)
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for user_id, socket_id in list(self.held):
                        await self.script(keys=[_key(user_id)], args=[socket_id, -1, _lease_ms()], client=pipe)
                    await pipe.execute()
            except Exception:
                logger.warning("socket cap: lease renewal failed; retrying", exc_info=True)


class _LocalLeases:
    """Without Redis: one process, so its own count is the whole count."""

    def __init__(self):
        self.lock = threading.Lock()
        self.held: dict[str, set[str]] = {}

    async def acquire(self, user_id: str, socket_id: str) -> bool:
        with self.lock:
            sockets = self.held.setdefault(user_id, set())
            if socket_id not in sockets and len(sockets) >= _limit():
                return False
            sockets.add(socket_id)
            return True

    async def release(self, user_id: str, socket_id: str) -> None:
        with self.lock:
            sockets = self.held.get(user_id, set())
            sockets.discard(socket_id)
            if not sockets:
                self.held.pop(user_id, None)

    async def count(self, user_id: str) -> int:
        with self.lock:
            return len(self.held.get(user_id, ()))


_local = _LocalLeases()
_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _RedisLeases] = weakref.WeakKeyDictionary()


def _leases() -> _RedisLeases | _LocalLeases:
    url = settings.REDIS_URL
    if not url:
        return _local
    loop = asyncio.get_running_loop()
    leases = _per_loop.get(loop)
    if leases is None:
        leases = _per_loop[loop] = _RedisLeases(url)
    return leases


async def socket_acquire(user_id, socket_id: str) -> bool:
    """Take one of the user's places for this socket; False when the user already has
    ``WS_MAX_SOCKETS_PER_USER`` live sockets (this one is then to be refused)."""
    return await _leases().acquire(str(user_id), socket_id)


async def socket_release(user_id, socket_id: str) -> None:
    """Give the socket's place back (safe to call twice, or for a socket never admitted)."""
    await _leases().release(str(user_id), socket_id)


async def sockets_held(user_id) -> int:
    """How many live sockets the user has now, across all processes."""
    return await _leases().count(str(user_id))
