"""The order service's published events, as marketing reads them.

Nothing is imported from the order service: this is marketing's own copy of the published
language, with only what marketing needs. The order id is the event's ``stream_id`` and the
time is its ``recorded_at``. The readers are tolerant: fields the order service adds later
are ignored rather than turning every new event into a poison message.
"""

from eventkit.domain import DomainEvent, event


@event("OrderCreated", tolerant=True)
class OrderCreated(DomainEvent):
    customer_name: str
    product_id: str
    product_name: str
    quantity: int
    total_price: int


@event("OrderConfirmed", tolerant=True)
class OrderConfirmed(DomainEvent):
    pass


@event("OrderCancelled", tolerant=True)
class OrderCancelled(DomainEvent):
    reason: str
