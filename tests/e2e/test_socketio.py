"""socket.io clients against real daphne processes: the npm socket.io-client
(tests/js/sio_client.js, driven over its stdin/stdout), both transports, two server processes
sharing Redis, messages from REST and from /ws/encounters/."""

from __future__ import annotations

import asyncio
import json
import queue
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
import websockets
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.test import Client as DjangoClient
from rest_framework_simplejwt.tokens import AccessToken

from k12.models import Student
from k12.notifications import user_group
from tests.e2e.servers import Daphne, running
from tests.e2e.test_live_room import ORIGIN, bearer, post

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live"), pytest.mark.django_db(transaction=True)]

CLIENT = Path(__file__).resolve().parents[1] / "js" / "sio_client.js"
MESSAGE_FIELDS = {"id", "from", "text", "created_at", "user_id", "seq"}


class SioClient:
    """One socket.io-client in a Node process; what it prints is kept as a list of events."""

    def __init__(self, server, token: str | None = None, transports=None, headers=None):
        options = {"url": server.http, "headers": {"origin": ORIGIN, **(headers or {})}}
        if token is not None:
            options["token"] = token
        if transports is not None:
            options["transports"] = transports
        self.proc = subprocess.Popen(
            ["node", str(CLIENT), json.dumps(options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        self.events: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def expect(self, *names: str, timeout: float = 15) -> dict:
        """The next event named one of ``names`` (earlier ones are kept in ``events``)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {names} within {timeout} s; got {self.events}") from None
            if line is None:
                raise AssertionError(f"client exited before {names}: {self.events} {self.proc.stderr.read()}")
            self.events.append(line)
            if line["event"] in names:
                return line

    def drain(self, seconds: float) -> None:
        """Collect whatever arrives for ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                return
            if line is None:
                return
            self.events.append(line)

    def messages(self) -> list[dict]:
        return [e["data"] for e in self.events if e["event"] == "newMessage"]

    def send(self, **command) -> None:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def join(self, session_id: str, **extra) -> dict:
        self.send(emit="joinSession", data={"sessionId": session_id, **extra}, ack=True)
        return self.expect("ack")["data"]

    def __enter__(self) -> SioClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send(close=True)
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def token(user) -> str:
    return str(AccessToken.for_user(user))


def wait_for(client: SioClient, count: int, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(client.messages()) < count and time.monotonic() < deadline:
        client.drain(0.2)
    return client.messages()


def ws_send_message(server, user, session_id: str, text: str) -> None:
    """A message sent through /ws/encounters/ (our own JSON frames)."""

    async def send():
        async with websockets.connect(server.ws, origin=ORIGIN, open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "auth", "token": token(user)}))
            assert json.loads(await ws.recv())["type"] == "ready"
            await ws.send(json.dumps({"type": "sendMessage", "sessionId": session_id, "text": text}))
            await ws.send(json.dumps({"type": "joinSession", "sessionId": session_id}))
            while json.loads(await ws.recv())["type"] != "joined":
                pass

    asyncio.run(send())


def test_both_transports_on_two_processes_get_every_message_once_in_order(world, daphnes):
    d1, d2 = daphnes
    sid = str(world.booking.id)
    upgraded = SioClient(d1, token(world.parent))  # the default: long-polling, then WebSocket
    ws_only = SioClient(d2, f"Bearer {token(world.tutor)}", transports=["websocket"])
    try:
        assert upgraded.expect("open")["transport"] == "polling"
        assert upgraded.expect("upgrade")["transport"] == "websocket"
        upgraded.expect("connect")
        assert ws_only.expect("open")["transport"] == "websocket"
        ws_only.expect("connect")
        assert upgraded.join(sid) == {"status": "ok", "sessionId": sid, "hasMore": False}
        assert ws_only.join(sid)["status"] == "ok"
        headers = bearer(world.student_user)
        for i in range(10):
            post(daphnes[i % 2], headers, sid, f"rest{i}")
        ws_send_message(d2, world.parent, sid, "from /ws/")
        expected = [*(f"rest{i}" for i in range(10)), "from /ws/"]
        for client in (upgraded, ws_only):
            got = wait_for(client, len(expected))
            client.drain(0.5)
            assert [m["text"] for m in client.messages()] == expected
            assert [m["seq"] for m in got] == list(range(1, 12))
            assert MESSAGE_FIELDS <= set(got[0])
            assert got[0]["from"] == "Sam Parker" and got[0]["user_id"] == str(world.student_user.id)
    finally:
        upgraded.close()
        ws_only.close()


def test_join_with_after_gets_what_was_missed_first(world, daphnes):
    sid = str(world.booking.id)
    headers = bearer(world.parent)
    first = post(daphnes[0], headers, sid, "one").json()
    post(daphnes[0], headers, sid, "two")
    with SioClient(daphnes[1], token(world.tutor), transports=["websocket"]) as client:
        client.expect("connect")
        assert client.join(sid, after=first["id"])["status"] == "ok"
        post(daphnes[0], headers, sid, "three")
        wait_for(client, 2)
        client.drain(0.5)
        assert [m["text"] for m in client.messages()] == ["two", "three"]


def test_a_refused_join_gets_an_exception_event_and_nothing_of_the_room(world, daphnes):
    sid = str(world.booking.id)
    with SioClient(daphnes[0], token(world.other_parent), transports=["websocket"]) as outsider:
        outsider.expect("connect")
        outsider.send(emit="joinSession", data={"sessionId": sid})  # as a plain emit: no ack
        error = outsider.expect("exception")["data"]
        assert error["status"] == "error" and error["message"]
        outsider.send(emit="joinSession", data={"sessionId": "not-a-session"})
        assert outsider.expect("exception")["data"]["status"] == "error"
        post(daphnes[1], bearer(world.parent), sid, "private")
        outsider.drain(0.8)
        assert outsider.messages() == []


def test_leave_session_stops_delivery(world, daphnes):
    sid = str(world.booking.id)
    with SioClient(daphnes[0], token(world.tutor), transports=["websocket"]) as client:
        client.expect("connect")
        client.join(sid)
        post(daphnes[1], bearer(world.parent), sid, "in")
        wait_for(client, 1)
        client.send(emit="leaveSession", data={"sessionId": sid}, ack=True)
        client.expect("ack")
        post(daphnes[1], bearer(world.parent), sid, "out")
        client.drain(0.8)
        assert [m["text"] for m in client.messages()] == ["in"]


@pytest.mark.parametrize(
    ("auth", "headers"),
    [
        (None, {}),  # no token, no cookie
        ("not-a-jwt", {}),
        ("refresh", {}),  # a refresh token is not an access token
        ("valid", {"origin": "http://evil.example"}),
    ],
    ids=["missing-token", "bad-token", "refresh-token", "foreign-origin"],
)
def test_connection_is_refused(world, daphnes, auth, headers):
    from rest_framework_simplejwt.tokens import RefreshToken

    raw = {"valid": token(world.parent), "refresh": str(RefreshToken.for_user(world.parent))}.get(auth, auth)
    for transports in (None, ["websocket"]):
        with SioClient(daphnes[0], raw, transports=transports, headers=headers) as client:
            assert client.expect("connect_error", "connect")["event"] == "connect_error"


def test_a_browser_session_cookie_authenticates(world, daphnes):
    browser = DjangoClient()
    browser.force_login(world.parent)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    with SioClient(daphnes[0], headers={"cookie": cookie}) as client:
        client.expect("connect")
        assert client.join(str(world.booking.id))["status"] == "ok"


def test_a_member_who_lost_access_leaves_the_room(world, daphnes, e2e_redis):
    """The server is told access changed (the services do this): the socket leaves at once."""
    sid = str(world.booking.id)
    with SioClient(daphnes[1], token(world.student_user), transports=["websocket"]) as student:
        student.expect("connect")
        student.join(sid)
        Student.objects.filter(pk=world.child.pk).update(user=None)  # the login is unlinked
        layer = RedisPubSubChannelLayer(
            hosts=[e2e_redis.url], prefix=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
        )
        event = {"type": "access.changed", "userId": str(world.student_user.id)}
        asyncio.run(layer.group_send(user_group(world.student_user.id), event))
        error = student.expect("exception")["data"]
        assert error == {"status": "error", "message": "Access to this session has ended.", "sessionId": sid}
        assert student.expect("accessChanged")["data"] == {"reason": None, "sessionIds": []}
        post(daphnes[0], bearer(world.parent), sid, "not for you")
        student.drain(0.8)
        assert student.messages() == []


def test_flooding_is_rate_limited(world, daphnes):
    with SioClient(daphnes[0], token(world.parent), transports=["websocket"]) as client:
        client.expect("connect")
        for _ in range(40):
            client.send(emit="leaveSession", data={"sessionId": str(world.booking.id)})
        client.drain(1.0)
        messages = [e["data"]["message"] for e in client.events if e["event"] == "exception"]
        assert "Too many events; slow down." in messages


def test_polling_requests_answer(daphnes):
    """The Engine.IO handshake itself, as a browser's first long-polling request makes it."""
    response = requests.get(f"{daphnes[0].http}/socket.io/?EIO=4&transport=polling", timeout=10)
    assert response.status_code == 200 and response.text.startswith("0{")


def test_the_socket_cap_counts_socketio_and_ws_sockets_together(world, daphnes):
    """WS_MAX_SOCKETS_PER_USER=1: a user's socket.io socket takes the one place; a second one,
    and a /ws/ socket, are refused; once it closes the place is free again."""
    capped = Daphne({**daphnes[0].env, "WS_MAX_SOCKETS_PER_USER": "1"})
    with running(capped):
        with SioClient(capped, token(world.parent), transports=["websocket"]) as first:
            first.expect("connect")
            with SioClient(capped, token(world.parent), transports=["websocket"]) as second:
                assert second.expect("connect_error", "connect") == {
                    "event": "connect_error",
                    "message": "Too many sockets for this user",
                }

            async def ws_refused():
                async with websockets.connect(capped.ws, origin=ORIGIN, open_timeout=10) as ws:
                    await ws.send(json.dumps({"type": "auth", "token": token(world.parent)}))
                    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                        await asyncio.wait_for(ws.recv(), timeout=10)
                    return closed.value.rcvd.code

            assert asyncio.run(ws_refused()) == 4409
        with SioClient(capped, token(world.parent), transports=["websocket"]) as again:
            assert again.expect("connect", "connect_error", timeout=20)["event"] == "connect"
