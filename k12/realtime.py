"""Sending to channel-layer groups from synchronous code (views, services, commands).

With the pub/sub layer (the default with Redis) a group send is one PUBLISH, made here with a
synchronous Redis client on the layer's own channel name and serialization: no event loop, a
fraction of the CPU of the layer's own ``group_send`` (bench/results/). tests/k12/test_realtime.py
holds the two to the same wire, and tests/e2e/test_live_room.py end to end: a REST POST reaches
sockets on two daphne processes.

``async_to_sync(layer.group_send)`` starts an event loop per call when no loop is around (a
WSGI worker, a management command), and channels-redis keeps its connection pool per loop: every
send paid a loop start and a Redis connect. Here the list layer gets one long-lived loop thread
per process instead. The in-memory layer is not thread-safe and keeps the plain
``async_to_sync`` route to the server's own loop.
"""

from __future__ import annotations

import asyncio
import os
import threading

import redis
from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash, decode_hosts
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

_publisher: tuple[int, object, list[redis.Redis], str] | None = None  # (pid, layer, clients, prefix)


def _publish(layer: RedisPubSubChannelLayer, group: str, message: dict) -> None:
    """What the pub/sub layer's ``group_send`` does, synchronously: PUBLISH the message, in the
    layer's serialization, on ``<prefix>__group__<group>``, on the host that name hashes to.
    Hosts and prefix are the layer's configuration in ``CHANNEL_LAYERS``."""
    global _publisher
    if _publisher is None or _publisher[0] != os.getpid() or _publisher[1] is not layer:
        config = settings.CHANNEL_LAYERS[DEFAULT_CHANNEL_LAYER].get("CONFIG", {})
        clients = [_client(host) for host in decode_hosts(config.get("hosts"))]
        _publisher = (os.getpid(), layer, clients, config.get("prefix", "asgi"))
    _, _, clients, prefix = _publisher
    channel = group_channel_name(prefix, group)
    clients[shard_index(channel, len(clients))].publish(channel, layer.serialize(message))


# channels-redis has no synchronous publish, so its pub/sub layer's group channel name and shard
# choice are repeated here (the hash is its private helper); tests/k12/test_realtime.py fails if
# an upgrade changes either.
def group_channel_name(prefix: str, group: str) -> str:
    """The pub/sub channel the layer subscribes a group's members to."""
    return f"{prefix}__group__{group}"


def shard_index(channel: str, hosts: int) -> int:
    """Which of the layer's hosts carries ``channel``."""
    return _consistent_hash(channel, hosts)


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
