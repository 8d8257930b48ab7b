"""The live session room: one WebSocket endpoint, /ws/encounters/ (the guide's `encounters`
gateway), JSON text frames with a ``type``. See shared/CONTRACT.md, "Real-time chat".

What closes the guide's holes:
- auth is the first frame (an access JWT) or the browser's Django session; nothing in the URL;
  no valid auth within ``WS_AUTH_TIMEOUT_SECONDS`` closes with 4401;
- joining a room goes through ``k12.permissions.access_booking``, the REST rule;
- sending goes through ``sessions_app.services.message_create``, the REST write path;
- frames are validated, rate-limited, and a flooding client is closed (4429);
- access is re-checked every ``WS_ACCESS_RECHECK_SECONDS`` and when the server is told it
  changed: a deactivated user is closed (4403), a room the user lost access to is left; a socket
  authenticated by JWT closes (4401) when its token expires unless the client re-sends ``auth``
  with a fresh one, so a socket does not outlive a logout by more than the token's lifetime.

Consumers do no slow work: database access runs in ``database_sync_to_async``; a broadcast frame
arrives pre-encoded, once per process, and the process's room hub (sessions_app/hub.py) writes
it to each socket in the room directly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework.exceptions import APIException, ValidationError
from rest_framework_simplejwt.exceptions import TokenError

from k12 import permissions
from k12.authentication import user_from_access_token
from k12.models import User
from k12.notifications import user_group
from sessions_app import selectors, services
from sessions_app.hub import hub_for
from sessions_app.payloads import message_payload, row_payload
from sessions_app.socket_cap import CLOSE_TOO_MANY_SOCKETS, socket_acquire, socket_release

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_FLOODING = 4429
CLOSE_RESYNC = 1011  # could not fill a gap: the client reconnects and re-joins with `after`
DRAIN_ATTEMPTS = 6

MAX_FRAME_CHARS = 16 * 1024
MISSED_LIMIT = 200
GAP_FILL_LIMIT = 1000


def _setting(name: str, default):
    return getattr(settings, name, default)


@dataclass
class TokenBucket:
    """``rate`` frames a second on average, bursts up to ``burst``."""

    rate: float
    burst: float
    tokens: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self):
        self.tokens = self.burst

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class FrameError(Exception):
    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.extra = extra


def _user_payload(user: User) -> dict:
    return {
        "id": str(user.id),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": user.role,
    }


@database_sync_to_async
def _user_from_token(raw) -> tuple[User, float]:
    """An access token (never a refresh token) of an active user → (user, expiry epoch): the
    REST API's own check (k12.authentication), its cache of verified tokens included."""
    return user_from_access_token(raw)


@database_sync_to_async
def _still_active(user_id) -> bool:
    return User.objects.filter(pk=user_id, is_active=True).exists()


@database_sync_to_async
def _join(user: User, session_id, after) -> tuple[list[dict], int, bool]:
    """(missed, delivered-up-to seq, has_more). The seq is the newest *committed* message's when
    the history was read: everything up to it is either in `missed` or outside what the client
    asked for (older than its cursor, or left to REST paging when `has_more`)."""
    booking = permissions.access_booking(user, session_id, "view")
    baseline = selectors.last_committed_seq(booking)
    # the REST page selector: without `after` the newest page, with it the page just after it
    page = selectors.messages_page(booking.pk, after=after, limit=MISSED_LIMIT)
    missed = page.messages
    has_more = page.has_newer if after is not None else False
    staff = permissions.sees_hidden_text(user)
    baseline = max([baseline, *(row[selectors.SEQ] for row in missed)])
    return [row_payload(row, staff=staff) for row in missed], baseline, has_more


@database_sync_to_async
def _gap(user: User, session_id: str, after_seq: int, upto_seq: int) -> list[dict]:
    staff = permissions.sees_hidden_text(user)
    rows = selectors.messages_in_range(session_id, after_seq=after_seq, upto_seq=upto_seq, limit=GAP_FILL_LIMIT)
    return [{"seq": row[selectors.SEQ], "payload": row_payload(row, staff=staff)} for row in rows]


