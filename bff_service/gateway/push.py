"""The websocket feed: order and saga events, forwarded to the browsers that watch them.

``manage.py consume_events`` (consumer group ``bff`` on ``events.order`` and ``events.saga``)
hands each event to these handlers, which queue a message for the channel-layer group of
all orders and for the group of that order; once the feed's poll has committed its batches
(the order and the saga events it read together) the queue goes out as one ``push.batch``
per group (every ``MAX_OUTBOX`` messages when a poll catches up on a backlog), and websocket
consumers (``gateway.consumers``) send it to their clients as one frame: a JSON array of
messages. A client's frame rate is therefore bounded by the feed's batching
(``CONSUMER_LINGER_MS``), not by the order rate. A batch
applied again after a crash is pushed again; a batch whose push fails (channel layer down) is
logged and not retried. Either way a client that reconnects is sent the current state first,
so a push it missed cannot leave it wrong.

A client that stays connected must be told it missed something, or it would stay wrong: the
feed also sends a ``heartbeat`` every ``BFF["HEARTBEAT_SECONDS"]`` to the group every socket
joins (``EVERY_SOCKET``), numbered, under a token that is new with every start of the feed.
A push that could not be sent takes a number of its own and is never sent, so the next
heartbeat shows a gap; so does one sent within an interval of Redis coming back, which a web
process may have missed while it subscribed again, and a source whose log started over (reset,
or restored from a backup), which the feed follows again from its head, unpushed. A feed
that is stuck (Redis hung) or down sends none. Either tells the client to reconnect, which
brings a new snapshot.
"""

import asyncio
import json
import logging
import threading
import time
import uuid
from collections import defaultdict

import redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from contracts import orders as order_events
from contracts import sagas as saga_events
from eventkit.consumer import redis_watch
from eventkit.projections import projection
from servicekit.api import api_value
from servicekit.logging import described

logger = logging.getLogger(__name__)

ALL_ORDERS = "orders"
EVERY_SOCKET = "sockets"  # every websocket, of all orders or of one: the heartbeat's

orders = projection("ws-orders", models=[], source="order-service")
sagas = projection("ws-sagas", models=[], source="saga-service")

ORDER_STATUS = {
    order_events.OrderCreated: "PENDING",
    order_events.OrderConfirmed: "CONFIRMED",
    order_events.OrderCancelled: "CANCELLED",
}
SAGA_STATUS = {
    saga_events.SagaStarted: "RUNNING",
    saga_events.SagaResumed: None,
    saga_events.CompensationStarted: "COMPENSATING",
    saga_events.SagaCompleted: "COMPLETED",
    saga_events.SagaCompensated: "COMPENSATED",
    saga_events.SagaFailed: "FAILED",
}


def order_group(order_id) -> str:
    """The group of one order's sockets. The id is written the one way ``uuid`` writes it:
    a socket may name its order in capitals, and its pushes must still find it."""
    return f"order.{uuid.UUID(str(order_id))}"


class _Loop:
    """One event loop for the worker's whole life: the channel layer keeps its Redis
    connections per loop, and a fresh loop per message (``async_to_sync``) would reconnect
    every time."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="push-loop", daemon=True).start()

    def run(self, coroutine, timeout: float = 10.0):
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            # A hung Redis: the send would wait on in the loop, one more with every try.
            future.cancel()
            raise


def _run(coroutine, timeout: float = 10.0):
    global _loop
    if _loop is None:
        _loop = _Loop()
    return _loop.run(coroutine, timeout)


class Heartbeat:
    """The feed's beat, as its websocket clients see it: ``seq`` counts every heartbeat and
    every push that could not be sent, ``feed`` names this start of the feed."""

    def __init__(self, interval: float):
        self.interval = interval
        self.feed = uuid.uuid4().hex
        self.seq = 0
        self._due = 0.0  # the first beat goes out at the feed's first poll

    def due(self, now: float) -> bool:
        return now >= self._due

    def next(self, now: float) -> dict:
        self.seq += 1
        self._due = now + self.interval
        return {
            "type": "heartbeat",
            "seq": self.seq,
            "feed": self.feed,
            "interval_ms": round(self.interval * 1000),
        }

    def lost(self) -> None:
        self.seq += 1


_loop: _Loop | None = None
_beat: Heartbeat | None = None
_outbox: list[tuple[str, dict]] = []  # pushes of the batch being committed, in order
# A poll that catches up on a backlog (the feed was down, or Redis came back empty) applies
# it all before its end: its pushes go out in frames of at most this many messages instead
# of one frame, and one list, as long as the backlog.
MAX_OUTBOX = 500


def push(order_id: str, message: dict) -> None:
    """Queue ``message`` for the watchers of every order and of this one.

    It joins the outbox only if the consumer's transaction commits, and the outbox goes out
    once per poll of the feed (:func:`send_pushes`): one channel-layer message per group
    instead of two per event.
    """
    transaction.on_commit(lambda: _queue(order_id, message))


def _queue(order_id: str, message: dict) -> None:
    _outbox.append((order_id, message))
    if len(_outbox) >= MAX_OUTBOX:
        send_pushes()


@orders.after_commit
@sagas.after_commit
def send_pushes() -> None:
    if not _outbox:
        return
    # Each message is encoded here, once, not by each of the hundreds of websocket
    # consumers that send it on; each group gets one frame per batch.
    batch = [(order_id, json.dumps(message)) for order_id, message in _outbox]
    _outbox.clear()
    by_order: dict[str, list[str]] = defaultdict(list)
    for order_id, frame in batch:
        by_order[order_id].append(frame)
    layer = get_channel_layer()

    async def send():
        await asyncio.gather(
            layer.group_send(ALL_ORDERS, _envelope([f for _, f in batch])),
            *(layer.group_send(order_group(o), _envelope(f)) for o, f in by_order.items()),
        )

    beat = _heartbeat()
    try:
        _run(send())
    except Exception as exc:  # a push is best effort; a client resyncs on reconnect
        beat.lost()  # ... which the next heartbeat's gap tells it to do
        # Redis down or hung is said in a line (the feed pushes after each try); anything
        # else keeps its traceback.
        expected = isinstance(exc, redis.RedisError | TimeoutError)
        logger.warning(
            "could not push %d messages to websocket clients (%s)",
            len(batch),
            described(exc),
            exc_info=not expected,
        )
    else:
        if redis_watch.unsettled(beat.interval):
            # Redis has just come back: a web process that has not subscribed again yet
            # misses this push, and would never know it did.
            beat.lost()
    heartbeat()  # a long catch-up pushes in several frames per poll: beat between them


@orders.after_skip
@sagas.after_skip
def new_log_skipped() -> None:
    """The feed follows a log that started over from its head: its events up to there were
    never pushed. The next heartbeat's gap has every client read the state again."""
    _heartbeat().lost()


