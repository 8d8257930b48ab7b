"""The live room under hostile frames and a Redis outage: a frame nested too deeply is an
`invalid` error on an open socket; without Redis a socket still connects, authenticates and
joins, and `sendMessage` is answered as soon as the message is stored."""

from __future__ import annotations

import pytest

from tests.sessions_app.test_consumer import authed

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_deeply_nested_frame_is_invalid_and_the_socket_stays_open(world):
    comm = await authed(world.parent)
    await comm.send_to(text_data="[" * 10_000)
    reply = await comm.receive_json_from()
    assert reply == {"type": "error", "code": "invalid", "message": "Frame is nested too deeply."}
    await comm.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id)})
    assert (await comm.receive_json_from())["type"] == "joined"
    await comm.disconnect()
