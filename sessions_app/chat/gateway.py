"""The live room for socket.io clients (socket.io-client v4 with its defaults, unchanged):
socket.io (Engine.IO v4, long-polling with upgrade, or WebSocket only) at /socket.io/, namespace
/encounters, served by python-socketio inside the same daphne process as /ws/encounters/
(k12/asgi.py).

- Authentication at connect: ``handshake.auth.token`` (an access JWT, ``Bearer`` prefix
  allowed), else the browser's Django session cookie. Neither → the connection is refused (the
  client gets ``connect_error``).
- ``joinSession`` / ``leaveSession`` ``{sessionId, after?}``: the same guarded fetch as the
  WebSocket consumer (``k12.permissions.access_booking``). A refused join gets an
  ``exception`` event ``{status: "error", message}`` and nothing of the room. With ``after`` (a
  message id) what was missed comes first, as ``newMessage`` events; the acknowledgement, for a
  client that asks for one, is ``{status: "ok", sessionId, hasMore}``.
- Each socket is a member of the process's room hub (sessions_app/chat/hub.py), exactly as a
  /ws/encounters/ socket is (``LiveMember``): the same channel-layer group, the same ordering,
  de-duplication and gap filling. A broadcast message becomes one socket.io packet per process
  (``newMessage`` ``{id, from, text, created_at, user_id, hidden, seq, session_id}``), written
  to each member's Engine.IO socket as it is.
- A user over ``WS_MAX_SOCKETS_PER_USER`` sockets (both protocols, all processes) is refused at
  connect. Origins are checked against the allowed hosts (as on /ws/), events are rate-limited
  (``WS_RATE_PER_SECOND``/``WS_RATE_BURST``; ``WS_FLOOD_STRIKES`` over the limit disconnects),
  access is re-checked like on /ws/, and a socket whose token expires is disconnected.
"""

from __future__ import annotations

import json
import logging
from importlib import import_module
from urllib.parse import urlparse

import socketio
from channels.auth import get_user
from channels.layers import get_channel_layer
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.http.cookie import parse_cookie
from rest_framework_simplejwt.exceptions import TokenError

from k12 import permissions
from k12.errors import DomainError
from k12.models import User
from sessions_app.chat.consumers import TokenBucket, _user_from_token
from sessions_app.chat.live import LiveMember, live_error
from sessions_app.chat.socket_cap import socket_acquire, socket_release

logger = logging.getLogger(__name__)

NAMESPACE = "/encounters"
MESSAGES = {
    "resync": "Could not deliver every message; reconnect and join again.",
    "deactivated": "This account can no longer use the live room.",
    "expired": "Token expired.",
}


def _origin_allowed(origin: str | None, environ: dict | None = None) -> bool:
    """The Origin header against ALLOWED_HOSTS, as Channels' AllowedHostsOriginValidator checks
    /ws/. Engine.IO asks only when a request carries one: a browser always sends it on a
    WebSocket and on a cross-origin request; a same-origin long-polling GET may not."""
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    try:
        return OriginValidator(None, allowed).valid_origin(urlparse(origin))
    except ValueError:
        return False


async def _authenticate(environ: dict, auth) -> tuple[User, float | None]:
    """(user, token expiry or None for a session cookie); raises TokenError."""
    raw = auth.get("token") if isinstance(auth, dict) else None
    if isinstance(raw, str) and raw.lower().startswith("bearer "):
        raw = raw[7:]
    if raw:
        return await _user_from_token(raw)
    key = parse_cookie(environ.get("HTTP_COOKIE", "")).get(settings.SESSION_COOKIE_NAME)
    if key:
        session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
        user = await get_user({"session": session})
        if user.is_authenticated and user.is_active:
            return user, None
    raise TokenError("No valid token or session.")


def _packet(event: str, data) -> str:
    """An encoded socket.io EVENT packet for the namespace, ready for Engine.IO."""
    return socketio.packet.Packet(socketio.packet.EVENT, data=[event, data], namespace=NAMESPACE).encode()


def _message_data(session_id: str, seq: int, payload: dict) -> dict:
    return {**payload, "seq": seq, "session_id": session_id}


def _encoded(event: dict) -> str | None:
    """The socket.io packet for a room event, built once per process: the hub hands the same
    event dict to every member, so the first member to need it leaves it there for the rest."""
    packet = event.get("socketio")
    if packet is None:
        frame = json.loads(event["frame"])
        if event.get("type") == "room.frame":
            packet = _packet("newMessage", _message_data(frame["sessionId"], event["seq"], frame["message"]))
        else:  # typing, messageHidden, ...: the frame's own type names the event
            packet = _packet(frame.pop("type"), frame)
        event["socketio"] = packet
    return packet


