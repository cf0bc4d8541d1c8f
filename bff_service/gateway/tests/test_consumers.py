"""Websocket consumers and their groups: a connect that fails part-way leaves nothing behind
in the channel layer; every socket hears the feed's heartbeat."""

import asyncio
import json

import pytest
import redis
from asgiref.testing import ApplicationCommunicator
from channels.layers import channel_layers, get_channel_layer

from gateway.consumers import TRY_AGAIN_LATER, AllOrdersConsumer, OrderConsumer
from gateway.push import ALL_ORDERS, EVERY_SOCKET, order_group

ORDER_ID = "3f1c2a4e-1111-4222-8333-944455556666"
SCOPE = {
    "type": "websocket",
    "path": f"/ws/orders/{ORDER_ID}/",
    "headers": [],
    "subprotocols": [],
    "url_route": {"args": (), "kwargs": {"order_id": ORDER_ID}},
}


class ClientGone(Exception):
    """What the server raises when the client has closed (uvicorn: ClientDisconnected)."""


@pytest.fixture
def memory_layer(settings):
    # The consumer's own bookkeeping is under test: channels' in-memory layer shows its
    # groups, where Redis would hold them as subscriptions.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield get_channel_layer()
    channel_layers.backends.clear()


class Client:
    """A websocket client of a consumer (channels' WebsocketCommunicator needs daphne,
    which the project does not install; its base, asgiref's, is enough)."""

    def __init__(self, consumer, scope):
        self.app = ApplicationCommunicator(consumer.as_asgi(), scope)

    async def connect(self) -> dict:
        await self.app.send_input({"type": "websocket.connect"})
        assert (await self.app.receive_output(timeout=5))["type"] == "websocket.accept"
        return await self.receive()

    async def receive(self):
        return json.loads((await self.app.receive_output(timeout=5))["text"])

    async def disconnect(self):
        await self.app.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.app.wait(timeout=5)


def connect(send):
    async def run():
        inbox = asyncio.Queue()
        await inbox.put({"type": "websocket.connect"})
        with pytest.raises((ClientGone, RuntimeError)):
            await OrderConsumer.as_asgi()(SCOPE, inbox.get, send)

    asyncio.run(run())


@pytest.mark.parametrize("failure", ["client gone during the snapshot", "snapshot failed"])
def test_a_connect_that_fails_after_joining_leaves_the_group(memory_layer, monkeypatch, failure):
    """Found in review: only a dispatched disconnect left the group, so each such socket
    stayed subscribed for the life of the process, and every push went to it."""

    async def send(message):
        if message["type"] == "websocket.send":
            raise ClientGone()

    async def accept_only(message):
        return None

    def snapshot(self):
        if failure == "snapshot failed":
            raise RuntimeError("the order service answered nonsense")
        return {"type": "snapshot"}

    monkeypatch.setattr(OrderConsumer, "snapshot", snapshot)
    connect(send if failure == "client gone during the snapshot" else accept_only)
    assert not memory_layer.groups.get(order_group(ORDER_ID))
    assert not memory_layer.groups.get(EVERY_SOCKET)


def test_a_socket_whose_client_left_before_a_push_leaves_the_group(memory_layer, monkeypatch):
    """Found in review: a push sent to a client that has just gone fails (uvicorn raises
    ClientDisconnected) before the disconnect is dispatched, and only a dispatched disconnect
    left the group: the socket stayed subscribed for the life of the process."""
    monkeypatch.setattr(OrderConsumer, "snapshot", lambda self: {"type": "snapshot"})
    sent = []

    async def send(message):
        if message["type"] == "websocket.send":
            if sent:
                raise ClientGone()  # the snapshot went; the client left before the push
            sent.append(message)

    async def run():
        inbox = asyncio.Queue()
        await inbox.put({"type": "websocket.connect"})
        socket = asyncio.ensure_future(OrderConsumer.as_asgi()(SCOPE, inbox.get, send))
        while not sent:
            await asyncio.sleep(0.01)
        await memory_layer.group_send(order_group(ORDER_ID), {"type": "push.batch", "frame": "[]"})
        with pytest.raises(ClientGone):
            await asyncio.wait_for(socket, 5)

    asyncio.run(run())
    assert not memory_layer.groups.get(order_group(ORDER_ID))
    assert not memory_layer.groups.get(EVERY_SOCKET)


