"""The feed's heartbeat, on a real Redis: every socket hears it, and a push that could not be
sent shows in it as a gap, so that a client can tell it missed something and resync.

Found from outside: a client connected through a Redis outage missed every push of that
time, was never dropped, and so was never sent a new snapshot.
"""

import asyncio
import json
import socket
import uuid

import pytest
from channels.layers import channel_layers, get_channel_layer

from eventkit.consumer import RedisWatch
from gateway import consumers, push
from gateway.consumers import AllOrdersConsumer
from gateway.tests.test_consumers import Client

INTERVAL = 5.0


@pytest.fixture
def beat(monkeypatch):
    """A feed that has just started, on the channel layer of the settings (db 14)."""
    fresh = push.Heartbeat(INTERVAL)
    monkeypatch.setattr(push, "_beat", fresh)
    channel_layers.backends.clear()
    yield fresh
    channel_layers.backends.clear()


@pytest.fixture
def redis_down(settings):
    """Switch the channel layer to a port where no Redis answers, and back."""
    real = settings.CHANNEL_LAYERS
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{s.getsockname()[1]}/14"

    config = {**real["default"]["CONFIG"], "hosts": [dead]}
    broken = {"default": {**real["default"], "CONFIG": config}}

    def switch(down: bool):
        settings.CHANNEL_LAYERS = broken if down else real
        channel_layers.backends.clear()

    yield switch
    settings.CHANNEL_LAYERS = real
    channel_layers.backends.clear()


def listen(feed_side, count: int):
    """Join the group every socket joins, run ``feed_side`` (in a thread, as the feed runs),
    and return the first ``count`` frames heard, decoded."""

    async def run():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(push.EVERY_SOCKET, channel)
        try:
            await asyncio.to_thread(feed_side)
            heard = []
            for _ in range(count):
                message = await asyncio.wait_for(layer.receive(channel), 5)
                assert message["type"] == "push.batch"  # the frame format of every push
                heard.append(json.loads(message["frame"]))
            return heard
        finally:
            await layer.group_discard(push.EVERY_SOCKET, channel)

    return asyncio.run(run())


def test_every_socket_hears_a_heartbeat_with_the_feeds_token_and_a_sequence(beat):
    def two_beats():
        push.heartbeat(force=True)
        push.heartbeat(force=True)

    first, second = listen(two_beats, 2)
    assert first == [{"type": "heartbeat", "seq": 1, "feed": beat.feed, "interval_ms": 5000}]
    assert second == [{"type": "heartbeat", "seq": 2, "feed": beat.feed, "interval_ms": 5000}]


def test_a_feed_that_starts_again_beats_under_another_token():
    """A restarted feed may have died between a commit and its push."""
    assert push.Heartbeat(INTERVAL).feed != push.Heartbeat(INTERVAL).feed


def test_the_heartbeat_keeps_its_interval_however_often_the_feed_polls(beat):
    def polls():
        for _ in range(50):  # the feed polls about every second, more often when busy
            push.heartbeat()

    async def run():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(push.EVERY_SOCKET, channel)
        await asyncio.to_thread(polls)
        await asyncio.wait_for(layer.receive(channel), 5)
        try:
            await asyncio.wait_for(layer.receive(channel), 0.5)  # a second would be here now
        except TimeoutError:
            return 1
        return 2

    assert asyncio.run(run()) == 1
    assert push.heartbeat in push.orders._every_poll  # the feed's loop beats it


def test_a_push_that_could_not_be_sent_is_a_gap_in_the_heartbeat(beat, redis_down, caplog):
    order_id = str(uuid.uuid4())
    [first] = listen(lambda: push.heartbeat(force=True), 1)
    redis_down(True)
    push._queue(order_id, {"type": "order.status", "order_id": order_id, "status": "CONFIRMED"})
    push.send_pushes()
    assert "could not push 1 messages" in caplog.text
    assert not any(r.exc_info for r in caplog.records)  # Redis down: a line, no traceback
    redis_down(False)
    [after] = listen(lambda: push.heartbeat(force=True), 1)
    assert first[0]["seq"] == 1 and after[0]["seq"] == 3  # 2 stands for what was lost
    assert after[0]["feed"] == first[0]["feed"]


