"""How the order service's events become marketing's read models.

The consumer (``manage.py consume_events``) reads ``events.order`` and calls
``registry.apply(batch, source="order-service")`` in the transaction that also moves its
checkpoint, so each event is applied exactly once and workers take turns on the checkpoint
row lock. A rebuild folds the order service's log through this same handler, which is why it
reads times only from ``recorded.recorded_at``.

The handler takes a whole batch: it folds the events into per-row changes in memory and then
writes each touched row once (an order created and confirmed in one batch is inserted once;
a product's counters are updated once per batch, not once per order), so a catch-up or a
rebuild costs statements per row, not per event.

An order's contribution to the counters depends on its status (:func:`_contribution`); a
status change subtracts the old contribution and adds the new one. So the totals always
equal a recount of ``OrderFact``, even for a transition the order service does not make
today (cancelling a confirmed order takes its revenue back out).

An event that contradicts what has been seen (a confirm for an order never created, the
same order created twice) raises :class:`InconsistentEvent` rather than bend the numbers:
the consumer then sets the event aside as a poison message.
"""

from datetime import UTC

from django.db import connection

from contracts.orders import OrderCancelled, OrderConfirmed, OrderCreated
from eventkit.projections import RowWrites, projection
from eventkit.records import Recorded
from eventkit.rows import MissingRow, select_row, select_rows
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


@analytics.batch
def apply_marketing(batch: list[Recorded]) -> None:
    """Fold a batch of order events in memory, then write each touched row once."""
    created = [r.stream_id for r in batch if isinstance(r.event, OrderCreated)]
    book = _Book(existing={row["id"] for row in select_rows(OrderFact, ["id"], id=created)})
    for recorded in batch:
        event = recorded.event
        if isinstance(event, OrderCreated):
            book.order_created(event, recorded)
        elif isinstance(event, OrderConfirmed):
            book.move(recorded, OrderFact.Status.CONFIRMED)
        elif isinstance(event, OrderCancelled):
            book.move(recorded, OrderFact.Status.CANCELLED, cancel_reason=event.reason)
    try:
        book.write()
    except MissingRow as missing:
        raise InconsistentEvent(f"{missing}; rebuild the projection") from missing


