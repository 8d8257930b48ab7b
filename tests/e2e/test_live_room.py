"""The live room end to end: real daphne processes, real Redis, real PostgreSQL, a real
WebSocket client library (websockets) and HTTP client (requests)."""

from __future__ import annotations

import asyncio
import json
import random
import time

import pytest
import requests
import websockets
from rest_framework_simplejwt.tokens import AccessToken

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live"), pytest.mark.django_db(transaction=True)]

ORIGIN = "http://127.0.0.1"


def bearer(user) -> dict:
    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


class Client:
    """A live-room client that keeps what it received and reconnects with `after`."""

    def __init__(self, server, token: str, session_id: str, name: str = ""):
        self.server, self.token, self.session_id, self.name = server, token, session_id, name
        self.texts: list[str] = []
        self.ids: list[str] = []
        self.ws = None

    async def connect(self):
        self.ws = await websockets.connect(self.server.ws, origin=ORIGIN, open_timeout=10)
        await self.ws.send(json.dumps({"type": "auth", "token": self.token}))
        assert json.loads(await self.ws.recv())["type"] == "ready"
        join = {"type": "joinSession", "sessionId": self.session_id}
        if self.ids:
            join["after"] = self.ids[-1]
        await self.ws.send(json.dumps(join))
        while True:
            frame = json.loads(await self.ws.recv())
            if frame["type"] == "joined":
                break
            if frame["type"] == "newMessage":  # cannot precede `joined`; make it loud if it does
                raise AssertionError(f"live frame before joined: {frame}")
        for message in frame["missed"]:
            self._keep(message)
        if frame["hasMore"]:
            await asyncio.to_thread(self._catch_up_by_rest)

    def _catch_up_by_rest(self):
        while True:
            url = f"{self.server.http}/api/sessions/{self.session_id}/messages"
            page = requests.get(url, params={"after": self.ids[-1], "limit": 200}, headers=self._auth(), timeout=10)
            page.raise_for_status()
            for message in page.json():
                self._keep(message)
            if 'rel="next"' not in page.headers.get("Link", ""):
                return

    def _auth(self):
        return {"Authorization": f"Bearer {self.token}"}

    def _keep(self, message):
        self.ids.append(message["id"])
        self.texts.append(message["text"])

    async def pump(self, until: float | None = None, count: int | None = None):
        """Receive newMessage frames until `count` texts are held or the deadline passes."""
        while (count is None or len(self.texts) < count) and (until is None or time.monotonic() < until):
            try:
                raw = await asyncio.wait_for(self.ws.recv(), timeout=0.2)
            except TimeoutError:
                continue
            frame = json.loads(raw)
            if frame["type"] == "newMessage":
                self._keep(frame["message"])

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
            self.ws = None


def post(server, user_headers, session_id, text) -> requests.Response:
    response = requests.post(
        f"{server.http}/api/sessions/{session_id}/messages", json={"text": text}, headers=user_headers, timeout=10
    )
    assert response.status_code == 201, response.text
    return response


def test_rest_post_reaches_every_joined_participant_exactly_once(world, daphnes):
    d1, d2 = daphnes
    sid = str(world.booking.id)

    async def scenario():
        clients = [
            Client(d1, str(AccessToken.for_user(world.parent)), sid),
            Client(d2, str(AccessToken.for_user(world.tutor)), sid),
            Client(d1, str(AccessToken.for_user(world.student_user)), sid),
        ]
        outsider = Client(d2, str(AccessToken.for_user(world.other_parent)), str(world.other_booking.id))
        for c in [*clients, outsider]:
            await c.connect()
        await asyncio.to_thread(post, d2, bearer(world.parent), sid, "hello everyone")
        deadline = time.monotonic() + 5
        for c in clients:
            await c.pump(until=deadline, count=1)
        await asyncio.gather(*(c.pump(until=time.monotonic() + 0.5) for c in [*clients, outsider]))
        for c in [*clients, outsider]:
            await c.close()
        return clients, outsider

    clients, outsider = asyncio.run(scenario())
    for c in clients:
        assert c.texts == ["hello everyone"]
    assert outsider.texts == []


