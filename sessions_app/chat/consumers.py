"""The live session room: one WebSocket endpoint, /ws/encounters/ (named after the socket.io
namespace ``encounters`` the gateway serves), JSON text frames with a ``type``.

What keeps it safe:
- auth is the first frame (an access JWT) or the browser's Django session; nothing in the URL;
  no valid auth within ``WS_AUTH_TIMEOUT_SECONDS`` closes with 4401;
- joining a room goes through ``k12.permissions.access_booking``, the REST rule;
- sending goes through ``sessions_app.chat.services.message_create``, the REST write path;
- frames are validated, rate-limited, and a flooding client is closed (4429);
- access is re-checked every ``WS_ACCESS_RECHECK_SECONDS`` and when the server is told it
  changed: a deactivated user is closed (4403), a room the user lost access to is left; a socket
  authenticated by JWT closes (4401) when its token expires unless the client re-sends ``auth``
  with a fresh one, so a socket does not outlive a logout by more than the token's lifetime.

Consumers do no slow work: database access runs on the server's thread pool (``database_work``);
a broadcast frame arrives pre-encoded, once per process, and the process's room hub
(sessions_app/chat/hub.py) writes it to each socket in the room directly. Joining, ordering, gap
filling and access re-checks are ``LiveMember``'s (sessions_app/chat/live.py), shared with the
socket.io gateway.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from rest_framework_simplejwt.exceptions import TokenError

from k12 import permissions
from k12.authentication import user_from_access_token
from k12.errors import DomainError, Invalid
from k12.formats import me_payload
from k12.models import User
from sessions_app.chat import services
from sessions_app.chat.hub import database_work
from sessions_app.chat.live import LiveMember, live_error
from sessions_app.chat.payloads import message_payload
from sessions_app.chat.socket_cap import CLOSE_TOO_MANY_SOCKETS, socket_acquire, socket_release

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_FLOODING = 4429
CLOSE_RESYNC = 1011  # could not fill a gap: the client reconnects and re-joins with `after`
CLOSE_CODES = {"resync": CLOSE_RESYNC, "deactivated": CLOSE_FORBIDDEN, "expired": CLOSE_UNAUTHENTICATED}

MAX_FRAME_CHARS = 16 * 1024
# A gap the hub filled with at least this many messages goes out as one `joined` frame (the shape
# every client already reads a batch of missed messages from), not a frame per message.
MISSED_BATCH_MIN = 5


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


@database_work
def _user_from_token(raw) -> tuple[User, float]:
    """An access token (never a refresh token) of an active user → (user, expiry epoch): the
    REST API's own check (k12.authentication), its cache of verified tokens included."""
    return user_from_access_token(raw)


@database_work
def _send(user: User, session_id, text, client_id):
    booking = permissions.access_booking(user, session_id, "message")
    message, created = services.message_create(booking=booking, sender=user, text=text, client_id=client_id)
    return message_payload(message, staff=permissions.sees_hidden_text(user)), message.seq, created


