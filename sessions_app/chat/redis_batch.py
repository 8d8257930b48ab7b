"""Small Redis writes of sockets that arrive together, sent together.

When a server process goes, its sockets reconnect to the others all at once, and each of them
takes a place under the socket cap (socket_cap.py) and enters its room's presence
(presence.py): a small write each. Sent one by one, each is a round trip of its own on a pooled
connection of its own (the pool opens new ones, each with its own handshake), all on the event
loop that also serves the sockets.

``Batcher.run(queue)`` queues the caller's commands on the next pipeline and returns their
replies. While one pipeline is on its way, the calls that come meanwhile wait for the next one:
a lone socket pays one round trip as before, a crowd one per batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Batcher"]


class Batcher:
    """One per Redis client (a redis.asyncio client belongs to the event loop that made it)."""

    def __init__(self, client):
        self.client = client
        self.waiting: list[tuple[Callable, asyncio.Future]] = []
        self.sender: asyncio.Task | None = None

    async def run(self, queue: Callable) -> list:
        """``queue(pipeline)`` queues the caller's commands; their replies, in order, a failed
        command's error in its place (``raise_on_error=False``). Raises what the pipeline
        raised (Redis unreachable, a timeout) for every caller in it."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((queue, future))
        if self.sender is None:
            self.sender = asyncio.create_task(self._send(), name="redis-batch")
        return await future

    async def _send(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, []
                await self._execute(batch)
        finally:
            self.sender = None
            for _, future in self.waiting:  # (only if this task was cancelled)
                future.cancel()

    async def _execute(self, batch: list[tuple[Callable, asyncio.Future]]) -> None:
        spans = []
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for queue, _ in batch:
                    start = len(pipe.command_stack)
                    queue(pipe)
                    spans.append((start, len(pipe.command_stack)))
                replies = await pipe.execute(raise_on_error=False)
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    if isinstance(exc, Exception):
                        future.set_exception(exc)
                    else:  # this task was cancelled
                        future.cancel()
            if isinstance(exc, Exception):
                return
            raise
        for (start, end), (_, future) in zip(spans, batch, strict=True):
            if not future.done():
                future.set_result(replies[start:end])
