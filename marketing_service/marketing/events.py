"""The order service's published events, as marketing reads them.

Nothing is imported from the order service: this is marketing's own copy of the published
language, with only what marketing needs. The order id is the event's ``stream_id`` and the
time is its ``recorded_at``.
"""

from eventkit.domain import DomainEvent, event


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
