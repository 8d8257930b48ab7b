"""One room hub per server process: the process, not each socket, is in a session's group.

A broadcast frame reaches each process once (one channel-layer message per process instead of
one per socket), and the hub writes it to the process's sockets in that room directly, in one
pass. With a group member per socket, every frame woke every socket's consumer task through
its own queue: with a room of a hundred sockets, that per-socket dispatch was the fan-out's tail
(bench/fanout.py measures it).

- ``join``/``leave`` keep the membership; the process joins the group with the room's first local
  socket and leaves it with its last. The sockets between join without a word to the channel
  layer (a thousand of them rejoin together when another server process goes); a layer whose
  groups expire (``group_expiry``) has the group renewed by a join once half of that has passed,
  and the listener joins every room again after an outage (a Redis restart forgets them).
- The listener survives a channel-layer outage: it retries, re-joins every group it holds, and
  the next frame lets each socket fill what it missed from the database (consumers.py).
- A gap is filled once per room and process: the hub remembers the last seq it handed over per
  room, and a message beyond the next one (broadcasts lost while Redis was away, or overtaken
  between server processes) makes it read the missing messages once and hand them to every
  member as one ``room.batch`` event before the message itself, encoded once per process.
- Each socket's ordering, de-duplication and its own gap fill (when the hub's read failed, or a
  socket is behind for another reason) stay the socket's (``LiveMember.hub_event``).
- The user's own events (notifications, access changes; sent to the user's group with the
  user's ``userId``) come the same way: the process is in a user's group from the user's first
  local socket to the last (``follow``/``unfollow``), and the hub hands each event to that
  user's sockets (``LiveMember.user_event``). A user's sockets share the subscription: one
  socket per user asks the channel layer, not every socket (a reconnect storm is thousands),
  and the group is joined beside the socket, never before serving it.

One hub per (event loop, channel layer): a server process has one of each; tests make several.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Protocol

from asgiref.sync import SyncToAsync
from django.db import close_old_connections

from k12.notifications import user_group
from sessions_app.chat import selectors
from sessions_app.chat.payloads import row_payload
from sessions_app.chat.services import session_group

logger = logging.getLogger(__name__)

RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0)
FILL_LIMIT = 1000  # messages read per gap fill; a longer gap is left to each socket's own fill
LAYER_TIMEOUT_SECONDS = 5.0  # a membership change waits no longer for Redis (under the hub's lock)


class _DatabaseWork(SyncToAsync):
    """Channels' ``DatabaseSyncToAsync``, closing (giving back to the pool) the thread's
    connection around each call through Django's own ``close_old_connections``, which Channels'
    test communicator does not replace: a pool thread keeps no connection between calls."""

    def thread_handler(self, loop, *args, **kwargs):
        close_old_connections()
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            close_old_connections()


def database_work(func):
    """``func`` for the live room's sockets, on the server's thread pool (daphne's
    ``ASGI_THREADS``), each call on a pooled connection it borrows and gives back, instead of
    Channels' one thread for the whole process: sockets reconnecting together wait on
    PostgreSQL side by side, not one after another. Nothing here needs a thread of its own:
    each call is a unit of work, and a socket awaits its calls one at a time."""
    return _DatabaseWork(func, thread_sensitive=False)


# The user's own events (k12/notifications.py, k12/access_events.py): each names its ``userId``.
USER_EVENTS = ("notification.push", "access.changed")


class Member(Protocol):
    async def hub_event(self, event: dict) -> None: ...

    async def user_event(self, event: dict) -> None: ...


async def listen(layer, channel, handle, *, prepare=None, after_failure=None) -> None:
    """Receive from ``channel()`` for ever, handing each event to ``handle``; ``prepare`` runs
    before each receive. A failure (the layer is down) is retried with backoff, running
    ``after_failure`` before each retry."""
    failures = 0
    while True:
        try:
            if prepare is not None:
                await prepare()
            event = await layer.receive(channel())
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("channel layer receive failed; retrying", exc_info=failures == 0)
            await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
            failures += 1
            if after_failure is not None:
                await after_failure()
            continue
        failures = 0
        await handle(event)


class RoomHub:
    def __init__(self, layer):
        self.layer = layer
        self.rooms: dict[str, dict[Member, None]] = {}  # insertion-ordered sets
        self.users: dict[str, dict[Member, None]] = {}  # user id → the user's sockets here
        self.to_follow: dict[str, None] = {}  # users whose group the process is to join
        self.follower: asyncio.Task | None = None  # joining them
        self.seen: dict[str, int] = {}  # room → the last message seq handed to its members
        self.in_group: dict[str, float] = {}  # group → when the process last joined it (loop time)
        self.channel: str | None = None
        self.listener: asyncio.Task | None = None
        self.lock = asyncio.Lock()

    async def join(self, session_id: str, member: Member) -> None:
        """The member is in the room from now on. While the channel layer is unreachable the
        room has no live push: the join still succeeds (the member read its history from the
        database), and the listener keeps trying, then joins every room it holds; the next
        frame lets each member fill what it missed from the database."""
        members = self.rooms.get(session_id)
        group = session_group(session_id)
        if members and not self._renewal_due(group):
            members[member] = None  # the process is in the room's group already
            return
        async with self.lock:
            self.rooms.setdefault(session_id, {})[member] = None
            self._listen()
            try:
                await self._add(group)
            except Exception:
                logger.warning("room hub: channel layer unreachable; %s has no live push until it is back", session_id)

    def follow(self, user_id, member: Member) -> None:
        """The member gets the user's own events from now on. The user's first socket in the
        process (or one once a layer's groups expire half-way) has the process join the user's
        group beside it, retrying while the layer is unreachable (the sockets' periodic access
        re-check covers that time); the others ask the layer nothing."""
        user_id = str(user_id)
        self.users.setdefault(user_id, {})[member] = None
        if user_id not in self.to_follow and self._renewal_due(user_group(user_id)):
            self.to_follow[user_id] = None
            if self.follower is None:
                self.follower = asyncio.create_task(self._follow(), name="room-hub-users")

    async def _follow(self) -> None:
        """Join the groups of the users waiting in ``to_follow``: all those waiting at a time
        under one hold of the lock (a thousand users' sockets reconnect together), not a turn
        at the lock each."""
        failures = 0
        try:
            while self.to_follow:
                try:
                    async with self.lock:
                        self._listen()
                        for user_id in list(self.to_follow):
                            if user_id in self.users:
                                await self._add(user_group(user_id))
                            self.to_follow.pop(user_id, None)
                    failures = 0
                except Exception:
                    logger.warning("room hub: could not join a user's group; retrying", exc_info=failures == 0)
                    await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
                    failures += 1
        finally:
            self.follower = None

    async def unfollow(self, user_id, member: Member) -> None:
        """The member is gone; the process leaves the user's group with the user's last socket."""
        user_id = str(user_id)
        members = self.users.get(user_id)
        if members is None or member not in members:
            return
        del members[member]
        if members:
            return
        del self.users[user_id]
        self.to_follow.pop(user_id, None)
        async with self.lock:
            if user_id in self.users:  # a new socket of the user came meanwhile
                return
            group = user_group(user_id)
            if group in self.in_group:
                await self._remove(group)
            await self._stop_if_idle()

    def _listen(self) -> None:
        """Start the process's listener, if it is not running (under the lock)."""
        if self.listener is None:
            listener = listen(
                self.layer, lambda: self.channel, self._dispatch, prepare=self._ready, after_failure=self._rejoin
            )
            self.listener = asyncio.create_task(listener, name="room-hub")

    async def _add(self, group: str) -> None:
        """The process's channel joins ``group`` (under the lock)."""
        await self._ensure_channel()
        await self._group("group_add", group)
        self.in_group[group] = asyncio.get_running_loop().time()

    async def _remove(self, group: str) -> None:
        """The process's channel leaves ``group`` (under the lock). With the layer down it stays
        in it until the group expires; what is sent to the group meanwhile finds no member here."""
        self.in_group.pop(group, None)
        try:
            await self._group("group_discard", group)
        except Exception:
            logger.warning("room hub: could not leave %s", group, exc_info=True)

    async def _stop_if_idle(self) -> None:
        """No room and no user left in this process: stop listening (a later join starts
        again). Under the lock."""
        if not self.rooms and not self.users and self.listener is not None:
            listener, self.listener = self.listener, None
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    def _renewal_due(self, group: str) -> bool:
        """True unless the process is in ``group``, joined recently enough for a layer whose
        groups expire (the pub/sub layer's do not)."""
        joined_at = self.in_group.get(group)
        if joined_at is None:
            return True
        expiry = getattr(self.layer, "group_expiry", None)
        return bool(expiry) and asyncio.get_running_loop().time() - joined_at > expiry / 2

    async def _ensure_channel(self) -> None:
        if self.channel is None:
            # "specific.": the process's one receive queue
            self.channel = await asyncio.wait_for(self.layer.new_channel(), LAYER_TIMEOUT_SECONDS)

    async def leave(self, session_id: str, member: Member) -> None:
        async with self.lock:
            members = self.rooms.get(session_id)
            if members is None or member not in members:
                return
            del members[member]
            if not members:
                del self.rooms[session_id]
                self.seen.pop(session_id, None)
                await self._remove(session_group(session_id))
            await self._stop_if_idle()

    async def _group(self, operation: str, group: str) -> None:
        """The process's channel joins or leaves a group, waiting at most LAYER_TIMEOUT_SECONDS."""
        call = getattr(self.layer, operation)(group, self.channel)
        await asyncio.wait_for(call, LAYER_TIMEOUT_SECONDS)

    def baseline(self, session_id: str, seq: int) -> None:
        """A member joined having read the room's history up to ``seq``: a room the hub has no
        figure for yet starts there (messages after it are the ones a gap would be counted from)."""
        if session_id in self.rooms:
            self.seen.setdefault(session_id, seq)

    def members(self, session_id: str) -> int:
        return len(self.rooms.get(session_id, ()))

    async def _ready(self) -> None:
        if self.channel is None:  # the layer was unreachable when the first room joined
            await self._rejoin(strict=True)

    async def _rejoin(self, strict: bool = False) -> None:
        """After an outage (Redis restarted empty): be in every group we hold again. Raises
        only with ``strict`` (the listener then waits and tries again)."""
        async with self.lock:
            try:
                await self._ensure_channel()
                for group in [*map(session_group, self.rooms), *map(user_group, self.users)]:
                    await self._add(group)
            except Exception:
                if strict:
                    raise
                # still down; the listener tries again

    async def _dispatch(self, event: dict) -> None:
        if event.get("type") in USER_EVENTS:
            for member in list(self.users.get(str(event.get("userId")), ())):
                try:
                    await member.user_event(event)
                except Exception:
                    logger.exception("room hub: delivery of a user's event to a socket failed")
            return
        session_id = event.get("sessionId")
        if not self.rooms.get(session_id):
            return
        seq = event.get("seq")
        if event.get("type") == "room.frame" and isinstance(seq, int):
            seen = self.seen.get(session_id)
            if seen is not None and seq > seen + 1:
                batch = await self._fill(session_id, seen, seq)
                if batch is not None:
                    await self._hand(session_id, batch)
            self.seen[session_id] = max(seq, seen or 0)
        await self._hand(session_id, event)

    async def _hand(self, session_id: str, event: dict) -> None:
        for member in list(self.rooms.get(session_id, ())):
            try:
                await member.hub_event(event)
            except Exception:
                logger.exception("room hub: delivery to a socket failed")

    async def _fill(self, session_id: str, after_seq: int, upto_seq: int) -> dict | None:
        """The messages after_seq < seq < upto_seq as one ``room.batch`` event, read once for
        all of this process's members; None if the read failed (each socket fills its own)."""
        try:
            items = await _gap_items(session_id, after_seq, upto_seq - 1)
        except Exception:
            logger.warning("room hub: could not fill a gap in %s; sockets fill their own", session_id, exc_info=True)
            return None
        if not items:
            return None
        return {
            "type": "room.batch",
            "sessionId": session_id,
            "first": items[0]["seq"],
            "last": items[-1]["seq"],
            "items": items,
        }


@database_work
def _gap_items(session_id: str, after_seq: int, upto_seq: int) -> list[dict]:
    """``{seq, payload}`` per message, plus ``staff_payload`` for a hidden one (staff still read
    its text)."""
    rows = selectors.messages_in_range(session_id, after_seq=after_seq, upto_seq=upto_seq, limit=FILL_LIMIT)
    items = []
    for row in rows:
        item = {"seq": row[selectors.SEQ], "payload": row_payload(row)}
        if row[selectors.HIDDEN]:
            item["staff_payload"] = row_payload(row, staff=True)
        items.append(item)
    return items


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
