"""A tally: the smallest aggregate that exercises the store (create, change, refuse)."""

from functools import singledispatchmethod

from eventkit.domain import Aggregate, DomainEvent, event
from eventkit.errors import NotFound, Rejected


@event("TallyOpened")
class TallyOpened(DomainEvent):
    name: str


# Version 1 had no note; the upcaster fills it in so old events still fold.
@event("TallyAdded", schema_version=2, upcasters={1: lambda d: {**d, "note": ""}})
class TallyAdded(DomainEvent):
    amount: int
    note: str


class OverLimit(Rejected):
    code = "over_limit"


class Tally(Aggregate):
    stream_type = "Tally"
    snapshot_schema = 1
    LIMIT = 100

    def __init__(self, stream_id):
        super().__init__(stream_id)
        self.name = ""
        self.total = 0

    @singledispatchmethod
    def apply(self, event):
        raise TypeError(f"Tally cannot apply {event!r}")

    @apply.register
    def _(self, event: TallyOpened):
        self.name = event.name

    @apply.register
    def _(self, event: TallyAdded):
        self.total += event.amount

    def open(self, name: str) -> None:
        if not self.exists:
            self.record(TallyOpened(name=name))

    def add(self, amount: int, note: str = "") -> None:
        if not self.exists:
            raise NotFound(f"no tally {self.id}")
        if self.total + amount > self.LIMIT:
            raise OverLimit("over the limit", total=self.total)
        self.record(TallyAdded(amount=amount, note=note))

    def to_snapshot(self):
        return {"name": self.name, "total": self.total}

    def restore_snapshot(self, state):
        self.name, self.total = state["name"], state["total"]
