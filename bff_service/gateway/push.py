"""The websocket feed: order and saga events, forwarded to the browsers that watch them.

``manage.py consume_events`` (consumer group ``bff`` on ``events.order`` and ``events.saga``)
hands each event to these handlers, which send one message to the channel-layer group of
all orders and one to the group of that order. Websocket consumers (``gateway.consumers``)
relay them to their clients. Pushes are at-least-once; a client that reconnects is sent the
current state first, so a push it missed cannot leave it wrong.
"""

import asyncio
import threading

from channels.layers import get_channel_layer

from contracts import orders as order_events
from contracts import sagas as saga_events
from eventkit.projections import projection

ALL_ORDERS = "orders"

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
    return f"order.{order_id}"


class _Loop:
    """One event loop for the worker's whole life: the channel layer keeps its Redis
    connections per loop, and a fresh loop per message (``async_to_sync``) would reconnect
    every time."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="push-loop", daemon=True).start()

    def run(self, coroutine, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


_loop: _Loop | None = None


def push(order_id: str, message: dict) -> None:
    global _loop
    if _loop is None:
        _loop = _Loop()
    layer = get_channel_layer()
    envelope = {"type": "push", "message": message}

    async def send():
        await asyncio.gather(
            layer.group_send(ALL_ORDERS, envelope),
            layer.group_send(order_group(order_id), envelope),
        )

    _loop.run(send())


def _common(recorded) -> dict:
    return {
        "event_type": recorded.event_type,
        "position": recorded.position,
        "at": recorded.recorded_at.isoformat(),
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


@sagas.on(saga_events.StepStarted, saga_events.StepSucceeded, saga_events.StepFailed)
def saga_step(event, recorded):
    order_id = recorded.metadata.get("order_id")
    if not order_id:
        return  # a saga event from before sagas named their order
    status = {
        saga_events.StepStarted: "STARTED",
        saga_events.StepSucceeded: "COMPLETED",
        saga_events.StepFailed: "FAILED",
    }
    push(
        order_id,
        {
            "type": "saga.step",
            "order_id": order_id,
            "saga_id": str(recorded.stream_id),
            "step": event.seq,
            "action": f"{event.step} (COMPENSATING)" if event.compensating else event.step,
            "compensating": event.compensating,
            "status": status[type(event)],
            "message": getattr(event, "message", ""),
            "error": getattr(event, "error", None) or None,
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
    push(
        order_id,
        {
            "type": "saga.status",
            "order_id": order_id,
            "saga_id": str(recorded.stream_id),
            "status": SAGA_STATUS[type(event)],
            "resumed": isinstance(event, saga_events.SagaResumed),
            "reason": getattr(event, "reason", None),
            **_common(recorded),
        },
    )
