"""Sending to channel-layer groups from synchronous code (views, services, commands).

``async_to_sync(layer.group_send)`` starts an event loop per call when no loop is around (a
WSGI worker, a management command), and channels-redis keeps its connection pool per loop: every
send paid ~2 ms of loop start and Redis connect. Here a Redis-backed layer gets one long-lived
loop thread per process instead (0.3 ms a send). The in-memory layer is not thread-safe and keeps
the plain ``async_to_sync`` route to the server's own loop.
"""

from __future__ import annotations

import asyncio
import os
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

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
    if type(layer).__module__.startswith("channels_redis"):
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _background_loop())
        future.result(timeout=SEND_TIMEOUT_SECONDS)
    else:
        async_to_sync(layer.group_send)(group, message)
