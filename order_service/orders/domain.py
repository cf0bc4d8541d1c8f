"""The order aggregate: PENDING until the saga confirms or cancels it.

    PENDING --confirm--> CONFIRMED
    PENDING --cancel(reason)--> CANCELLED
    (none)  --cancel(reason)--> VOIDED: never to be created

Repeating a transition that already happened is a no-op (sagas retry); the transitions
that would rewrite history (confirming a cancelled order, cancelling a confirmed one) are
refused.

A cancel for an order that does not exist closes its id. A saga whose CreateOrder went
unanswered until its deadline compensates with CancelOrder; the create may still be on
its way, and landing after the cancel it would leave a PENDING order that no saga will
finish. A voided id refuses it instead (``order_closed``), as inventory's voided
reservation refuses a late reserve.
"""

from functools import singledispatchmethod

from eventkit.domain import Aggregate, DomainEvent, event
from eventkit.errors import Conflict, NotFound, Rejected

PENDING, CONFIRMED, CANCELLED, VOIDED = "PENDING", "CONFIRMED", "CANCELLED", "VOIDED"


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


@event("OrderVoided")
class OrderVoided(DomainEvent):
    """A cancel came before the order was created: the id can no longer be created."""

    reason: str


class IllegalTransition(Rejected):
    code = "illegal_transition"


class OrderMismatch(Conflict):
    code = "order_mismatch"


class OrderClosed(Rejected):
    code = "order_closed"


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

    @apply.register
    def _(self, event: OrderVoided):
        self.status, self.cancel_reason = VOIDED, event.reason

    def create(self, details: OrderCreated) -> None:
        if self.status == VOIDED:
            raise OrderClosed(
                f"order {self.id} was cancelled before it was created", order_id=str(self.id)
            )
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
        if not self.exists:
            self.record(OrderVoided(reason=reason))
            return
        if self.status in (CANCELLED, VOIDED):
            return
        if self.status == CONFIRMED:
            raise IllegalTransition(
                f"order {self.id} is confirmed and cannot be cancelled", status=self.status
            )
        self.record(OrderCancelled(reason=reason))

    def _require_created(self) -> None:
        if not self.exists or self.status == VOIDED:
            raise NotFound(f"no order {self.id}", order_id=str(self.id))