class GatewayMember(LiveMember):
    """One socket.io connection in the live room."""

    def __init__(self, namespace: Encounters, sid: str):
        self.namespace = namespace
        self.sid = sid
        self.eio_sid = namespace.server.manager.eio_sid_from_sid(sid, NAMESPACE)
        self.layer = get_channel_layer()
        self.live_start(self.layer, sid)
        self.bucket = TokenBucket(settings.WS_RATE_PER_SECOND, settings.WS_RATE_BURST)
        self.rate_strikes = 0

    def start(self, user: User, expires_at: float | None) -> None:
        self.authenticated(user, expires_at=expires_at)

    async def stop(self) -> None:
        await self.live_stop()

    async def emit(self, event: str, data) -> None:
        await self.write(_packet(event, data))

    async def write(self, packet: str) -> None:
        await self.namespace.server.eio.send(self.eio_sid, packet)

    async def error(self, message: str) -> None:
        """The error event socket.io clients of this room listen for: ``exception``."""
        await self.emit("exception", {"status": "error", "message": message})

    def over_rate(self) -> bool:
        """True for an event over the rate limit (it is dropped); disconnects a flooding client."""
        if self.bucket.take():
            return False
        self.rate_strikes += 1
        return True

    # --- LiveMember -------------------------------------------------------------------------

    async def write_frame(self, event: dict) -> None:
        await self.write(_encoded(event))

    async def write_message(self, session_id: str, item: dict) -> None:
        await self.emit("newMessage", _message_data(session_id, item["seq"], item["payload"]))

    async def write_batch(self, session_id: str, event: dict, items: list[dict]) -> None:
        def encode(messages):
            return [_packet("newMessage", _message_data(session_id, seq, payload)) for seq, payload in messages]

        for packet in self.batch_frames(event, items, "socketio_packets", encode):
            await self.write(packet)

    async def write_room_event(self, event: dict) -> None:
        if event.get("type") == "room.typing" and event.get("origin") == self.socket_id:
            return
        await self.write(_encoded(event))

    async def room_lost(self, session_id: str) -> None:
        message = "Access to this session has ended."
        await self.emit("exception", {"status": "error", "message": message, "sessionId": session_id})

    async def write_notification(self, notification: dict) -> None:
        await self.emit("notification", notification)

    async def write_access_changed(self, reason: str | None, session_ids: list) -> None:
        await self.emit("accessChanged", {"reason": reason, "sessionIds": session_ids})

    async def end(self, reason: str) -> None:
        await self.error(MESSAGES[reason])
        await self.namespace.disconnect(self.sid)


class Encounters(socketio.AsyncNamespace):
    """The ``/encounters`` namespace: the live room over socket.io."""

    def __init__(self):
        super().__init__(NAMESPACE)
        self.members: dict[str, GatewayMember] = {}

    async def on_connect(self, sid, environ, auth=None):
        try:
            user, expires_at = await _authenticate(environ, auth)
        except TokenError:
            raise socketio.exceptions.ConnectionRefusedError("Unauthorized") from None
        if not await socket_acquire(user.id, sid):
            raise socketio.exceptions.ConnectionRefusedError("Too many sockets for this user")
        member = GatewayMember(self, sid)
        self.members[sid] = member
        member.start(user, expires_at)

    async def on_disconnect(self, sid, reason=None):
        member = self.members.pop(sid, None)
        if member is not None:
            await member.stop()
            await socket_release(member.user.id, sid)

    async def trigger_event(self, event, *args):
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        member = self.members.get(args[0]) if args else None
        if member is None:
            return None
        if member.over_rate():
            if member.rate_strikes > settings.WS_FLOOD_STRIKES:
                await self.disconnect(member.sid)
            else:
                await member.error("Too many events; slow down.")
            return None
        if event not in ("joinSession", "leaveSession"):
            await member.error(f"Unknown event {event!r}.")
            return None
        return await super().trigger_event(event, *args)

    @staticmethod
    def _session_id(data) -> str | None:
        raw = data.get("sessionId") if isinstance(data, dict) else None
        parsed = permissions.parse_uuid(raw) if isinstance(raw, str) else None
        return str(parsed) if parsed is not None else None

    async def on_joinSession(self, sid, data=None):  # noqa: N802  (the event's name on the wire)
        member = self.members[sid]
        session_id = self._session_id(data)
        if session_id is None:
            await member.error("'sessionId' must be a session id (UUID).")
            return None
        after = data.get("after")
        if after is not None and not isinstance(after, str):
            await member.error("'after' must be a message id.")
            return None
        try:
            missed, has_more, held = await member.join_room(session_id, after)
        except DomainError as exc:
            _code, message, _errors = live_error(exc)
            await member.error(message)
            return None
        for item in missed:
            await member.write_message(session_id, item)
        for event in held:
            await member.hub_event(event)
        return {"status": "ok", "sessionId": session_id, "hasMore": has_more}

    async def on_leaveSession(self, sid, data=None):  # noqa: N802
        member = self.members[sid]
        session_id = self._session_id(data)
        if session_id is None:
            await member.error("'sessionId' must be a session id (UUID).")
            return None
        await member.leave_room(session_id)
        return {"status": "ok", "sessionId": session_id}


server = socketio.AsyncServer(
    async_mode="asgi",
    cors_allowed_origins=_origin_allowed,
    # One event at a time per connection, in order: a leaveSession never overtakes its join.
    async_handlers=False,
    logger=False,
    engineio_logger=False,
)
server.register_namespace(Encounters())
