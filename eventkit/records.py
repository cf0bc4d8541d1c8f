"""An event as recorded, the shape every reader of the log shares: the store that appends
it, the projections that fold it, the wire that carries it to other services."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventkit.domain import DomainEvent


@dataclass(frozen=True)
class Recorded:
    """An event as stored: the domain event plus where and when it was recorded.

    ``position`` is None only inside the appending transaction, before the events are
    written (see the module doc).
    """

    position: int | None
    event_id: uuid.UUID
    stream_id: uuid.UUID
    stream_type: str
    version: int
    event: DomainEvent
    recorded_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def event_type(self) -> str:
        return self.event.event_type


# The columns of eventkit_event in the order every raw statement of eventkit uses.
EVENT_COLUMNS = (
    "position",
    "event_id",
    "stream_id",
    "stream_type",
    "version",
    "event_type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
)