@database_sync_to_async
def _can_still_view(user: User, session_ids: list[str]) -> list[str]:
    """The rooms among ``session_ids`` the user may no longer see."""
    lost = []
    for session_id in session_ids:
        try:
            permissions.access_booking(user, session_id, "view")
        except (Http404, PermissionDenied):
            lost.append(session_id)
    return lost


@database_sync_to_async
def _send(user: User, session_id, text, client_id):
    booking = permissions.access_booking(user, session_id, "message")
    message, created = services.message_create(booking=booking, sender=user, text=text, client_id=client_id)
    return message_payload(message, staff=permissions.sees_hidden_text(user)), created


class SessionChatConsumer(AsyncWebsocketConsumer):
    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            # A handler that raised ends the consumer without disconnect(): the process's room
            # hub must not keep a dead socket (and its held events) in its rooms.
            if hasattr(self, "rooms"):
                await self._leave_all()
            await self._release_place()

    async def connect(self):
        self.user: User | None = None
        self.holds_place = False  # one of the user's WS_MAX_SOCKETS_PER_USER places
        self.token_expires_at: float | None = None
        # session id → the seq up to which this socket has been given the session's messages.
        # Live frames at or below it are duplicates; a frame beyond the next one means earlier
        # broadcasts were lost or overtaken, and the gap is filled from the database first.
        self.rooms: dict[str, int] = {}
        # Room events that arrive while a room's history is being read are held until the
        # `joined` frame has gone out; events behind a gap wait in `backlog` until it is filled.
        self.joining: dict[str, list[dict]] = {}
        self.backlog: list[dict] | None = None
        self.drain_task: asyncio.Task | None = None
        self.hub = hub_for(self.channel_layer)
        self.bucket = TokenBucket(_setting("WS_RATE_PER_SECOND", 10.0), _setting("WS_RATE_BURST", 20.0))
        self.rate_strikes = 0
        self.last_typing: dict[str, float] = {}
        self.deadline_task: asyncio.Task | None = None
        self.recheck_task: asyncio.Task | None = None
        await self.accept()
        self.deadline_task = asyncio.create_task(self._auth_deadline())
        scope_user = self.scope.get("user")
        if scope_user is not None and scope_user.is_authenticated and scope_user.is_active:
            await self._authenticated(scope_user, expires_at=None)

    async def disconnect(self, code):
        for task in (self.deadline_task, self.recheck_task, self.drain_task):
            if task is not None:
                task.cancel()
        await self._leave_all()
        await self._release_place()
        if self.user is not None:
            await self.channel_layer.group_discard(user_group(self.user.id), self.channel_name)

    # --- incoming frames ---------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if not self.bucket.take():
            self.rate_strikes += 1
            if self.rate_strikes > _setting("WS_FLOOD_STRIKES", 50):
                await self.close(code=CLOSE_FLOODING)
                return
            await self._error("rate_limited", "Too many frames; slow down.")
            return
        try:
            frame = self._parse(text_data, bytes_data)
            handler = self._handlers().get(frame["type"])
            if handler is None:
                raise FrameError(f"Unknown frame type {frame['type']!r}.")
            if self.user is None and frame["type"] != "auth":
                await self._error("unauthenticated", "Send an auth frame first.")
                return
            await handler(frame)
        except FrameError as exc:
            await self._error("invalid", str(exc), **exc.extra)

    def _handlers(self):
        return {
            "auth": self.on_auth,
            "joinSession": self.on_join,
            "leaveSession": self.on_leave,
            "sendMessage": self.on_send,
            "typing": self.on_typing,
        }

    @staticmethod
    def _parse(text_data, bytes_data) -> dict:
        if text_data is None:
            raise FrameError("Frames must be JSON text.")
        if len(text_data) > MAX_FRAME_CHARS:
            raise FrameError(f"Frame larger than {MAX_FRAME_CHARS} characters.")
        try:
            frame = json.loads(text_data)
        except ValueError:
            raise FrameError("Frame is not valid JSON.") from None
        if not isinstance(frame, dict):
            raise FrameError("Frame must be a JSON object.")
        if not isinstance(frame.get("type"), str):
            raise FrameError("Frame needs a string 'type'.")
        return frame

    @staticmethod
    def _session_id(frame) -> str:
        session_id = frame.get("sessionId")
        if not isinstance(session_id, str) or not session_id:
            raise FrameError("'sessionId' must be a string.", field="sessionId")
        if permissions.parse_uuid(session_id) is None:
            raise FrameError("'sessionId' must be a session id (UUID).", field="sessionId")
        return str(permissions.parse_uuid(session_id))

    async def on_auth(self, frame):
        try:
            user, expires_at = await _user_from_token(frame.get("token"))
        except TokenError:
            if self.user is None:
                await self.close(code=CLOSE_UNAUTHENTICATED)
            else:
                await self._error("unauthenticated", "Token is invalid or expired.")
            return
        if self.user is not None and self.user.id != user.id:
            await self._error("invalid", "This socket is already authenticated as another user.")
            return
        await self._authenticated(user, expires_at=expires_at)

    async def on_join(self, frame):
        session_id = self._session_id(frame)
        after = frame.get("after")
        if after is not None and not isinstance(after, str):
            raise FrameError("'after' must be a message id.", field="after")
        # Be in the room before reading history: a message committed in between is held in
        # `joining` and given after `joined` (de-duplicated against `missed`), never lost.
        self.joining[session_id] = []
        try:
            await self.hub.join(session_id, self)
            missed, delivered, has_more = await _join(self.user, session_id, after)
        except (Http404, PermissionDenied, ValidationError) as exc:
            await self._leave(session_id)  # also when it was joined before: access is gone
            await self._access_error(exc, session_id)
            return
        except BaseException:
            await self._leave(session_id)
            raise
        self.rooms[session_id] = delivered
        held = self.joining.pop(session_id)
        await self._send_json({"type": "joined", "sessionId": session_id, "missed": missed, "hasMore": has_more})
        for event in held:
            await self.hub_event(event)

    async def on_leave(self, frame):
        session_id = self._session_id(frame)
        await self._leave(session_id)
        await self._send_json({"type": "left", "sessionId": session_id})

    async def on_send(self, frame):
        session_id = self._session_id(frame)
        try:
            payload, created = await _send(self.user, session_id, frame.get("text"), frame.get("clientId"))
        except ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"text": exc.detail}
            if "client_id" in detail:
                detail = {"clientId": detail.pop("client_id"), **detail}
            await self._error("invalid", "Message rejected.", sessionId=session_id, errors=detail)
            return
        except (Http404, PermissionDenied) as exc:
            await self._access_error(exc, session_id)
            return
        if not created:
            # A retry: nothing is broadcast, so the sender gets its first message back directly.
            await self._send_json({"type": "newMessage", "sessionId": session_id, "message": payload})

    async def on_typing(self, frame):
        session_id = self._session_id(frame)
        if session_id not in self.rooms:
            await self._error("invalid", "Join the session before typing in it.", sessionId=session_id)
            return
        now = time.monotonic()
        if now - self.last_typing.get(session_id, 0.0) < _setting("WS_TYPING_INTERVAL_SECONDS", 2.0):
            return  # throttled: at most one typing event per interval reaches the room
        self.last_typing[session_id] = now
        frame_out = json.dumps(
            {
                "type": "typing",
                "sessionId": session_id,
                "user": {"id": str(self.user.id), "name": self.user.display_name},
            }
        )
        await self.channel_layer.group_send(
            services.session_group(session_id),
            {"type": "room.typing", "frame": frame_out, "origin": self.channel_name, "sessionId": session_id},
        )

    # --- room events, handed over by the process's room hub (sessions_app/hub.py) --------------

    async def hub_event(self, event: dict) -> None:
        """A room event for this socket. The common case, the next message of a room, is
        written at once; one behind a gap (a broadcast lost while Redis blinked, or overtaken
        between two server processes) waits, with everything after it, for the gap to be
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
        if event.get("type") != "room.frame":
            return False
        delivered = self.rooms.get(event.get("sessionId"))
        seq = event.get("seq")
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
            await self.close(code=CLOSE_RESYNC)
        finally:
            self.backlog = None

    async def _deliver(self, event: dict) -> None:
        session_id = event.get("sessionId")
        if session_id not in self.rooms:
            return  # left the room
        kind = event.get("type")
        if kind == "room.moderation":
            await self.send(text_data=event["frame"])
        elif kind == "room.typing":
            if event.get("origin") != self.channel_name:
                await self.send(text_data=event["frame"])
        elif kind == "room.frame":
            await self._deliver_message(session_id, event)

    async def _deliver_message(self, session_id: str, event: dict) -> None:
        delivered = self.rooms[session_id]
        seq = event.get("seq")
        if not isinstance(seq, int) or seq <= delivered:
            return  # already given (in `missed`, or by a gap fill)
        if seq == delivered + 1:
            self.rooms[session_id] = seq
            await self.send(text_data=event["frame"])
            return
        for item in await _gap(self.user, session_id, delivered, seq):
            if self.rooms.get(session_id, seq) >= item["seq"]:
                continue
            self.rooms[session_id] = item["seq"]
            await self._send_json({"type": "newMessage", "sessionId": session_id, "message": item["payload"]})

    # --- events from the channel layer (this socket's own channel) ----------------------------

    async def notification_push(self, event):
        await self._send_json({"type": "notification", "notification": event["notification"]})

    async def access_changed(self, event):
        await self._recheck()

    # --- helpers -----------------------------------------------------------------------------

    async def _authenticated(self, user: User, *, expires_at: float | None):
        first = self.user is None
        if first:
            if not await socket_acquire(user.id, self.channel_name):
                await self.close(code=CLOSE_TOO_MANY_SOCKETS)
                return
            self.holds_place = True
        self.user = user
        self.token_expires_at = expires_at
        # (Re)start the re-check clock: a fresh token moves the deadline.
        if self.recheck_task is not None:
            self.recheck_task.cancel()
        self.recheck_task = asyncio.create_task(self._recheck_loop())
        if first:
            await self.channel_layer.group_add(user_group(user.id), self.channel_name)
        await self._send_json({"type": "ready", "user": _user_payload(user)})

    async def _release_place(self):
        if getattr(self, "holds_place", False):
            self.holds_place = False
            await socket_release(self.user.id, self.channel_name)

    async def _leave(self, session_id: str):
        self.rooms.pop(session_id, None)
        self.joining.pop(session_id, None)
        await self.hub.leave(session_id, self)

    async def _leave_all(self):
        """Every room, also one still being joined; a layer error does not stop the others."""
        for session_id in {*self.rooms, *self.joining}:
            try:
                await self._leave(session_id)
            except Exception:
                logger.warning("live room: leaving %s failed", session_id, exc_info=True)

    async def _auth_deadline(self):
        await asyncio.sleep(_setting("WS_AUTH_TIMEOUT_SECONDS", 10))
        if self.user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _recheck_loop(self):
        interval = _setting("WS_ACCESS_RECHECK_SECONDS", 60)
        while True:
            await asyncio.sleep(min(interval, self._seconds_to_expiry()))
            if self.token_expires_at is not None and time.time() >= self.token_expires_at:
                await self.close(code=CLOSE_UNAUTHENTICATED)
                return
            await self._recheck()

    def _seconds_to_expiry(self) -> float:
        if self.token_expires_at is None:
            return float("inf")
        return max(0.05, self.token_expires_at - time.time())

    async def _recheck(self):
        """Drop what the user may no longer see; close if the user was deactivated."""
        if self.user is None:
            return
        if not await _still_active(self.user.id):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        for session_id in await _can_still_view(self.user, list(self.rooms)):
            await self._leave(session_id)
            await self._error("forbidden", "Access to this session has ended.", sessionId=session_id)

    async def _access_error(self, exc, session_id: str):
        if isinstance(exc, Http404):
            await self._error("not_found", "Session not found.", sessionId=session_id)
        elif isinstance(exc, PermissionDenied):
            await self._error("forbidden", str(exc) or "Access denied to this session.", sessionId=session_id)
        elif isinstance(exc, ValidationError):
            await self._error("invalid", "Invalid request.", sessionId=session_id, errors=exc.detail)
        elif isinstance(exc, APIException):
            await self._error("invalid", str(exc.detail), sessionId=session_id)

    async def _error(self, code: str, message: str, **extra):
        await self._send_json({"type": "error", "code": code, "message": message, **extra})

    async def _send_json(self, payload: dict):
        await self.send(text_data=json.dumps(payload))
