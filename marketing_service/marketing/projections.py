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

import uuid
from collections import defaultdict
from datetime import UTC

from django.db import connection

from contracts.orders import OrderCancelled, OrderConfirmed, OrderCreated
from eventkit.projections import projection
from eventkit.rows import insert_row, insert_rows, select_row, select_rows, update_row
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
    book.write()


class _Row:
    """What a batch does to one row of a counter table: increments, assignments, and the
    values to insert it with if it does not exist yet (None: it must exist)."""

    def __init__(self):
        self.counters: dict[str, int] = defaultdict(int)
        self.assign: dict = {}
        self.create: dict | None = None


class _Book:
    def __init__(self, *, existing: set):
        self.existing = existing  # orders of this batch's OrderCreated that have a fact already
        self.new_facts: dict[uuid.UUID, OrderFact] = {}
        self.moved_facts: dict[uuid.UUID, OrderFact] = {}  # existing facts, with their changes
        self.rows: dict[type, dict] = defaultdict(lambda: defaultdict(_Row))
        self.favourites: set[str] = set()  # customers whose confirmed units changed

    # -- events -------------------------------------------------------------------------

    def order_created(self, event: OrderCreated, recorded: Recorded) -> None:
        order_id, at = recorded.stream_id, recorded.recorded_at
        product_id = OrderFact._meta.get_field("product_id").to_python(event.product_id)
        if order_id in self.new_facts or order_id in self.existing:
            raise DuplicateOrder(
                f"OrderCreated at position {recorded.position}: order {order_id} already exists"
            )
        fact = OrderFact(
            id=order_id,
            customer_name=event.customer_name,
            product_id=product_id,
            product_name=event.product_name,
            quantity=event.quantity,
            total_price=event.total_price,
            status=OrderFact.Status.PENDING,
            sale_date=at.astimezone(UTC).date(),
            version=recorded.version,
            created_at=at,
            updated_at=at,
        )
        self.new_facts[order_id] = fact
        customer = self._row(CustomerStats, fact.customer_name, {})
        customer.counters["total_orders"] += 1
        first = min(customer.assign.get("first_order_at", at), at)
        last = max(customer.assign.get("last_order_at", at), at)
        customer.assign |= {"first_order_at": first, "last_order_at": last}
        customer.create |= {"first_order_at": first, "last_order_at": last}
        names = {"product_name": fact.product_name}
        pair = self._row(
            CustomerProduct,
            customer_product_key(fact.customer_name, product_id),
            {"customer_name": fact.customer_name, "product_id": product_id},
        )
        pair.counters["orders"] += 1
        pair.assign |= names
        pair.create |= names
        product = self._row(ProductStats, product_id, {})
        product.counters["total_order_count"] += 1
        product.assign |= names
        product.create |= names
        self._row(DailySales, fact.sale_date, {}).counters["total_orders"] += 1

    def move(self, recorded: Recorded, status: str, **changes) -> None:
        fact = self._fact(recorded)
        before = fact.status
        fact.status, fact.version, fact.updated_at = status, recorded.version, recorded.recorded_at
        for name, value in changes.items():
            setattr(fact, name, value)
        if status == before:
            return
        old, new = _contribution(fact, before), _contribution(fact, status)
        keys = {
            "customer": (CustomerStats, fact.customer_name),
            "customer_product": (
                CustomerProduct,
                customer_product_key(fact.customer_name, fact.product_id),
            ),
            "product": (ProductStats, uuid.UUID(str(fact.product_id))),
            "day": (DailySales, fact.sale_date),
        }
        for table, (model, pk) in keys.items():
            row = self._row(model, pk)
            for name, value in new[table].items():
                row.counters[name] += value - old[table][name]
        if status == OrderFact.Status.CONFIRMED:
            pair = self._row(*keys["customer_product"])
            pair.assign["last_confirmed_at"] = recorded.recorded_at
        if new["customer_product"]["confirmed_units"] != old["customer_product"]["confirmed_units"]:
            self.favourites.add(fact.customer_name)

    def _fact(self, recorded: Recorded) -> OrderFact:
        order_id = recorded.stream_id
        fact = self.new_facts.get(order_id) or self.moved_facts.get(order_id)
        if fact is None:
            row = select_row(OrderFact, FACT_COLUMNS, id=order_id, lock=True)
            if row is None:
                raise UnknownOrder(
                    f"{recorded.event_type} at position {recorded.position}: "
                    f"order {order_id} was never created"
                )
            fact = self.moved_facts[order_id] = OrderFact(**row)
        return fact

    def _row(self, model, pk, create: dict | None = None) -> _Row:
        row = self.rows[model][pk]
        if create is not None and row.create is None:
            row.create = dict(create)  # this batch may insert it
        return row

    # -- writing ------------------------------------------------------------------------

    def write(self) -> None:
        """Every write in plain SQL: it runs for every order event (a catch-up's page of
        new facts is one COPY)."""
        new_facts = [_columns(fact, FACT_COLUMNS) for fact in self.new_facts.values()]
        with connection.cursor() as cursor:
            insert_rows(cursor, OrderFact, new_facts)
            for fact in self.moved_facts.values():
                update_row(cursor, OrderFact, fact.pk, _columns(fact, MOVED_COLUMNS))
            # Customer-product rows first: a new one adds a unique customer to its product.
            for pk, row in self.rows[CustomerProduct].items():
                if _write(cursor, CustomerProduct, pk, row):
                    product = self.rows[ProductStats][row.create["product_id"]]
                    product.counters["unique_customers"] += 1
            for customer_name, best in _favourites(self.favourites).items():
                self._row(CustomerStats, customer_name).assign |= {
                    "favourite_product_id": best["product_id"] if best else None,
                    "favourite_product_name": best["product_name"] if best else "",
                }
            for model in (CustomerStats, ProductStats, DailySales):
                for pk, row in self.rows[model].items():
                    _write(cursor, model, pk, row)


