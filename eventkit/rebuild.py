"""Rebuilding read models from the event log, and checking them against it.

A rebuild is "clear, then fold": inside one transaction it blocks appends, empties the
projection's tables, feeds every event through the projection's handlers and commits.
Readers keep seeing the old rows until the commit (MVCC), so nobody reads a half-built
table; writers wait for the commit, so no event slips between the fold and the swap.

``check`` does the same fold, compares the result with the live rows, reports every
difference and rolls back: it changes nothing.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.db import transaction

from eventkit.projections import Projection
from eventkit.store import iter_recorded, lock_appends


@dataclass
class Drift:
    """How one table's live rows differ from the fold of the log."""

    table: str
    missing: list = field(default_factory=list)  # in the fold, not live
    unexpected: list = field(default_factory=list)  # live, not in the fold
    changed: list = field(default_factory=list)  # (pk, field, live value, folded value)

    def __bool__(self):
        return bool(self.missing or self.unexpected or self.changed)

    def lines(self, limit: int = 20) -> list[str]:
        out = [f"{self.table}: row {pk} is missing" for pk in self.missing]
        out += [f"{self.table}: row {pk} should not exist" for pk in self.unexpected]
        out += [
            f"{self.table}: row {pk} {name} is {live!r}, the events say {folded!r}"
            for pk, name, live, folded in self.changed
        ]
        if len(out) > limit:
            out = [*out[:limit], f"{self.table}: ... and {len(out) - limit} more"]
        return out


@dataclass
class RebuildReport:
    events: int
    last_position: int
    drift: list[Drift]

    @property
    def clean(self) -> bool:
        return not any(self.drift)


def compare(table: str, live: dict, folded: dict) -> Drift:
    drift = Drift(table)
    drift.missing = sorted((pk for pk in folded if pk not in live), key=str)
    drift.unexpected = sorted((pk for pk in live if pk not in folded), key=str)
    for pk in sorted(live.keys() & folded.keys(), key=str):
        for name, value in folded[pk].items():
            if live[pk].get(name) != value:
                drift.changed.append((pk, name, live[pk].get(name), value))
    return drift


def rebuild(
    projections: Sequence[Projection],
    *,
    check: bool = False,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> RebuildReport:
    """Fold the whole log into ``projections``; with ``check``, only report the drift."""
    events = 0
    with transaction.atomic():
        last = lock_appends()
        if on_start:
            on_start(last)
        live = {p.name: p.rows() for p in projections}
        for p in projections:
            p.clear()
        for batch in iter_recorded(until=last, batch_size=batch_size):
            for recorded in batch:
                for p in projections:
                    p.apply(recorded)
            events += len(batch)
            if progress:
                progress(len(batch))
        drift = [
            compare(table, live[p.name][table], rows)
            for p in projections
            for table, rows in p.rows().items()
        ]
        if check:
            transaction.set_rollback(True)
    return RebuildReport(events=events, last_position=last, drift=drift)
