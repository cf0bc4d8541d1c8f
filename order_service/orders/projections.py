"""How order events change the order read model (applied in the appending transaction).

One batch handler: an append brings one or two events, a rebuild page two thousand. The
events are folded into rows in memory first, so an order created and confirmed in the same
page is inserted once in its final state (one INSERT, or a COPY for a rebuild's page) and
every other order is updated once with its last state, in plain SQL.
"""

from eventkit.batching import command_cursor
from eventkit.projections import RowWrites, projection
from eventkit.records import Recorded
from orders.domain import OrderCancelled, OrderConfirmed, OrderCreated
from orders.models import OrderView

orders = projection("orders", models=[OrderView])


@orders.batch
def apply_orders(batch: list[Recorded]) -> None:
    rows = RowWrites(OrderView)
    for recorded in batch:
        event = recorded.event
        if isinstance(event, OrderCreated):
            rows.new[recorded.stream_id] = _created(event, recorded)
            continue
        if isinstance(event, OrderConfirmed):
            changes = {"status": OrderView.Status.CONFIRMED}
        elif isinstance(event, OrderCancelled):
            changes = {"status": OrderView.Status.CANCELLED, "cancel_reason": event.reason}
        else:
            continue
        rows.change(
            recorded.stream_id, **changes, version=recorded.version, updated_at=recorded.recorded_at
        )
    with command_cursor() as cursor:
        rows.write(cursor)


def _created(event: OrderCreated, recorded: Recorded) -> dict:
    return {
        "id": recorded.stream_id,
        "customer_name": event.customer_name,
        "product_id": event.product_id,
        "product_name": event.product_name,
        "quantity": event.quantity,
        "total_price": event.total_price,
        "status": OrderView.Status.PENDING,
        "cancel_reason": "",
        "version": recorded.version,
        "created_at": recorded.recorded_at,
        "updated_at": recorded.recorded_at,
    }