# Times a batch can only move outwards: the earliest and the latest order of a customer.
EARLIEST, LATEST = ("first_order_at",), ("last_order_at",)


def _write(cursor, model, pk, row: _Row) -> bool:
    """Apply the row's changes: one UPDATE if it exists, else one INSERT if this batch may
    create it. Returns whether it was inserted.

    Increments are added in the database, never read-modify-write in Python; two workers
    inserting the same new row would clash on its primary key, but the consumer's
    checkpoint lock lets one apply at a time.
    """
    increments = {name: n for name, n in row.counters.items() if n}
    if not increments and not row.assign and row.create is None:
        return False  # touched by a move that changed nothing here
    assign = {k: v for k, v in row.assign.items() if k not in EARLIEST + LATEST}
    at_most = {k: v for k, v in row.assign.items() if k in EARLIEST}
    at_least = {k: v for k, v in row.assign.items() if k in LATEST}
    if increments or row.assign:
        found = update_row(
            cursor, model, pk, assign, increments, at_least=at_least, at_most=at_most
        )
    else:
        key = model._meta.pk.name
        found = select_row(model, [key], **{key: pk}) is not None
    if found:
        return False
    if row.create is None:
        raise InconsistentEvent(f"{model._meta.label} row {pk} is missing; rebuild the projection")
    # A model instance fills in the field defaults an INSERT naming every column needs.
    new = model(pk=pk, **row.create, **{k: v for k, v in row.assign.items() if k not in row.create})
    for name, n in row.counters.items():
        setattr(new, name, n)
    insert_row(cursor, model, {f.name: getattr(new, f.name) for f in model._meta.concrete_fields})
    return True


FACT_COLUMNS = [f.name for f in OrderFact._meta.concrete_fields]
MOVED_COLUMNS = ("status", "version", "updated_at", "cancel_reason")  # what a move changes


def _columns(fact: OrderFact, names) -> dict:
    return {name: getattr(fact, name) for name in names}


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
