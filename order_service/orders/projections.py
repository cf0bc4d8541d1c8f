"""How order events change the order read model (applied in the appending transaction)."""

from eventkit.projections import projection
from orders.domain import OrderCancelled, OrderConfirmed, OrderCreated
from orders.models import OrderView

orders = projection("orders", models=[OrderView])


@orders.on(OrderCreated)
def order_created(event, recorded):
    OrderView.objects.create(
        id=recorded.stream_id,
        customer_name=event.customer_name,
        product_id=event.product_id,
        product_name=event.product_name,
        quantity=event.quantity,
        total_price=event.total_price,
        status=OrderView.Status.PENDING,
        version=recorded.version,
        created_at=recorded.recorded_at,
        updated_at=recorded.recorded_at,
    )


def _move(recorded, **changes):
    OrderView.objects.filter(pk=recorded.stream_id).update(
        version=recorded.version, updated_at=recorded.recorded_at, **changes
    )


@orders.on(OrderConfirmed)
def order_confirmed(event, recorded):
    _move(recorded, status=OrderView.Status.CONFIRMED)


@orders.on(OrderCancelled)
def order_cancelled(event, recorded):
    _move(recorded, status=OrderView.Status.CANCELLED, cancel_reason=event.reason)
