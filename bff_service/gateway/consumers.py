"""Websocket endpoints: ``/ws/orders/`` (every order) and ``/ws/orders/<id>/`` (one order).

On connect a client first joins its group (and the group of every socket, which hears the
feed's heartbeat), then is sent a ``snapshot`` of the current state
(a JSON object), then every change as it happens, in JSON arrays of messages (one frame per
batch the feed applied). Joining before reading means no change can fall between the
snapshot and the first push (at worst one arrives twice; messages carry positions, and a
status is idempotent to apply).
"""

import json
import logging

import redis
from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from eventkit.errors import NotFound
from gateway import services
from gateway.downstream import ServiceUnavailable
from gateway.push import ALL_ORDERS, EVERY_SOCKET, order_group
from servicekit.logging import described

logger = logging.getLogger(__name__)

TRY_AGAIN_LATER = 1013  # the websocket close code for a server that cannot serve it for now


def _sent_away(exc: Exception) -> None:
    # A socket that could hear no push is told to come back (1013, try again later), where
    # its handshake failed with a server error and a traceback.
    logger.warning("websocket sent away: Redis unavailable (%s)", described(exc))


async def _close_own_channel(layer, channel: str) -> None:
    """Unsubscribe the socket's own channel, if the layer still holds it.

    channels-redis's pub/sub layer unsubscribes it only when a pending receive on it is
    cancelled, and channels cancels none that has just completed: a socket closed while a
    push for it arrived kept its subscription for the life of the process (about 1 in 16
    abrupt closes under load, found by a soak test), and each was subscribed again at every
    reconnect to Redis. channels has no call to end a channel, so this does what the layer's
    own cleanup does (its `channels` and `_get_shard`, pinned in pyproject.toml)."""
    held = getattr(layer, "channels", None)  # the in-memory layer keeps no subscriptions
    if not isinstance(held, dict) or held.pop(channel, None) is None:
        return
    try:
        await layer._get_shard(channel).unsubscribe(channel)
    except Exception as exc:  # Redis down: said, and the subscription may outlive the socket
        logger.warning("could not unsubscribe the socket's channel: %r", exc)


class FeedConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: tuple[str, ...] = ()

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except redis.RedisError as exc:
            if hasattr(self, "channel_name"):
                raise  # not at the start: the socket has had its handshake
            # Redis down: the channel layer could not even open this socket's channel, before
            # any handler ran (channels does it first).
            _sent_away(exc)
            if (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": TRY_AGAIN_LATER})
        finally:
            # Only a dispatched disconnect would leave the groups, and a socket that fails
            # gets none: a connect whose client left while the snapshot was read, or a push
            # sent to a client gone before its disconnect came (uvicorn raises). The socket
            # would stay subscribed for the life of the process.
            for group in self.groups_joined:
                try:
                    await self.channel_layer.group_discard(group, self.channel_name)
                except Exception as exc:  # Redis down: the next group must still be left
                    logger.warning("could not leave group %s: %r", group, exc)
            if hasattr(self, "channel_name"):
                await _close_own_channel(self.channel_layer, self.channel_name)

    async def connect(self):
        # its own group, and the group of every socket, which hears the feed's heartbeat
        self.groups_joined = (self.group_name(), EVERY_SOCKET)
        try:
            for group in self.groups_joined:
                await self.channel_layer.group_add(group, self.channel_name)
        except redis.RedisError as exc:
            _sent_away(exc)
            await self.accept()
            await self.close(code=TRY_AGAIN_LATER)
            return
        await self.accept()
        try:
            snapshot = await sync_to_async(self.snapshot, thread_sensitive=False)()
        except ServiceUnavailable as exc:
            snapshot = {"type": "snapshot", "degraded": [exc.details.get("service")]}
        await self.send_json(snapshot)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        # A client speaks JSON text (a ping); anything else is ignored like an unknown
        # message, where channels would fail the connection with an unhandled exception.
        if text_data is None:
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than it parses
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        if content == {"type": "ping"}:
            await self.send_json({"type": "pong"})

    async def dispatch(self, message):
        # channels closes stale database connections before it hands any message to a
        # handler: a hop to a worker thread and back. A push goes to every watching client at
        # once and touches no database, and that hop was most of its cost.
        if message["type"] == "push.batch":
            await self.push_batch(message)
        else:
            await super().dispatch(message)

    async def push_batch(self, event):
        await self.send(text_data=event["frame"])  # a JSON array, encoded once by the feed

    def group_name(self) -> str:
        raise NotImplementedError(".group_name() must be overridden")

    def snapshot(self) -> dict:
        raise NotImplementedError(".snapshot() must be overridden")


class AllOrdersConsumer(FeedConsumer):
    def group_name(self):
        return ALL_ORDERS

    def snapshot(self):
        return {"type": "snapshot", "orders": services.recent_orders()}


class OrderConsumer(FeedConsumer):
    def group_name(self):
        return order_group(self.scope["url_route"]["kwargs"]["order_id"])

    def snapshot(self):
        order_id = self.scope["url_route"]["kwargs"]["order_id"]
        try:
            detail, degraded = services.order_detail(order_id)
        except NotFound:
            return {"type": "snapshot", "order": None}
        return {"type": "snapshot", "order": detail, "degraded": degraded}


class UnknownPath(AsyncWebsocketConsumer):
    """Any other websocket path: refused at the handshake (403), where the router alone
    would fail the connection with a server error."""

    async def connect(self):
        await self.close()
