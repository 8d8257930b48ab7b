"""One room hub per server process: the process, not each socket, is in a session's group.

A broadcast frame reaches each process once (one channel-layer message per process instead of
one per socket), and the hub writes it to the process's sockets in that room directly, in one
pass. With a group member per socket, every frame woke every socket's consumer task through
its own queue: at 100 sockets in a room that per-socket dispatch was the fan-out's tail
(PERFORMANCE.md: a straight Channels consumer is 3-4x the guide's p99).

- ``join``/``leave`` keep the membership; the process joins the group on every local join (which
  also renews the group's expiry and restores it after a Redis restart) and leaves it with its
  last local socket.
- The listener survives a channel-layer outage: it retries, re-joins every group it holds, and
  the next frame lets each socket fill what it missed from the database (consumers.py).
- Each socket's ordering, de-duplication and gap fill stay the consumer's
  (``SessionChatConsumer.hub_event``); the hub only hands over the event.

One hub per (event loop, channel layer): a server process has one of each; tests make several.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Protocol

from sessions_app.services import session_group

logger = logging.getLogger(__name__)

RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0)
LAYER_TIMEOUT_SECONDS = 5.0  # a membership change waits no longer for Redis (under the hub's lock)


class Member(Protocol):
    async def hub_event(self, event: dict) -> None: ...


class RoomHub:
    def __init__(self, layer):
        self.layer = layer
        self.rooms: dict[str, dict[Member, None]] = {}  # insertion-ordered sets
        self.channel: str | None = None
        self.listener: asyncio.Task | None = None
        self.lock = asyncio.Lock()

    async def join(self, session_id: str, member: Member) -> None:
        """Raises what the layer raises (or TimeoutError): then the member is not in the room."""
        async with self.lock:
            if self.listener is None:
                # "specific.": the process's one receive queue
                self.channel = await asyncio.wait_for(self.layer.new_channel(), LAYER_TIMEOUT_SECONDS)
                self.listener = asyncio.create_task(self._listen(), name="room-hub")
            await self._group("group_add", session_id)
            self.rooms.setdefault(session_id, {})[member] = None

    async def leave(self, session_id: str, member: Member) -> None:
        async with self.lock:
            members = self.rooms.get(session_id)
            if members is None or member not in members:
                return
            del members[member]
            if not members:
                del self.rooms[session_id]
                try:
                    await self._group("group_discard", session_id)
                except Exception:  # the layer is down: the group expires, frames find no member
                    logger.warning("room hub: could not leave %s", session_group(session_id), exc_info=True)
            if not self.rooms and self.listener is not None:
                # no room left in this process: stop listening (a later join starts again)
                listener, self.listener = self.listener, None
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    async def _group(self, operation: str, session_id: str) -> None:
        """The process's channel joins or leaves a session's group, waiting at most
        LAYER_TIMEOUT_SECONDS."""
        call = getattr(self.layer, operation)(session_group(session_id), self.channel)
        await asyncio.wait_for(call, LAYER_TIMEOUT_SECONDS)

    def members(self, session_id: str) -> int:
        return len(self.rooms.get(session_id, ()))

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("room hub: channel layer receive failed; retrying", exc_info=failures == 0)
                await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
                failures += 1
                await self._rejoin()
                continue
            failures = 0
            await self._dispatch(event)

    async def _rejoin(self) -> None:
        """After an outage (Redis restarted empty): be in every group we hold again."""
        async with self.lock:
            for session_id in list(self.rooms):
                try:
                    await self._group("group_add", session_id)
                except Exception:
                    return  # still down; the listener tries again

    async def _dispatch(self, event: dict) -> None:
        members = self.rooms.get(event.get("sessionId"))
        if not members:
            return
        for member in list(members):
            try:
                await member.hub_event(event)
            except Exception:
                logger.exception("room hub: delivery to a socket failed")


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RoomHub] = weakref.WeakKeyDictionary()


def hub_for(layer) -> RoomHub:
    """The running loop's hub for ``layer``."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.layer is not layer:
        if hub is not None and hub.listener is not None:
            hub.listener.cancel()  # the layer was replaced (tests do that)
            hub.listener = None
        hub = _hubs[loop] = RoomHub(layer)
    return hub