def test_two_processes_deliver_everything_once_in_order(world, daphnes):
    d1, d2 = daphnes
    sid = str(world.booking.id)

    async def scenario():
        a = Client(d1, str(AccessToken.for_user(world.parent)), sid)
        b = Client(d2, str(AccessToken.for_user(world.tutor)), sid)
        await a.connect()
        await b.connect()
        headers = bearer(world.student_user)

        def send_all():
            for i in range(60):
                post(daphnes[i % 2], headers, sid, f"n{i}")

        sender = asyncio.create_task(asyncio.to_thread(send_all))
        deadline = time.monotonic() + 60
        await asyncio.gather(a.pump(until=deadline, count=60), b.pump(until=deadline, count=60))
        await sender
        await asyncio.gather(a.pump(until=time.monotonic() + 0.5), b.pump(until=time.monotonic() + 0.5))
        await a.close()
        await b.close()
        return a, b

    a, b = asyncio.run(scenario())
    expected = [f"n{i}" for i in range(60)]
    assert a.texts == expected
    assert b.texts == expected


def test_reconnect_churn_loses_and_repeats_nothing(world, daphnes):
    """20 clients keep dropping and rejoining with `after` while 500 numbered messages go out."""
    sid = str(world.booking.id)
    total = 500
    users = [world.parent, world.tutor, world.student_user, world.admin]
    rng = random.Random(7)

    async def churner(i):
        client = Client(daphnes[i % 2], str(AccessToken.for_user(users[i % 4])), sid, name=f"c{i}")
        deadline = time.monotonic() + 180
        while len(client.texts) < total and time.monotonic() < deadline:
            await client.connect()
            await client.pump(until=time.monotonic() + rng.uniform(0.05, 0.6), count=total)
            await client.close()
            await asyncio.sleep(rng.uniform(0, 0.2))
        return client

    async def scenario():
        headers = bearer(world.parent)

        def send_all():
            for i in range(total):
                post(daphnes[i % 2], headers, sid, f"m{i:03d}")

        tasks = [asyncio.create_task(churner(i)) for i in range(20)]
        await asyncio.to_thread(send_all)
        return await asyncio.gather(*tasks)

    clients = asyncio.run(scenario())
    expected = [f"m{i:03d}" for i in range(total)]
    for client in clients:
        assert len(client.ids) == len(set(client.ids)), f"{client.name} got duplicates"
        assert client.texts == expected, f"{client.name}: {len(client.texts)} of {total}"


def test_redis_restart_loses_nothing(world, daphnes, e2e_redis):
    """Redis dies mid-session: posts still succeed (stored), clients reconnect and recover the
    messages through `after`, and live delivery resumes once Redis is back."""
    sid = str(world.booking.id)
    headers = bearer(world.parent)

    async def scenario():
        client = Client(daphnes[1], str(AccessToken.for_user(world.tutor)), sid)
        await client.connect()
        await asyncio.to_thread(post, daphnes[0], headers, sid, "before")
        await client.pump(until=time.monotonic() + 5, count=1)

        e2e_redis.stop()
        for i in range(5):
            await asyncio.to_thread(post, daphnes[i % 2], headers, sid, f"during{i}")
        e2e_redis.start()

        # the client reconnects (its socket may or may not have survived) and catches up
        await client.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                await client.connect()
                break
            except (OSError, websockets.exceptions.WebSocketException, AssertionError):
                await asyncio.sleep(0.5)
        await client.pump(until=time.monotonic() + 5, count=6)
        # live delivery resumes: a message posted now arrives without reconnecting
        live_deadline = time.monotonic() + 20
        while len(client.texts) < 7 and time.monotonic() < live_deadline:
            await asyncio.to_thread(post, daphnes[0], headers, sid, f"after{len(client.texts)}")
            await client.pump(until=time.monotonic() + 1, count=7)
        await client.close()
        return client

    client = asyncio.run(scenario())
    assert client.texts[:6] == ["before", *(f"during{i}" for i in range(5))]
    assert len(client.texts) >= 7 and client.texts[6].startswith("after")
    assert len(client.ids) == len(set(client.ids))
