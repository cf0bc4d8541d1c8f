"""The order aggregate: PENDING until the saga confirms or cancels it.

    PENDING --confirm--> CONFIRMED
    PENDING --cancel(reason)--> CANCELLED

Repeating a transition that already happened is a no-op (sagas retry); the transitions
that would rewrite history (confirming a cancelled order, cancelling a confirmed one) are
refused.
"""

from functools import singledispatchmethod

from eventkit.domain import Aggregate, DomainEvent, event
from eventkit.errors import Conflict, NotFound, Rejected

PENDING, CONFIRMED, CANCELLED = "PENDING", "CONFIRMED", "CANCELLED"


@event("OrderCreated")
class OrderCreated(DomainEvent):
    customer_name: str
    product_id: str
    product_name: str
    quantity: int
    total_price: int


@event("OrderConfirmed")
class OrderConfirmed(DomainEvent):
    pass


@event("OrderCancelled")
class OrderCancelled(DomainEvent):
    reason: str


class IllegalTransition(Rejected):
    code = "illegal_transition"


class OrderMismatch(Conflict):
    code = "order_mismatch"


class Order(Aggregate):
    stream_type = "Order"

    def __init__(self, stream_id):
        super().__init__(stream_id)
        self.status = None
        self.details: OrderCreated | None = None
        self.cancel_reason = ""

    @singledispatchmethod
    def apply(self, event):
        raise TypeError(f"Order cannot apply {event!r}")

    @apply.register
    def _(self, event: OrderCreated):
        self.status, self.details = PENDING, event

    @apply.register
    def _(self, event: OrderConfirmed):
        self.status = CONFIRMED

    @apply.register
    def _(self, event: OrderCancelled):
        self.status, self.cancel_reason = CANCELLED, event.reason

    def create(self, details: OrderCreated) -> None:
        if self.exists:
            if self.details != details:
                raise OrderMismatch(
                    f"order {self.id} already exists with other details", order_id=str(self.id)
                )
            return  # the same order placed again: already done
        self.record(details)

    def confirm(self) -> None:
        self._require_created()
        if self.status == CONFIRMED:
            return
        if self.status == CANCELLED:
            raise IllegalTransition(
                f"order {self.id} is cancelled and cannot be confirmed", status=self.status
            )
        self.record(OrderConfirmed())

    def cancel(self, reason: str) -> None:
        self._require_created()
        if self.status == CANCELLED:
            return
        if self.status == CONFIRMED:
            raise IllegalTransition(
                f"order {self.id} is confirmed and cannot be cancelled", status=self.status
            )
        self.record(OrderCancelled(reason=reason))

    def _require_created(self) -> None:
        if not self.exists:
            raise NotFound(f"no order {self.id}", order_id=str(self.id))