@pytest.mark.parametrize("consumer", [AllOrdersConsumer, OrderConsumer])
def test_every_socket_joins_the_heartbeat_group_and_is_sent_its_beats(
    memory_layer, monkeypatch, consumer
):
    """Per-order sockets too: a push lost to them is as stale as one lost to all orders."""
    monkeypatch.setattr(consumer, "snapshot", lambda self: {"type": "snapshot"})
    beat = '[{"type":"heartbeat","seq":7,"feed":"f1","interval_ms":5000}]'

    async def run():
        client = Client(consumer, SCOPE)
        assert await client.connect() == {"type": "snapshot"}
        try:
            assert memory_layer.groups.get(EVERY_SOCKET)
            await memory_layer.group_send(EVERY_SOCKET, {"type": "push.batch", "frame": beat})
            return await client.receive()
        finally:
            await client.disconnect()

    assert asyncio.run(run()) == json.loads(beat)
    assert not memory_layer.groups.get(EVERY_SOCKET)  # left on disconnect
    assert not memory_layer.groups.get(ALL_ORDERS)


def test_a_socket_whose_groups_cannot_be_joined_is_told_to_come_back(memory_layer, monkeypatch):
    """Found from outside: the first websocket after a restart of Redis failed its handshake
    with a server error, the channel layer's connection failing at its first use."""

    async def refused(group, channel):
        raise redis.ConnectionError("Connection closed by server.")

    monkeypatch.setattr(memory_layer, "group_add", refused)

    async def run():
        client = Client(AllOrdersConsumer, SCOPE)
        await client.app.send_input({"type": "websocket.connect"})
        accepted = await client.app.receive_output(timeout=5)
        return accepted, await client.app.receive_output(timeout=5)

    accepted, closed = asyncio.run(run())
    assert accepted["type"] == "websocket.accept"
    assert (closed["type"], closed["code"]) == ("websocket.close", TRY_AGAIN_LATER)


@pytest.fixture
def redis_layer(settings):
    """The channel layer the BFF runs with, on the test Redis."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [settings.REDIS_URL], "prefix": "test-own-channels"},
        }
    }
    channel_layers.backends.clear()
    yield get_channel_layer()
    channel_layers.backends.clear()


def test_a_socket_closed_as_a_push_for_it_arrives_ends_its_own_channel(redis_layer, monkeypatch):
    """Found by a soak test: channels-redis unsubscribes a socket's channel only when a
    pending receive on it is cancelled, and channels cancels none that has just completed.
    A socket that closed as a push for it arrived kept its subscription for the life of the
    process, and was subscribed again at every reconnect to Redis."""
    monkeypatch.setattr(AllOrdersConsumer, "snapshot", lambda self: {"type": "snapshot"})
    scope = {**SCOPE, "path": "/ws/orders/", "url_route": {"args": (), "kwargs": {}}}

    async def run() -> list[str]:
        held = []
        try:
            for _ in range(12):
                client = Client(AllOrdersConsumer, scope)
                await client.connect()
                [channel] = redis_layer.channels  # the one socket open
                # the push and the close arrive together: in the same turn of the loop, as
                # the layer's reader hands on what Redis sent (no await between the two)
                push = redis_layer.serialize({"type": "push.batch", "frame": "[]"})
                redis_layer.channels[channel].put_nowait(push)
                await client.disconnect()
                held += list(redis_layer.channels)
                redis_layer.channels.clear()  # each socket counted once
        finally:
            await redis_layer.flush()
        return held

    assert asyncio.run(run()) == []
