"""The product aggregate: stock on hand, stock reserved, and the rules between them.

A product's stream records everything that changed its stock. The aggregate keeps the
counters; which order holds how much is kept in the reservation ledger (a projection
updated in the same transaction) and handed in to :meth:`Product.reserve` and
:meth:`Product.release`, so a product reserved a million times never has to fold a
million reservations to decide the next one.

Reservations are keyed by order: reserving again for the same order changes nothing, a
release gives back exactly what that order holds, and a release that arrives for an order
that never reserved records a void, so a reserve that was still in flight (a saga timed
out and compensated) is refused when it finally lands instead of leaking stock.
"""

from dataclasses import dataclass
from functools import singledispatchmethod

from eventkit.domain import Aggregate, DomainEvent, event
from eventkit.errors import Conflict, NotFound, Rejected


@event("ProductRegistered")
class ProductRegistered(DomainEvent):
    product_name: str
    price: int


@event("StockAdded")
class StockAdded(DomainEvent):
    quantity: int


@event("StockReserved")
class StockReserved(DomainEvent):
    order_id: str
    quantity: int


@event("StockReleased")
class StockReleased(DomainEvent):
    order_id: str
    quantity: int


@event("ReservationVoided")
class ReservationVoided(DomainEvent):
    """A release came for an order that had reserved nothing; it may not reserve later."""

    order_id: str


class InsufficientStock(Rejected):
    code = "insufficient_stock"


class ReservationClosed(Rejected):
    code = "reservation_closed"


class ReservationMismatch(Conflict):
    code = "reservation_mismatch"


RESERVED, RELEASED, VOIDED = "RESERVED", "RELEASED", "VOIDED"


@dataclass(frozen=True)
class Reservation:
    order_id: str
    quantity: int
    status: str


class Product(Aggregate):
    stream_type = "Product"
    snapshot_schema = 1

    def __init__(self, stream_id):
        super().__init__(stream_id)
        self.product_name = ""
        self.price = 0
        self.quantity = 0
        self.reserved = 0

    @property
    def available(self) -> int:
        return self.quantity - self.reserved

    @singledispatchmethod
    def apply(self, event):
        raise TypeError(f"Product cannot apply {event!r}")

    @apply.register
    def _(self, event: ProductRegistered):
        self.product_name, self.price = event.product_name, event.price

    @apply.register
    def _(self, event: StockAdded):
        self.quantity += event.quantity

    @apply.register
    def _(self, event: StockReserved):
        self.reserved += event.quantity

    @apply.register
    def _(self, event: StockReleased):
        self.reserved -= event.quantity

    @apply.register
    def _(self, event: ReservationVoided):
        pass  # nothing was held; the ledger remembers the void

    # -- commands ---------------------------------------------------------------------

    def register(self, product_name: str, price: int, initial_stock: int = 0) -> None:
        if self.exists:
            if (self.product_name, self.price) != (product_name, price):
                raise Conflict(
                    f"product {self.id} is already registered as {self.product_name!r}",
                    product_name=self.product_name,
                    price=self.price,
                )
            return
        self.record(ProductRegistered(product_name=product_name, price=price))
        if initial_stock:
            self.record(StockAdded(quantity=initial_stock))

    def restock(self, quantity: int) -> None:
        self._require_registered()
        self.record(StockAdded(quantity=quantity))

    def reserve(self, order_id: str, quantity: int, prior: Reservation | None) -> Reservation:
        self._require_registered()
        if prior is not None:
            if prior.status != RESERVED:
                raise ReservationClosed(
                    f"the reservation of order {order_id} was already {prior.status.lower()}",
                    order_id=order_id,
                    status=prior.status,
                )
            if prior.quantity != quantity:
                raise ReservationMismatch(
                    f"order {order_id} already holds {prior.quantity}, not {quantity}",
                    order_id=order_id,
                    reserved_quantity=prior.quantity,
                )
            return prior  # a retry of a reservation that already happened
        if quantity > self.available:
            raise InsufficientStock(
                f"only {self.available} of {self.product_name} available, {quantity} requested",
                available=self.available,
                requested=quantity,
            )
        self.record(StockReserved(order_id=order_id, quantity=quantity))
        return Reservation(order_id, quantity, RESERVED)

    def release(self, order_id: str, prior: Reservation | None) -> Reservation:
        self._require_registered()
        if prior is None:
            self.record(ReservationVoided(order_id=order_id))
            return Reservation(order_id, 0, VOIDED)
        if prior.status != RESERVED:
            return prior  # released (or voided) before: nothing more to give back
        self.record(StockReleased(order_id=order_id, quantity=prior.quantity))
        return Reservation(order_id, prior.quantity, RELEASED)

    def _require_registered(self) -> None:
        if not self.exists:
            raise NotFound(f"no product {self.id}", product_id=str(self.id))

    # -- snapshot ---------------------------------------------------------------------

    def to_snapshot(self):
        return {
            "product_name": self.product_name,
            "price": self.price,
            "quantity": self.quantity,
            "reserved": self.reserved,
        }

    def restore_snapshot(self, state):
        self.product_name = state["product_name"]
        self.price = state["price"]
        self.quantity = state["quantity"]
        self.reserved = state["reserved"]