class _Book:
    """A batch's changes to every table; order facts are kept as dicts of their columns."""

    def __init__(self, *, existing: set):
        self.existing = existing  # orders of this batch's OrderCreated that have a fact already
        self.facts: dict = {}  # order id -> its fact's columns, as this batch leaves them
        self.fact_rows = RowWrites(OrderFact)
        self.customers = RowWrites(CustomerStats)
        self.products = RowWrites(ProductStats)
        self.pairs = RowWrites(CustomerProduct)
        self.days = RowWrites(DailySales)
        self.favourites: set[str] = set()  # customers whose confirmed units changed

    # -- events -------------------------------------------------------------------------

    def order_created(self, event: OrderCreated, recorded: Recorded) -> None:
        order_id, at = recorded.stream_id, recorded.recorded_at
        product_id = OrderFact._meta.get_field("product_id").to_python(event.product_id)
        if order_id in self.facts or order_id in self.existing:
            raise DuplicateOrder(
                f"OrderCreated at position {recorded.position}: order {order_id} already exists"
            )
        customer, day = event.customer_name, at.astimezone(UTC).date()
        self.facts[order_id] = self.fact_rows.new[order_id] = {
            "id": order_id,
            "customer_name": customer,
            "product_id": product_id,
            "product_name": event.product_name,
            "quantity": event.quantity,
            "total_price": event.total_price,
            "status": OrderFact.Status.PENDING,
            "cancel_reason": "",
            "sale_date": day,
            "version": recorded.version,
            "created_at": at,
            "updated_at": at,
        }
        self.customers.create_if_missing(customer)
        self.customers.add(customer, "total_orders", 1)
        self.customers.at_most(customer, first_order_at=at)
        self.customers.at_least(customer, last_order_at=at)
        pair = customer_product_key(customer, product_id)
        self.pairs.create_if_missing(pair, customer_name=customer, product_id=product_id)
        self.pairs.add(pair, "orders", 1)
        self.pairs.change(pair, product_name=event.product_name)
        # The pair's name may be the favourite's: read it again at the write, as a fold of
        # all events at once would, whether or not any units moved.
        self.favourites.add(customer)
        self.products.create_if_missing(product_id)
        self.products.add(product_id, "total_order_count", 1)
        self.products.change(product_id, product_name=event.product_name)
        self.days.create_if_missing(day)
        self.days.add(day, "total_orders", 1)

    def move(self, recorded: Recorded, status: str, **changes) -> None:
        order_id = recorded.stream_id
        fact = self._fact(recorded)
        before = fact["status"]
        changes |= {"status": status, "version": recorded.version}
        changes["updated_at"] = recorded.recorded_at
        fact.update(changes)
        self.fact_rows.change(order_id, **changes)
        if status == before:
            return
        old, new = _contribution(fact, before), _contribution(fact, status)
        customer, product_id = fact["customer_name"], fact["product_id"]
        pair = customer_product_key(customer, product_id)
        for rows, pk, table in (
            (self.customers, customer, "customer"),
            (self.pairs, pair, "customer_product"),
            (self.products, product_id, "product"),
            (self.days, fact["sale_date"], "day"),
        ):
            for name, value in new[table].items():
                rows.add(pk, name, value - old[table][name])
        if status == OrderFact.Status.CONFIRMED:
            self.pairs.change(pair, last_confirmed_at=recorded.recorded_at)
        if new["customer_product"]["confirmed_units"] != old["customer_product"]["confirmed_units"]:
            self.favourites.add(customer)

    def _fact(self, recorded: Recorded) -> dict:
        order_id = recorded.stream_id
        fact = self.facts.get(order_id)
        if fact is None:
            fact = select_row(OrderFact, FACT_COLUMNS, id=order_id, lock=True)
            if fact is None:
                raise UnknownOrder(
                    f"{recorded.event_type} at position {recorded.position}: "
                    f"order {order_id} was never created"
                )
            self.facts[order_id] = fact
        return fact

    # -- writing ------------------------------------------------------------------------

    def write(self) -> None:
        """Every write in plain SQL: it runs for every order event (a catch-up's page of
        new facts is one COPY)."""
        with connection.cursor() as cursor:
            self.fact_rows.write(cursor)
            # Customer-product rows first: a new one adds a unique customer to its product,
            # and the favourites are read from them.
            for pair in self.pairs.write(cursor):
                self.products.add(self.pairs.creates[pair]["product_id"], "unique_customers", 1)
            for customer, best in _favourites(self.favourites).items():
                self.customers.change(
                    customer,
                    favourite_product_id=best["product_id"] if best else None,
                    favourite_product_name=best["product_name"] if best else "",
                )
            for rows in (self.customers, self.products, self.days):
                rows.write(cursor)


FACT_COLUMNS = [f.name for f in OrderFact._meta.concrete_fields]


def _favourites(customers: set[str]) -> dict[str, dict | None]:
    """Each customer's favourite: most confirmed units; a tie goes to the latest confirmed,
    then to the lowest product id. One query for all of them."""
    best: dict[str, dict | None] = dict.fromkeys(customers)
    names = ["customer_name", "product_id", "product_name", "confirmed_units", "last_confirmed_at"]
    for row in select_rows(CustomerProduct, names, customer_name=list(customers)):
        if row["confirmed_units"] > 0 and _beats(row, best[row["customer_name"]]):
            best[row["customer_name"]] = row
    return {
        customer: row and {"product_id": row["product_id"], "product_name": row["product_name"]}
        for customer, row in best.items()
    }


def _beats(row: dict, best: dict | None) -> bool:
    if best is None:
        return True
    if row["confirmed_units"] != best["confirmed_units"]:
        return row["confirmed_units"] > best["confirmed_units"]
    mine, theirs = row["last_confirmed_at"], best["last_confirmed_at"]
    if mine != theirs:
        return theirs is None or (mine is not None and mine > theirs)
    return row["product_id"] < best["product_id"]  # UUIDs: select_rows converts them


def _contribution(fact: dict, status: str) -> dict[str, dict[str, int]]:
    """What an order in ``status`` adds to each table beyond being counted as an order."""
    confirmed = status == OrderFact.Status.CONFIRMED
    cancelled = status == OrderFact.Status.CANCELLED
    revenue = fact["total_price"] if confirmed else 0
    units = fact["quantity"] if confirmed else 0
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