def _heartbeat() -> Heartbeat:
    global _beat
    if _beat is None:
        _beat = Heartbeat(settings.BFF["HEARTBEAT_SECONDS"])
    return _beat


@orders.every_poll
def heartbeat(*, force: bool = False) -> None:
    """Send every socket the feed's heartbeat, if its interval has passed (or ``force``).

    Sent from the feed's loop, not a thread of its own: a feed stuck waiting for Redis must
    fall silent, since its pushes are not going out either.
    """
    beat, now = _heartbeat(), time.monotonic()
    if not (force or beat.due(now)):
        return
    message = beat.next(now)
    layer = get_channel_layer()
    try:
        _run(layer.group_send(EVERY_SOCKET, _envelope([json.dumps(message)])), beat.interval)
    except Exception as exc:  # the number is spent anyway: the clients see a gap and resync
        logger.warning("could not send the websocket heartbeat %d: %r", message["seq"], exc)


def _envelope(encoded: list[str]) -> dict:
    """One websocket frame: the JSON array of the batch's messages for that group."""
    return {"type": "push.batch", "frame": f"[{','.join(encoded)}]"}


def _common(recorded) -> dict:
    return {
        "event_type": recorded.event_type,
        "position": recorded.position,
        "at": api_value(recorded.recorded_at),
    }


@orders.on(order_events.OrderCreated, order_events.OrderConfirmed, order_events.OrderCancelled)
def order_changed(event, recorded):
    order_id = str(recorded.stream_id)
    message = {
        "type": "order.status",
        "order_id": order_id,
        "status": ORDER_STATUS[type(event)],
        **_common(recorded),
    }
    if isinstance(event, order_events.OrderCreated):
        message["order"] = {"id": order_id, "status": "PENDING", **event.to_data()}
    if isinstance(event, order_events.OrderCancelled):
        message["reason"] = event.reason
    push(order_id, message)


STEP_STATUS = {
    saga_events.StepStarted: "STARTED",
    saga_events.StepPaused: "STARTED",  # still under way, waiting for the resumer
    saga_events.StepSucceeded: "COMPLETED",
    saga_events.StepFailed: "FAILED",
}


@sagas.on(*STEP_STATUS)
def saga_step(event, recorded):
    order_id = recorded.metadata.get("order_id")
    if not order_id:
        return  # a saga event from before sagas named their order
    paused = isinstance(event, saga_events.StepPaused)
    push(
        order_id,
        {
            "type": "saga.step",
            "order_id": order_id,
            "saga_id": str(recorded.stream_id),
            "step": event.seq,
            "action": saga_events.step_action(event.step, event.compensating),
            "compensating": event.compensating,
            "status": STEP_STATUS[type(event)],
            "message": f"waiting for the resumer: {event.error}"
            if paused
            else getattr(event, "message", ""),
            "error": None if paused else getattr(event, "error", None) or None,
            "duration_ms": getattr(event, "duration_ms", None),
            "attempts": getattr(event, "attempts", None),
            **_common(recorded),
        },
    )


@sagas.on(*SAGA_STATUS)
def saga_status(event, recorded):
    order_id = recorded.metadata.get("order_id") or getattr(event, "order_id", None)
    if not order_id:
        return
    message = {
        "type": "saga.status",
        "order_id": order_id,
        "saga_id": str(recorded.stream_id),
        "status": SAGA_STATUS[type(event)],
        "resumed": isinstance(event, saga_events.SagaResumed),
        "reason": getattr(event, "reason", None),
        **_common(recorded),
    }
    if isinstance(event, saga_events.SagaStarted) and event.customer_name:
        # what the saga places, so that a saga followed live is shown whole without a
        # read, its order never created included
        message["about"] = {
            "customer_name": event.customer_name,
            "product_name": event.product_name,
            "quantity": event.quantity,
        }
    push(order_id, message)
