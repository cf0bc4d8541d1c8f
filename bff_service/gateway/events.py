"""The order and saga services' published events, as the BFF reads them (tolerantly).

Nothing is imported from those services: this is the BFF's own reading of their published
language, with only the fields it forwards to browsers.
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
    reason: str = ""


@event("SagaStarted", tolerant=True)
class SagaStarted(DomainEvent):
    order_id: str


@event("SagaResumed", tolerant=True)
class SagaResumed(DomainEvent):
    owner: str = ""


@event("StepStarted", tolerant=True)
class StepStarted(DomainEvent):
    seq: int
    step: str
    compensating: bool


@event("StepSucceeded", tolerant=True)
class StepSucceeded(DomainEvent):
    seq: int
    step: str
    compensating: bool
    attempts: int = 1
    duration_ms: float = 0.0
    message: str = ""


@event("StepFailed", tolerant=True)
class StepFailed(DomainEvent):
    seq: int
    step: str
    compensating: bool
    attempts: int = 1
    duration_ms: float = 0.0
    error: str = ""
    kind: str = ""


@event("CompensationStarted", tolerant=True)
class CompensationStarted(DomainEvent):
    reason: str = ""


@event("SagaCompleted", tolerant=True)
class SagaCompleted(DomainEvent):
    message: str = ""


@event("SagaCompensated", tolerant=True)
class SagaCompensated(DomainEvent):
    reason: str = ""


@event("SagaFailed", tolerant=True)
class SagaFailed(DomainEvent):
    reason: str = ""