class SessionChatConsumer(LiveMember, AsyncWebsocketConsumer):
    async def __call__(self, scope, receive, send):
        try:
            await self._serve(scope, receive, send)
        finally:
            # A handler that raised ends the consumer without disconnect(): the process's room
            # hub must not keep a dead socket (and its held events) in its rooms.
            if hasattr(self, "rooms"):
                await self.live_stop()
            await self._release_place()

    async def _serve(self, scope, receive, send):
        """Channels' ``AsyncConsumer.__call__`` without a channel of the socket's own: the
        socket's events all come through the process's room hub (its rooms', and its user's
        notifications and access changes), so the socket reads only its own frames, one at a
        time, and asks the channel layer nothing to be served."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = None
        self.base_send = send
        # The socket's name in presence, the socket cap and typing's origin.
        self.socket_id = f"ws.{uuid.uuid4().hex}"
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message):
        """Channels' ``dispatch`` without its ``aclose_old_connections()``: that is a trip to a
        thread for every frame and event, and every database read here already runs
        in ``database_work``, which closes stale connections itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        self.live_start(self.channel_layer, self.socket_id)
        self.holds_place = False  # one of the user's WS_MAX_SOCKETS_PER_USER places
        self.bucket = TokenBucket(settings.WS_RATE_PER_SECOND, settings.WS_RATE_BURST)
        self.rate_strikes = 0
        self.last_typing: dict[str, float] = {}
        self.deadline_task: asyncio.Task | None = None
        await self.accept()
        self.deadline_task = asyncio.create_task(self._auth_deadline())
        scope_user = self.scope.get("user")
        if scope_user is not None and scope_user.is_authenticated and scope_user.is_active:
            await self._authenticated(scope_user, expires_at=None)

    async def disconnect(self, code):
        if self.deadline_task is not None:
            self.deadline_task.cancel()
        await self.live_stop()
        await self._release_place()

    # --- incoming frames ---------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if not self.bucket.take():
            self.rate_strikes += 1
            if self.rate_strikes > settings.WS_FLOOD_STRIKES:
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
        except RecursionError:  # the decoder recurses once per nesting level
            raise FrameError("Frame is nested too deeply.") from None
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
        try:
            missed, has_more, held = await self.join_room(session_id, after)
        except DomainError as exc:
            await self._refused(exc, session_id)
            return
        missed = [item["payload"] for item in missed]
        await self._send_json({"type": "joined", "sessionId": session_id, "missed": missed, "hasMore": has_more})
        for event in held:
            await self.hub_event(event)

    async def on_leave(self, frame):
        session_id = self._session_id(frame)
        await self.leave_room(session_id)
        await self._send_json({"type": "left", "sessionId": session_id})

    async def on_send(self, frame):
        session_id = self._session_id(frame)
        try:
            payload, seq, created = await _send(self.user, session_id, frame.get("text"), frame.get("clientId"))
        except Invalid as exc:
            errors = dict(exc.errors)
            if "client_id" in errors:  # the frame's own name for it
                errors = {"clientId": errors.pop("client_id"), **errors}
            await self._error(exc.code, "Message rejected.", sessionId=session_id, errors=errors)
            return
        except DomainError as exc:
            await self._refused(exc, session_id)
            return
        frame = {"type": "newMessage", "sessionId": session_id, "message": payload}
        if created and session_id in {*self.rooms, *self.joining}:
            # Acknowledged now, not when the broadcast comes back (it may not, with Redis away):
            # through the room's order, so the broadcast of the same seq is then a duplicate.
            await self.hub_event(
                {"type": "room.frame", "sessionId": session_id, "seq": seq, "frame": json.dumps(frame)}
            )
        else:
            # A retry (nothing is broadcast), or a sender outside the room: told directly.
            await self._send_json(frame)

    async def on_typing(self, frame):
        session_id = self._session_id(frame)
        if session_id not in self.rooms:
            await self._error("invalid", "Join the session before typing in it.", sessionId=session_id)
            return
        now = time.monotonic()
        if now - self.last_typing.get(session_id, 0.0) < settings.WS_TYPING_INTERVAL_SECONDS:
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
            {"type": "room.typing", "frame": frame_out, "origin": self.socket_id, "sessionId": session_id},
        )

    # --- how this socket writes what the room hub hands over (sessions_app/chat/live.py) -----------

    async def write_frame(self, event: dict) -> None:
        await self.send(text_data=event["frame"])

    async def write_message(self, session_id: str, item: dict) -> None:
        await self._send_json({"type": "newMessage", "sessionId": session_id, "message": item["payload"]})

    async def write_batch(self, session_id: str, event: dict, items: list[dict]) -> None:
        def encode(messages):
            payloads = [payload for _, payload in messages]
            if len(payloads) >= MISSED_BATCH_MIN:
                return [json.dumps({"type": "joined", "sessionId": session_id, "missed": payloads, "hasMore": False})]
            return [json.dumps({"type": "newMessage", "sessionId": session_id, "message": p}) for p in payloads]

        for frame in self.batch_frames(event, items, "ws_frames", encode):
            await self.send(text_data=frame)

    async def write_room_event(self, event: dict) -> None:
        if event.get("type") == "room.typing" and event.get("origin") == self.socket_id:
            return  # one's own typing
        await self.send(text_data=event["frame"])

    async def room_lost(self, session_id: str) -> None:
        await self._error("forbidden", "Access to this session has ended.", sessionId=session_id)

    async def write_notification(self, notification: dict) -> None:
        await self._send_json({"type": "notification", "notification": notification})

    async def write_access_changed(self, reason: str | None, session_ids: list) -> None:
        await self._send_json({"type": "accessChanged", "reason": reason, "sessionIds": session_ids})

    async def end(self, reason: str) -> None:
        await self.close(code=CLOSE_CODES[reason])

    # --- helpers -----------------------------------------------------------------------------

    async def _authenticated(self, user: User, *, expires_at: float | None):
        first = self.user is None
        if first:
            if not await socket_acquire(user.id, self.socket_id):
                await self.close(code=CLOSE_TOO_MANY_SOCKETS)
                return
            self.holds_place = True
        self.authenticated(user, expires_at=expires_at)
        await self._send_json({"type": "ready", "user": me_payload(user)})

    async def _release_place(self):
        if getattr(self, "holds_place", False):
            self.holds_place = False
            await socket_release(self.user.id, self.socket_id)

    async def _auth_deadline(self):
        await asyncio.sleep(settings.WS_AUTH_TIMEOUT_SECONDS)
        if self.user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _refused(self, exc: DomainError, session_id: str):
        code, message, errors = live_error(exc)
        await self._error(code, message, sessionId=session_id, **({} if errors is None else {"errors": errors}))

    async def _error(self, code: str, message: str, **extra):
        await self._send_json({"type": "error", "code": code, "message": message, **extra})

    async def _send_json(self, payload: dict):
        await self.send(text_data=json.dumps(payload))
