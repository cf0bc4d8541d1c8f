"""Per-request context that follows a request into logs and event metadata.

A correlation id ties together everything that one user action caused, across services;
it arrives in the ``X-Correlation-ID`` header (or is minted at the edge) and is stored in a
context variable so that code far from the view (the event store, the log formatter) can
read it without it being passed through every call.
"""

import contextvars
import uuid

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)


def current_correlation_id() -> str | None:
    return correlation_id.get()


def new_correlation_id() -> str:
    return str(uuid.uuid4())
