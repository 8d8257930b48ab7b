"""Sending to channel-layer groups from synchronous code (views, services, commands).

With the pub/sub layer (the default with Redis) a group send is one PUBLISH, made here with a
synchronous Redis client on the layer's own channel name and serialization: a fraction of the
CPU of the list layer's group_send through the loop thread below.
tests/e2e/test_live_room.py holds the two to the same wire: a REST POST reaches sockets on two
daphne processes.

``async_to_sync(layer.group_send)`` starts an event loop per call when no loop is around (a
WSGI worker, a management command), and channels-redis keeps its connection pool per loop: every
send paid for a loop start and a Redis connect. Here a Redis-backed layer gets one long-lived
loop thread per process instead. The in-memory layer is not thread-safe and keeps
the plain ``async_to_sync`` route to the server's own loop.
"""

from __future__ import annotations

import asyncio
import os
import threading

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash, decode_hosts
from redis.backoff import NoBackoff
from redis.retry import Retry

_publisher: tuple[int, object, list[redis.Redis], str] | None = None  # (pid, layer, clients, prefix)


def _publish(layer: RedisPubSubChannelLayer, group: str, message: dict) -> None:
    """What ``RedisPubSubLoopLayer.group_send`` does (channels-redis 4.3), synchronously: PUBLISH
    the serialized message on ``<prefix>__group__<group>``, on the host the name hashes to."""
    global _publisher
    if _publisher is None or _publisher[0] != os.getpid() or _publisher[1] is not layer:
        clients = [_client(host) for host in decode_hosts(layer._kwargs.get("hosts"))]
        _publisher = (os.getpid(), layer, clients, layer._kwargs.get("prefix", "asgi"))
    _, _, clients, prefix = _publisher
    channel = f"{prefix}__group__{group}"
    clients[_consistent_hash(channel, len(clients))].publish(channel, layer.serialize(message))


def _client(host: dict) -> redis.Redis:
    """A client that gives up within SEND_TIMEOUT_SECONDS: no retries (redis-py 8 retries a
    failed command and connect up to 10 times with backoff, which held a REST worker for 20 s
    when Redis was unreachable)."""
    host = dict(host)
    address = host.pop("address", None)
    host["socket_timeout"] = SEND_TIMEOUT_SECONDS / 2
    host["socket_connect_timeout"] = SEND_TIMEOUT_SECONDS / 2
    host["retry"] = Retry(NoBackoff(), 0)
    return redis.Redis.from_url(address, **host) if address else redis.Redis(**host)


SEND_TIMEOUT_SECONDS = 2.0

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _lock:
        if _loop is None or _loop_pid != os.getpid():  # a forked worker starts its own
            _loop = asyncio.new_event_loop()
            _loop_pid = os.getpid()
            threading.Thread(target=_loop.run_forever, name="channel-layer-sender", daemon=True).start()
        return _loop


def group_send(group: str, message: dict) -> None:
    """Send ``message`` to ``group``; raises what the layer raises (callers decide what a failed
    live push means) and ``TimeoutError`` after SEND_TIMEOUT_SECONDS."""
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, RedisPubSubChannelLayer):
        _publish(layer, group, message)
    elif type(layer).__module__.startswith("channels_redis"):
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _background_loop())
        future.result(timeout=SEND_TIMEOUT_SECONDS)
    else:
        async_to_sync(layer.group_send)(group, message)
