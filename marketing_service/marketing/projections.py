"""How the order service's events become marketing's read models.

The consumer (``manage.py consume_events``) reads ``events.order`` and calls
``registry.apply(batch, source="order-service")`` in the transaction that also moves its
checkpoint, so each event is applied exactly once and workers take turns on the checkpoint
row lock. A rebuild folds the order service's log through these same handlers, which is why
they read times only from ``recorded.recorded_at``.

An order's contribution to the counters depends on its status (:func:`_contribution`); a
status change subtracts the old contribution and adds the new one. So the totals always
equal a recount of ``OrderFact``, even for a transition the order service does not make
today (cancelling a confirmed order takes its revenue back out).

An event that contradicts what has been seen (a confirm for an order never created, the
same order created twice) raises :class:`InconsistentEvent` rather than bend the numbers:
the consumer then sets the event aside as a poison message.
"""

from datetime import UTC

from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Greatest, Least

from contracts.orders import OrderCancelled, OrderConfirmed, OrderCreated
from eventkit.projections import projection
from eventkit.store import Recorded
from marketing.models import (
    CustomerProduct,
    CustomerStats,
    DailySales,
    OrderFact,
    ProductStats,
    customer_product_key,
)

ORDER_SERVICE = "order-service"

analytics = projection(
    "marketing",
    models=[OrderFact, CustomerStats, ProductStats, CustomerProduct, DailySales],
    source=ORDER_SERVICE,
)


class InconsistentEvent(Exception):
    """An event that cannot follow what this projection has already seen."""


class UnknownOrder(InconsistentEvent):
    pass


class DuplicateOrder(InconsistentEvent):
    pass


@analytics.on(OrderCreated)
def order_created(event: OrderCreated, recorded: Recorded) -> None:
    order_id, at = recorded.stream_id, recorded.recorded_at
    if OrderFact.objects.filter(pk=order_id).exists():
        raise DuplicateOrder(
            f"OrderCreated at position {recorded.position}: order {order_id} already exists"
        )
    fact = OrderFact.objects.create(
        id=order_id,
        customer_name=event.customer_name,
        product_id=event.product_id,
        product_name=event.product_name,
        quantity=event.quantity,
        total_price=event.total_price,
        status=OrderFact.Status.PENDING,
        sale_date=at.astimezone(UTC).date(),
        version=recorded.version,
        created_at=at,
        updated_at=at,
    )
    moment = Value(at, output_field=DateTimeField())
    _add(
        CustomerStats,
        fact.customer_name,
        create={"first_order_at": at, "last_order_at": at},
        assign={
            "first_order_at": Least("first_order_at", moment),
            "last_order_at": Greatest("last_order_at", moment),
        },
        total_orders=1,
    )
    first_of_customer = _add(
        CustomerProduct,
        customer_product_key(fact.customer_name, fact.product_id),
        create={
            "customer_name": fact.customer_name,
            "product_id": fact.product_id,
            "product_name": fact.product_name,
        },
        assign={"product_name": fact.product_name},
        orders=1,
    )
    _add(
        ProductStats,
        fact.product_id,
        create={"product_name": fact.product_name},
        assign={"product_name": fact.product_name},
        total_order_count=1,
        unique_customers=int(first_of_customer),
    )
    _add(DailySales, fact.sale_date, total_orders=1)


@analytics.on(OrderConfirmed)
def order_confirmed(event: OrderConfirmed, recorded: Recorded) -> None:
    _move(recorded, OrderFact.Status.CONFIRMED)


@analytics.on(OrderCancelled)
def order_cancelled(event: OrderCancelled, recorded: Recorded) -> None:
    _move(recorded, OrderFact.Status.CANCELLED, cancel_reason=event.reason)


