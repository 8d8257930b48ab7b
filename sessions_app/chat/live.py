"""What every live-room socket does, whatever protocol it speaks: the per-socket delivery state
shared by /ws/encounters/ (consumers.py) and the socket.io gateway (gateway.py).

Both kinds of socket are members of the same process-wide room hub (hub.py), fed by the same
channel-layer group; only how a frame is written differs (the subclass's ``write_*`` methods).

- Joining reads the history after being in the room: a message committed in between is held in
  ``joining`` and given after the join's answer, de-duplicated against what the answer carried.
- ``rooms`` maps a session to the seq up to which this socket has been given its messages. A
  live frame at or below it is a duplicate; a frame beyond the next one means broadcasts were
  lost or overtaken, and the gap is filled from the database before it (``backlog``).
- Presence (sessions_app/chat/presence.py) follows ``rooms``: in from the join, out on leaving.
- Access is re-checked every ``WS_ACCESS_RECHECK_SECONDS`` and when the server is told it
  changed; a socket authenticated by JWT ends when its token expires unless it is refreshed.
- The user's own events (access changed, notifications) come through the process's room hub,
  which is in the user's group once for all of the user's sockets in the process and joins it
  beside the socket, never before serving it (``RoomHub.follow``): until it has, a socket is
  still re-checked on its clock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from django.conf import settings
from rest_framework.exceptions import AuthenticationFailed

from k12 import permissions
from k12.authentication import Viewer
from k12.errors import DomainError, Forbidden, Invalid, NotFound, RateLimited
from k12.models import User
from sessions_app.chat import presence, selectors
from sessions_app.chat.hub import database_work, hub_for
from sessions_app.chat.payloads import row_payload

logger = logging.getLogger(__name__)

DRAIN_ATTEMPTS = 6
MISSED_LIMIT = 200
GAP_FILL_LIMIT = 1000


# The error codes of the live protocols (a frame's ``code``) for the domain's refusals.
LIVE_CODES = {NotFound.code, Forbidden.code, Invalid.code, RateLimited.code}


def live_error(exc: DomainError) -> tuple[str, str, dict[str, list[str]] | None]:
    """A refusal as both live protocols tell it: ``(code, message, field errors or None)``. A kind
    the protocols have no code for is ``invalid``, with its message."""
    if isinstance(exc, Invalid):
        return exc.code, "Invalid request.", exc.errors
    return (exc.code if exc.code in LIVE_CODES else Invalid.code), exc.message, None


def join_read(user: User, session_id: str, after) -> tuple[list[dict], int, bool]:
    """(missed as ``{seq, payload}``, delivered-up-to seq, has_more), in one query. The seq is the
    newest *committed* message's when the history was read: everything up to it is either in
    `missed` or outside what the client asked for (older than its cursor, or left to REST paging
    when `has_more`). NotFound / Forbidden as the access rule says, then Invalid for a cursor
    that is not a message of the session."""
    read = selectors.room_join_read(session_id, after=after, limit=MISSED_LIMIT)
    permissions.access_fetched_booking(user, read.booking, "view")
    # REST's page: without `after` the newest page, with it the page just after it
    page = read.page()
    missed = page.messages
    has_more = after is not None and page.has_newer
    staff = permissions.sees_hidden_text(user)
    baseline = max([read.newest_seq, *(row[selectors.SEQ] for row in missed)])
    return [{"seq": row[selectors.SEQ], "payload": row_payload(row, staff=staff)} for row in missed], baseline, has_more


def recheck_read(user_id, session_ids: list[str]) -> tuple[User | None, list[str]]:
    """(the user as stored now, the rooms among ``session_ids`` the user may no longer see);
    ``(None, [])`` if the user is gone or deactivated. One query per room, the first reading
    the user with it (``k12.permissions.fetch_booking``); one for the user without rooms."""
    viewer = Viewer(user_id)
    lost = []
    try:
        for session_id in session_ids:
            try:
                permissions.access_booking(viewer, session_id, "view")
            except (NotFound, Forbidden):
                lost.append(session_id)
        return viewer.resolved(), lost
    except AuthenticationFailed:
        return None, []


_join = database_work(join_read)
_recheck = database_work(recheck_read)


@database_work
def _gap(user: User, session_id: str, after_seq: int, upto_seq: int) -> list[dict]:
    staff = permissions.sees_hidden_text(user)
    rows = selectors.messages_in_range(session_id, after_seq=after_seq, upto_seq=upto_seq, limit=GAP_FILL_LIMIT)
    return [{"seq": row[selectors.SEQ], "payload": row_payload(row, staff=staff)} for row in rows]


class LiveMember:
    """A socket in the live room. Subclasses write frames to their own kind of socket."""

    # --- what a subclass provides ------------------------------------------------------------

    async def write_frame(self, event: dict) -> None:
        """A broadcast message (``room.frame``), next in this socket's order."""
        raise NotImplementedError

    async def write_message(self, session_id: str, item: dict) -> None:
        """A message read from the database (``{seq, payload}``), next in this socket's order."""
        raise NotImplementedError

    async def write_batch(self, session_id: str, event: dict, items: list[dict]) -> None:
        """Messages the hub read once for a gap (``items`` of a ``room.batch``), next in this
        socket's order; ``batch_frames`` encodes them once per process."""
        raise NotImplementedError

    async def write_room_event(self, event: dict) -> None:
        """Any other room event (typing, moderation)."""
        raise NotImplementedError

    async def room_lost(self, session_id: str) -> None:
        """The user may no longer see a room this socket was in (it has been left)."""
        raise NotImplementedError

    async def write_notification(self, notification: dict) -> None:
        """A notification of the user's (k12/notifications.py)."""
        raise NotImplementedError

    async def write_access_changed(self, reason: str | None, session_ids: list) -> None:
        """The user's access changed and this socket has re-checked it: the client re-reads
        what it may do."""
        raise NotImplementedError

    async def end(self, reason: str) -> None:
        """Close the socket: ``resync`` (a gap could not be filled: the client re-joins with
        `after`), ``deactivated`` or ``expired`` (the token ran out)."""
        raise NotImplementedError

    # --- state ---------------------------------------------------------------------------------

    def live_start(self, layer, socket_id: str) -> None:
        self.socket_id = socket_id  # unique to the socket in its process (presence)
        self.user: User | None = None
        self.token_expires_at: float | None = None
        self.rooms: dict[str, int] = {}
        self.joining: dict[str, list[dict]] = {}
        self.backlog: list[dict] | None = None
        self.drain_task: asyncio.Task | None = None
        self.recheck_task: asyncio.Task | None = None
        self.access_tasks: set[asyncio.Task] = set()
        self.hub = hub_for(layer)

    async def live_stop(self) -> None:
        """The socket is gone (safe to call twice)."""
        for task in (self.recheck_task, self.drain_task, *self.access_tasks):
            if task is not None:
                task.cancel()
        await self.leave_all()
        if self.user is not None:
            await self.hub.unfollow(self.user.id, self)

    def authenticated(self, user: User, *, expires_at: float | None) -> None:
        if self.user is None:
            self.hub.follow(user.id, self)
        self.user = user
        self.staff = permissions.sees_hidden_text(user)
        self.token_expires_at = expires_at
        # (Re)start the re-check clock: a fresh token moves the deadline.
        if self.recheck_task is not None:
            self.recheck_task.cancel()
        self.recheck_task = asyncio.create_task(self._recheck_loop())

    # --- joining and leaving ---------------------------------------------------------------------

    async def join_room(self, session_id: str, after) -> tuple[list[dict], bool, list[dict]]:
        """Be in the room, then read what was missed: ``(missed, has_more, held)``. Write the
        join's answer, then hand each of ``held`` to ``hub_event``. Raises NotFound, Forbidden,
        Invalid (and anything else) after leaving the room, also when the socket was in it
        before: access is gone."""
        self.joining[session_id] = []
        try:
            await self.hub.join(session_id, self)
            missed, delivered, has_more = await _join(self.user, session_id, after)
        except BaseException:
            await self.leave_room(session_id)
            raise
        self.rooms[session_id] = delivered
        self.hub.baseline(session_id, delivered)
        await presence.ajoined(session_id, self.user.id, self.socket_id)
        return missed, has_more, self.joining.pop(session_id)

    async def leave_room(self, session_id: str) -> None:
        if self.rooms.pop(session_id, None) is not None:
            await presence.aleft(session_id, self.user.id, self.socket_id)
        self.joining.pop(session_id, None)
        await self.hub.leave(session_id, self)

    async def leave_all(self) -> None:
        """Every room, also one still being joined; a layer error does not stop the others."""
        for session_id in {*self.rooms, *self.joining}:
            try:
                await self.leave_room(session_id)
            except Exception:
                logger.warning("live room: leaving %s failed", session_id, exc_info=True)

    # --- room events, handed over by the process's room hub -------------------------------------

    async def hub_event(self, event: dict) -> None:
        """A room event for this socket. The common case, the next message of a room, is
        written at once; one behind a gap waits, with everything after it, for the gap to be
        filled from the database, so each socket gets every message once and in order."""
        session_id = event.get("sessionId")
        held = self.joining.get(session_id)
        if held is not None:
            held.append(event)
            return
        if self.backlog is None and not self._behind_a_gap(event):
            await self._deliver(event)
            return
        if self.backlog is None:
            self.backlog = []
            self.drain_task = asyncio.create_task(self._drain())
        self.backlog.append(event)

    def _behind_a_gap(self, event: dict) -> bool:
        kind = event.get("type")
        if kind not in ("room.frame", "room.batch"):
            return False
        delivered = self.rooms.get(event.get("sessionId"))
        seq = event.get("first") if kind == "room.batch" else event.get("seq")
        return delivered is not None and isinstance(seq, int) and seq > delivered + 1

    async def _drain(self) -> None:
        failures = 0
        try:
            while self.backlog:
                try:
                    await self._deliver(self.backlog[0])
                except Exception:
                    # the gap fill's database read failed: keep the events, try again shortly
                    # (re-delivery is safe: seqs already given are skipped)
                    failures += 1
                    logger.warning("live room: delivery after a gap failed (%d)", failures, exc_info=failures == 1)
                    if failures >= DRAIN_ATTEMPTS:
                        raise
                    await asyncio.sleep(min(5.0, 0.2 * 2**failures))
                    continue
                self.backlog.pop(0)
        except Exception:
            logger.exception("live room: gave up delivering after a gap; the socket re-joins to recover")
            await self.end("resync")
        finally:
            self.backlog = None

    async def _deliver(self, event: dict) -> None:
        session_id = event.get("sessionId")
        if session_id not in self.rooms:
            return  # left the room
        if event.get("type") in ("room.frame", "room.batch"):
            await self._deliver_message(session_id, event)
        else:
            await self.write_room_event(event)

    async def _deliver_message(self, session_id: str, event: dict) -> None:
        delivered = self.rooms[session_id]
        if event["type"] == "room.batch":
            items = [item for item in event["items"] if item["seq"] > delivered]
            if items and items[0]["seq"] > delivered + 1:
                await self._fill_own(session_id, items[0]["seq"])
                items = [item for item in items if item["seq"] > self.rooms[session_id]]
            if items:
                self.rooms[session_id] = items[-1]["seq"]
                await self.write_batch(session_id, event, items)
            return
        seq = event.get("seq")
        if not isinstance(seq, int) or seq <= delivered:
            return  # already given (in `missed`, or by a gap fill)
        if seq == delivered + 1:
            self.rooms[session_id] = seq
            await self.write_frame(event)
            return
        await self._fill_own(session_id, seq)

    async def _fill_own(self, session_id: str, upto_seq: int) -> None:
        """This socket's own gap fill, from the database, up to and including ``upto_seq``."""
        for item in await _gap(self.user, session_id, self.rooms[session_id], upto_seq):
            if self.rooms.get(session_id, upto_seq) >= item["seq"]:
                continue
            self.rooms[session_id] = item["seq"]
            await self.write_message(session_id, item)

    def batch_frames(self, event: dict, items: list[dict], key: str, encode) -> list:
        """``encode([(seq, payload), ...])`` for this socket: computed once per process and kept
        in the event under ``key`` when the socket takes the whole batch as everyone does (not
        a part of it, nor staff's text of hidden messages)."""
        staff_text = self.staff and any("staff_payload" in item for item in items)
        shared = len(items) == len(event["items"]) and not staff_text
        if shared and key in event:
            return event[key]
        pick = "staff_payload" if staff_text else "payload"
        frames = encode([(item["seq"], item.get(pick, item["payload"])) for item in items])
        if shared:
            event[key] = frames
        return frames

    # --- the user's own events, handed over by the process's room hub ----------------------------

    async def user_event(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "notification.push":
            await self.write_notification(event["notification"])
        elif kind == "access.changed":
            # Re-checked beside the hub, which hands the process's other events on meanwhile
            # (the re-check is a database trip).
            task = asyncio.create_task(self._access_changed(event))
            self.access_tasks.add(task)
            task.add_done_callback(self.access_tasks.discard)

    async def _access_changed(self, event: dict) -> None:
        """k12/access_events.py: re-check now; then tell the client, which re-reads what it may do."""
        if await self.recheck():
            await self.write_access_changed(event.get("reason"), event.get("sessionIds", []))

    # --- access over time ---------------------------------------------------------------------

    async def _recheck_loop(self) -> None:
        interval = settings.WS_ACCESS_RECHECK_SECONDS
        # The first re-check comes at a random point of the interval's second half, so that
        # sockets which connected together (everyone reconnecting after a restart) do not
        # re-check together ever after, nor while they are still connecting.
        wait = interval * random.uniform(0.5, 1.0)  # noqa: S311 - spreading load, not a secret
        while True:
            await asyncio.sleep(min(wait, self._seconds_to_expiry()))
            if self.token_expires_at is not None and time.time() >= self.token_expires_at:
                await self.end("expired")
                return
            await self.recheck()
            wait = interval

    def _seconds_to_expiry(self) -> float:
        if self.token_expires_at is None:
            return float("inf")
        return max(0.05, self.token_expires_at - time.time())

    async def recheck(self) -> bool:
        """Drop what the user may no longer see; end the socket if the user was deactivated.
        False when the socket was ended (or never authenticated)."""
        if self.user is None:
            return False
        user, lost = await _recheck(self.user.id, list(self.rooms))
        if user is None:
            await self.end("deactivated")
            return False
        self.user, self.staff = user, permissions.sees_hidden_text(user)
        for session_id in lost:
            if session_id in self.rooms:  # (not left meanwhile)
                await self.leave_room(session_id)
                await self.room_lost(session_id)
        return True
