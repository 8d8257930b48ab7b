"""Sending to a group from synchronous code (k12/realtime.py): the pub/sub layer's own wire."""

from __future__ import annotations

import asyncio
import uuid
from unittest import mock

import pytest
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisSingleShardConnection

from k12 import realtime


def test_a_publish_is_what_the_layers_own_group_send_publishes(settings):
    """realtime repeats the pub/sub layer's group channel name and shard choice (channels-redis
    has no synchronous send): the same channel, on the same host, with the same bytes."""
    hosts = [{"address": f"redis://127.0.0.1:6379/{n}"} for n in range(3)]  # never connected
    backend = "channels_redis.pubsub.RedisPubSubChannelLayer"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend, "CONFIG": {"hosts": hosts, "prefix": "p"}}}
    layer = RedisPubSubChannelLayer(hosts=hosts, prefix="p")
    groups = [f"session-{uuid.uuid4()}" for _ in range(60)]
    message = {"type": "room.frame", "frame": '{"type": "newMessage"}'}

    theirs = []

    async def shard_publish(shard, channel, payload):
        theirs.append((shard.host["address"], channel, payload))

    async def library_sends():
        for group in groups:
            await layer.group_send(group, message)

    with mock.patch.object(RedisSingleShardConnection, "publish", shard_publish):
        asyncio.run(library_sends())

    ours = []

    class Client:
        def __init__(self, host):
            self.address = host["address"]

        def publish(self, channel, payload):
            ours.append((self.address, channel, payload))

    with mock.patch.object(realtime, "_client", Client):
        for group in groups:
            realtime._publish(layer, group, message)

    assert ours == theirs
    assert {address for address, _, _ in ours} == {host["address"] for host in hosts}  # every shard taken


@pytest.mark.asyncio
async def test_a_publish_reaches_the_groups_members_on_the_layer():
    layer = get_channel_layer()
    assert isinstance(layer, RedisPubSubChannelLayer)  # the test settings' layer with Redis
    group = f"session-{uuid.uuid4()}"
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    try:
        await asyncio.to_thread(realtime.group_send, group, {"type": "room.frame", "frame": "hello"})
        received = await asyncio.wait_for(layer.receive(channel), timeout=5)
    finally:
        await layer.group_discard(group, channel)
    assert received == {"type": "room.frame", "frame": "hello"}
