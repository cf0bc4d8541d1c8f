"""Saga events as published on ``events.saga``. The stream id is the saga id; every event's
metadata names its order (``metadata["order_id"]``)."""

from eventkit.domain import DomainEvent, event

# What a caller of the place-order saga may ask it to do wrong on purpose, for the drills
# and the UI's demonstrations (``faults``; taken only with SAGA_FAULTS on).
FAULT_MODES = ("fail", "timeout", "crash_after")


def step_action(step: str, compensating: bool) -> str:
    """A step as the saga log names it (the seed's ``action``): "CancelOrder (COMPENSATING)"."""
    return f"{step} (COMPENSATING)" if compensating else step


@event("SagaStarted", tolerant=True)
class SagaStarted(DomainEvent):
    order_id: str
    customer_name: str = ""
    product_name: str = ""
    quantity: int = 0


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
    includes_start: bool = False  # no StepStarted was published for this step


@event("StepFailed", tolerant=True)
class StepFailed(DomainEvent):
    seq: int
    step: str
    compensating: bool
    attempts: int = 1
    duration_ms: float = 0.0
    error: str = ""
    kind: str = ""
    includes_start: bool = False


@event("StepPaused", tolerant=True)
class StepPaused(DomainEvent):
    """A compensation left for the resumer; ``attempts`` counts every pass so far."""

    seq: int
    step: str
    compensating: bool
    attempts: int = 1
    duration_ms: float = 0.0
    error: str = ""


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