def _move(recorded: Recorded, status: str, **changes) -> None:
    fact = OrderFact.objects.select_for_update().filter(pk=recorded.stream_id).first()
    if fact is None:
        raise UnknownOrder(
            f"{recorded.event_type} at position {recorded.position}: "
            f"order {recorded.stream_id} was never created"
        )
    OrderFact.objects.filter(pk=fact.pk).update(
        status=status, version=recorded.version, updated_at=recorded.recorded_at, **changes
    )
    if status == fact.status:
        return
    before, after = _contribution(fact, fact.status), _contribution(fact, status)
    delta = {
        table: {name: after[table][name] - value for name, value in counters.items()}
        for table, counters in before.items()
    }
    confirmed_now = status == OrderFact.Status.CONFIRMED
    _shift(CustomerStats, fact.customer_name, **delta["customer"])
    _shift(
        CustomerProduct,
        customer_product_key(fact.customer_name, fact.product_id),
        assign={"last_confirmed_at": recorded.recorded_at} if confirmed_now else {},
        **delta["customer_product"],
    )
    _shift(ProductStats, fact.product_id, **delta["product"])
    _shift(DailySales, fact.sale_date, **delta["day"])
    if delta["customer_product"]["confirmed_units"]:
        _choose_favourite(fact.customer_name)


def _contribution(fact: OrderFact, status: str) -> dict[str, dict[str, int]]:
    """What an order in ``status`` adds to each table beyond being counted as an order."""
    confirmed = status == OrderFact.Status.CONFIRMED
    cancelled = status == OrderFact.Status.CANCELLED
    revenue = fact.total_price if confirmed else 0
    units = fact.quantity if confirmed else 0
    return {
        "customer": {
            "confirmed_orders": int(confirmed),
            "cancelled_orders": int(cancelled),
            "total_revenue": revenue,
            "total_units": units,
        },
        "customer_product": {"confirmed_orders": int(confirmed), "confirmed_units": units},
        "product": {
            "confirmed_orders": int(confirmed),
            "cancelled_orders": int(cancelled),
            "total_units_ordered": units,
            "total_revenue": revenue,
        },
        "day": {
            "confirmed_orders": int(confirmed),
            "cancelled_orders": int(cancelled),
            "total_revenue": revenue,
        },
    }


def _choose_favourite(customer_name: str) -> None:
    """Most confirmed units; a tie goes to the latest confirmed, then the lowest product id."""
    best = (
        CustomerProduct.objects.filter(customer_name=customer_name, confirmed_units__gt=0)
        .order_by("-confirmed_units", F("last_confirmed_at").desc(nulls_last=True), "product_id")
        .values("product_id", "product_name")
        .first()
    )
    CustomerStats.objects.filter(pk=customer_name).update(
        favourite_product_id=best["product_id"] if best else None,
        favourite_product_name=best["product_name"] if best else "",
    )


def _add(model, pk, *, create=None, assign=None, **counters) -> bool:
    """Add ``counters`` to the row ``pk`` and apply ``assign``; if there is no such row,
    insert one from ``create`` and the counters. Returns whether the row is new.

    Increments are ``F() + n`` in the database, never read-modify-write in Python, and the
    usual case (the row exists) is one UPDATE. Two workers inserting the same new row would
    clash on its primary key, but the consumer's checkpoint lock lets one apply at a time.
    """
    changes = {name: F(name) + n for name, n in counters.items() if n} | (assign or {})
    rows = model.objects.filter(pk=pk)
    if rows.update(**changes) if changes else rows.exists():
        return False
    model.objects.create(pk=pk, **(create or {}), **counters)
    return True


def _shift(model, pk, *, assign=None, **deltas) -> None:
    """Move the counters of a row that the order's creation made; if it is gone, the tables
    no longer match the events, and guessing would only hide it."""
    changes = {name: F(name) + n for name, n in deltas.items() if n} | (assign or {})
    if changes and not model.objects.filter(pk=pk).update(**changes):
        raise InconsistentEvent(f"{model._meta.label} row {pk} is missing; rebuild the projection")