def test_a_heartbeat_that_could_not_be_sent_is_a_gap_too(beat, redis_down, caplog):
    """Whether it reached anyone is not known: the clients resync rather than guess."""
    [first] = listen(lambda: push.heartbeat(force=True), 1)
    redis_down(True)
    push.heartbeat(force=True)
    assert "could not send the websocket heartbeat" in caplog.text
    redis_down(False)
    [after] = listen(lambda: push.heartbeat(force=True), 1)
    assert after[0]["seq"] == first[0]["seq"] + 2


@pytest.mark.parametrize("redis_came_back", [True, False])
def test_a_push_sent_just_after_redis_came_back_is_a_gap(beat, monkeypatch, redis_came_back):
    """Found by a system test: Redis restarted, the feed caught up at once and pushed while
    the web process had not subscribed again yet (channels-redis tries once a second). The
    push reached no one, the heartbeats after it had no gap, and the client never knew."""
    watch = RedisWatch()
    if redis_came_back:
        watch.failed()  # as the feed's consumer saw it, and then read from Redis again
        watch.answered()
    monkeypatch.setattr(push, "redis_watch", watch)
    order_id = str(uuid.uuid4())
    [first] = listen(lambda: push.heartbeat(force=True), 1)
    push._queue(order_id, {"type": "order.status", "order_id": order_id, "status": "CONFIRMED"})
    push.send_pushes()  # sent: Redis answers
    [after] = listen(lambda: push.heartbeat(force=True), 1)
    assert after[0]["seq"] == first[0]["seq"] + (2 if redis_came_back else 1)


@pytest.mark.parametrize("source", ["order-service", "saga-service"])
def test_a_log_that_started_over_is_a_gap_in_the_heartbeat(beat, source):
    """Found from outside: the feed followed a restored log again from its head, the new
    log's events up to there were never pushed, and nothing told the clients."""
    from eventkit.projections import registry

    [first] = listen(lambda: push.heartbeat(force=True), 1)
    registry.skipped(source=source)  # as the consumer says when it starts again at a head
    [after] = listen(lambda: push.heartbeat(force=True), 1)
    assert after[0]["seq"] == first[0]["seq"] + 2


def test_a_connected_socket_is_sent_the_feeds_heartbeat(beat, monkeypatch):
    monkeypatch.setattr(AllOrdersConsumer, "snapshot", lambda self: {"type": "snapshot"})

    async def run():
        client = Client(AllOrdersConsumer, {"type": "websocket", "path": "/ws/orders/"})
        assert await client.connect() == {"type": "snapshot"}
        try:
            await asyncio.to_thread(push.heartbeat, force=True)
            return await client.receive()
        finally:
            await client.disconnect()

    assert asyncio.run(run()) == [
        {"type": "heartbeat", "seq": 1, "feed": beat.feed, "interval_ms": 5000}
    ]


def test_a_socket_that_cannot_join_its_groups_is_told_to_come_back(
    beat, redis_down, monkeypatch, caplog
):
    """Found from outside: with Redis down, every connect failed its handshake with a server
    error and a traceback; the client could not tell it from a bug."""
    monkeypatch.setattr(AllOrdersConsumer, "snapshot", lambda self: {"type": "snapshot"})
    redis_down(True)

    async def run():
        client = Client(AllOrdersConsumer, {"type": "websocket", "path": "/ws/orders/"})
        await client.app.send_input({"type": "websocket.connect"})
        accepted = await client.app.receive_output(timeout=10)
        closed = await client.app.receive_output(timeout=10)
        return accepted, closed

    accepted, closed = asyncio.run(run())
    assert accepted["type"] == "websocket.accept"
    assert (closed["type"], closed["code"]) == ("websocket.close", consumers.TRY_AGAIN_LATER)
    assert "websocket sent away: Redis unavailable" in caplog.text and not any(
        r.exc_info for r in caplog.records
    )
