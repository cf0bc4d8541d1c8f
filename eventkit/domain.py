"""Building blocks for domain code: events and aggregates, in plain Python.

Nothing here touches the database. A service declares its events as frozen dataclasses and
its aggregates as folds over them::

    @event("StockReserved")
    class StockReserved(DomainEvent):
        order_id: str
        quantity: int

    class Product(Aggregate):
        stream_type = "Product"

        @singledispatchmethod
        def apply(self, event): ...

        @apply.register
        def _(self, event: StockReserved):
            self.reserved += event.quantity

A command method checks the rules against the current state and calls ``self.record(...)``,
which applies the new event at once and queues it for the store to append.

Events are versioned: when an event's shape changes, bump ``schema_version`` and register
an upcaster from the old version, so events stored years ago still fold::

    @event("OrderCancelled", schema_version=2, upcasters={1: lambda d: {**d, "reason": ""}})
"""

import copy
import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Self

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class DomainEvent:
    """Base of every event class; subclasses are frozen dataclasses made by :func:`event`."""

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    # upcasters[n] turns data stored at schema version n into version n + 1.
    upcasters: ClassVar[dict[int, Upcaster]] = {}

    def to_data(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # A tolerant reader ignores fields it does not know: how a consumer reads another
    # service's events, so that the publisher may add fields without breaking it.
    tolerant: ClassVar[bool] = False

    @classmethod
    def from_data(cls, data: dict[str, Any], schema_version: int) -> Self:
        if cls.tolerant:
            known = {f.name for f in dataclasses.fields(cls)}
            data = {k: v for k, v in data.items() if k in known}
        for version in range(schema_version, cls.schema_version):
            upcast = cls.upcasters.get(version)
            if upcast is None:
                raise LookupError(
                    f"{cls.event_type}: no upcaster from schema version {version} to {version + 1}"
                )
            data = upcast(data)
        return cls(**data)


_EVENT_TYPES: dict[str, type[DomainEvent]] = {}


class UnknownEventType(LookupError):
    """No event class of this process has the type: one its service does not consume.

    Set apart from the other ways decoding fails (a missing upcaster, an upcaster that
    fails), which a consumer must not take for "not mine" and skip."""


def event(event_type: str, *, schema_version: int = 1, upcasters=None, tolerant: bool = False):
    """Class decorator: make a frozen dataclass event and register it under ``event_type``.

    ``tolerant=True`` is for reading events another service publishes: fields this class
    does not declare are ignored instead of failing.
    """

    def decorate(cls):
        cls = dataclasses.dataclass(frozen=True)(cls)
        cls.event_type = event_type
        cls.schema_version = schema_version
        cls.upcasters = dict(upcasters or {})
        cls.tolerant = tolerant
        known = _EVENT_TYPES.get(event_type)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"event type {event_type!r} is used by {known.__qualname__} too")
        _EVENT_TYPES[event_type] = cls
        return cls

    return decorate


def event_class(event_type: str) -> type[DomainEvent]:
    try:
        return _EVENT_TYPES[event_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {event_type!r}") from None


def decode_event(event_type: str, schema_version: int, data: dict[str, Any]) -> DomainEvent:
    return event_class(event_type).from_data(dict(data), schema_version)


class Aggregate:
    """A consistency boundary whose state is the fold of its own stream of events.

    ``version`` is the number of events folded so far; the store appends new events only
    if the stream is still at that version, so two writers can never both decide on the
    same state.

    Aggregates that live long (a product is reserved thousands of times) can offer a
    snapshot: ``snapshot_schema`` plus :meth:`to_snapshot` / :meth:`restore_snapshot`.
    The store then saves the folded state beside the stream and folds only newer events.
    Bump ``snapshot_schema`` when the state's shape changes and old snapshots are ignored.
    """

    stream_type: ClassVar[str]
    snapshot_schema: ClassVar[int | None] = None

    def __init__(self, stream_id):
        self.id = stream_id
        self.version = 0
        self._pending: list[DomainEvent] = []

    @property
    def exists(self) -> bool:
        return self.version > 0 or bool(self._pending)

    def apply(self, event: DomainEvent) -> None:
        raise NotImplementedError(".apply() must be overridden")

    def fold(self, events: Iterable[DomainEvent]) -> Self:
        for e in events:
            self.apply(e)
            self.version += 1
        return self

    def record(self, event: DomainEvent) -> None:
        """Apply a new event now and queue it for the store to append."""
        self.apply(event)
        self._pending.append(event)

    def branch(self) -> Self:
        """A copy to decide ahead on, leaving this aggregate as it is.

        Shallow, so it is cheap: an aggregate's state is immutable values (frozen events,
        tuples, strings, numbers) that applying an event replaces, never changes in place.
        Only the queue of new events belongs to each copy."""
        twin = copy.copy(self)
        twin._pending = list(self._pending)
        return twin

    def pending_events(self) -> list[DomainEvent]:
        return list(self._pending)

    def take_back(self, event: DomainEvent) -> bool:
        """Drop ``event`` (this very object) from the events not saved yet; whether it was
        there. For an event that a later one of the same batch makes redundant: folding
        what is saved must come to the same state without it."""
        for i, pending in enumerate(self._pending):
            if pending is event:
                del self._pending[i]
                return True
        return False

    def mark_saved(self) -> None:
        self.version += len(self._pending)
        self._pending.clear()

    def to_snapshot(self) -> dict[str, Any]:
        raise NotImplementedError(".to_snapshot() must be overridden to use snapshots")

    def restore_snapshot(self, state: dict[str, Any]) -> None:
        raise NotImplementedError(".restore_snapshot() must be overridden to use snapshots")

    @classmethod
    def replay(cls, stream_id, events: Iterable[DomainEvent]) -> Self:
        """Fold a whole history; what tests and the store use."""
        return cls(stream_id).fold(events)
