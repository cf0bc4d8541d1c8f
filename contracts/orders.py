"""Order events as published on ``events.order``. The order id is the event's stream id."""

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
    reason: str = ""
