"""Read models kept up to date in the same transaction as the events that change them.

A service declares a projection, the tables it owns, and one handler per event type::

    products = projection("products", models=[ProductView])

    @products.on(StockReserved)
    def stock_reserved(event: StockReserved, recorded: Recorded) -> None:
        ProductView.objects.filter(pk=recorded.stream_id).update(...)

The store calls :meth:`Registry.apply` for every append, inside the appending transaction,
so a read model is never behind its events. ``manage.py rebuild_projections`` clears the
tables and folds the whole log through the *same* handlers (see ``eventkit.rebuild``), so
handlers must be deterministic: take times from ``recorded.recorded_at``, never ``now()``.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable

from django.db import models

from eventkit.domain import DomainEvent
from eventkit.records import Recorded
from eventkit.rows import insert_rows, select_row, update_row

Handler = Callable[[DomainEvent, Recorded], None]
BatchHandler = Callable[[list[Recorded]], None]


class Projection:
    """Handlers for the events of one source, and the tables they own.

    ``source`` is None for the service's own events (applied as they are appended), or the
    name of another service (``order-service``) whose events arrive through a consumer.
    """

    def __init__(
        self, name: str, *, models: Iterable[type[models.Model]], source: str | None = None
    ):
        self.name = name
        self.models = tuple(models)
        self.source = source
        self._handlers: dict[str, Handler] = {}
        self._batch_handler: BatchHandler | None = None
        self._after_commit: list[Callable[[], None]] = []
        self._every_poll: list[Callable[[], None]] = []
        self._after_skip: list[Callable[[], None]] = []

    def __repr__(self):
        return f"<Projection {self.name}>"

    def on(self, *event_classes: type[DomainEvent]):
        if self._batch_handler is not None:
            raise ValueError(f"{self.name} has a batch handler; use one or the other")

        def register(handler: Handler) -> Handler:
            for cls in event_classes:
                if cls.event_type in self._handlers:
                    raise ValueError(f"{self.name} handles {cls.event_type} twice")
                self._handlers[cls.event_type] = handler
            return handler

        return register

    def batch(self, handler: BatchHandler) -> BatchHandler:
        """Register one handler for a whole batch of events, instead of one per event.

        It receives every event of an append, a consumer batch or a rebuild page at once,
        in order, and can fold them in memory and write each row once (``bulk_create``, one
        UPDATE per row): a rebuild then costs a few statements per page, not one per event.
        It is the only handler of the projection, live and in rebuilds alike.
        """
        if self._handlers:
            raise ValueError(f"{self.name} has per-event handlers; use one or the other")
        self._batch_handler = handler
        return handler

    def after_commit(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Register ``callback`` to run after a consumer has committed batches it fed us: once
        per poll of the consumer, after everything that poll applied.

        For projections whose effect is outside the database (the BFF's websocket pushes):
        handlers queue their effect with ``transaction.on_commit`` (dropped if the batch
        rolls back) and the callback sends what is queued, once per poll.
        """
        self._after_commit.append(callback)
        return callback

    def committed(self) -> None:
        for callback in self._after_commit:
            callback()

    def every_poll(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Register ``callback`` to run after every poll of a consumer fed by this
        projection's source, whether it applied anything or not, and after each try while
        Redis is down.

        For work on a beat that must say the consumer is alive (the BFF's websocket
        heartbeat); it stops only while a poll is stuck, which is what it should tell. The
        callback decides itself whether its time has come, and should not raise.
        """
        self._every_poll.append(callback)
        return callback

    def polled(self) -> None:
        for callback in self._every_poll:
            callback()

    def after_skip(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Register ``callback`` to run when a consumer passes over events of this source
        without feeding them to us: a live-only consumer (the BFF's websocket feed) that
        follows a log that started over from its head. Its effects outside the database
        then missed those events, and the callback can say so (the BFF's heartbeat gap)."""
        self._after_skip.append(callback)
        return callback

    def skipped(self) -> None:
        for callback in self._after_skip:
            callback()

    def apply_batch(self, batch: list[Recorded]) -> None:
        if self._batch_handler is not None:
            if batch:
                self._batch_handler(batch)
            return
        for recorded in batch:
            handler = self._handlers.get(recorded.event_type)
            if handler is not None:
                handler(recorded.event, recorded)

    def clear(self) -> None:
        for model in reversed(self.models):
            # A raw DELETE: no signals, no cascade collection, one statement per table.
            model.objects.all()._raw_delete(model.objects.db)

    def rows(self) -> dict[str, dict]:
        """Every row of every table, keyed by table then primary key, for tests on small
        tables. ``--check`` does not load them: the database compares (``eventkit.drift``)."""
        return {
            model._meta.label: {
                row["pk"]: row for row in model.objects.values("pk", *_fields(model))
            }
            for model in self.models
        }


def _fields(model: type[models.Model]) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields if not f.primary_key]


class Registry:
    def __init__(self):
        self._projections: dict[str, Projection] = {}

    def register(self, projection: Projection) -> Projection:
        if projection.name in self._projections:
            raise ValueError(f"projection {projection.name!r} is registered twice")
        self._projections[projection.name] = projection
        return projection

    def get(self, name: str) -> Projection:
        try:
            return self._projections[name]
        except KeyError:
            known = ", ".join(sorted(self._projections)) or "none"
            raise LookupError(f"no projection named {name!r} (known: {known})") from None

    def all(self) -> list[Projection]:
        return list(self._projections.values())

    def apply(self, recorded: Iterable[Recorded], *, source: str | None = None) -> None:
        """Feed events to the projections of ``source`` (None: this service's own)."""
        batch = list(recorded)
        for projection in self._projections.values():
            if projection.source == source:
                projection.apply_batch(batch)

    def committed(self, *, source: str | None = None) -> None:
        """A batch of ``source``'s events was committed: run the after-commit callbacks."""
        for projection in self._projections.values():
            if projection.source == source:
                projection.committed()

    def polled(self, *, sources: Iterable[str]) -> None:
        """A consumer of ``sources`` finished a poll: run the every-poll callbacks."""
        wanted = set(sources)
        for projection in self._projections.values():
            if projection.source in wanted:
                projection.polled()

    def skipped(self, *, source: str) -> None:
        """A consumer passed over events of ``source``: run the after-skip callbacks."""
        for projection in self._projections.values():
            if projection.source == source:
                projection.skipped()

    def sources(self) -> set[str]:
        return {p.source for p in self._projections.values() if p.source is not None}


registry = Registry()


class RowWrites:
    """What a batch handler does to one table, folded in memory, then written once per row.

    - ``new[pk]``: a row the batch creates (every column). Changes to it go into it, so an
      order created and confirmed in one rebuild page is inserted once, in its final state.
    - :meth:`change`, :meth:`add`, :meth:`at_least`, :meth:`at_most`: changes to a row that
      exists: set columns, add to counters, move a time only outwards (earliest, latest).
    - :meth:`create_if_missing`: a row that may or may not exist yet (a counter per day):
      it is updated if found, else inserted with these values, the model's defaults and the
      batch's changes applied to them.

    :meth:`write` issues one INSERT (or COPY) for the new rows and one UPDATE per changed
    row, in plain SQL; a changed row found missing is inserted (if it may be) or raises
    :class:`MissingRow`. Counters are added in the database, never read-modify-write.
    """

    def __init__(self, model: type[models.Model]):
        self.model = model
        self.new: dict = {}  # pk -> every column
        self.changed: dict = defaultdict(dict)  # pk -> columns to set
        self.added: dict = defaultdict(dict)  # pk -> {column: amount to add}
        self.upper_bounds: dict = defaultdict(dict)  # pk -> {column: value it must be at most}
        self.lower_bounds: dict = defaultdict(dict)  # pk -> {column: value it must be at least}
        self.creates: dict = {}  # pk -> columns to insert with if missing
        self.touched: dict = {}  # pk -> None, in the order the batch touched them

    def change(self, pk, **columns) -> None:
        if pk in self.new:
            self.new[pk].update(columns)
        else:
            self.changed[pk].update(columns)
            self.touched[pk] = None

    def add(self, pk, column: str, amount: int) -> None:
        if not amount:
            return
        if pk in self.new:
            self.new[pk][column] += amount
        else:
            self.added[pk][column] = self.added[pk].get(column, 0) + amount
            self.touched[pk] = None

    def at_most(self, pk, **columns) -> None:
        self._bound(pk, columns, self.upper_bounds, min)

    def at_least(self, pk, **columns) -> None:
        self._bound(pk, columns, self.lower_bounds, max)

    def _bound(self, pk, columns: dict, bounds: dict, pick) -> None:
        target = self.new[pk] if pk in self.new else bounds[pk]
        for name, value in columns.items():
            target[name] = pick(target[name], value) if name in target else value
        if pk not in self.new:
            self.touched[pk] = None

    def create_if_missing(self, pk, **columns) -> None:
        self.creates.setdefault(pk, {}).update(columns)
        self.touched[pk] = None

    def write(self, cursor) -> list:
        """Write every row; returns the primary keys inserted by :meth:`create_if_missing`.

        Rows that must exist are checked as their UPDATE comes back, so inside
        :func:`eventkit.batching.batched` these statements go out with the command's others.
        """
        insert_rows(cursor, self.model, list(self.new.values()))
        inserted = []
        for pk in self.touched:
            if pk not in self.creates:
                self._update(cursor, pk, must_exist=True)
            elif not self._update(cursor, pk):
                insert_rows(cursor, self.model, [self._created(pk)])
                inserted.append(pk)
        return inserted

    def _update(self, cursor, pk, *, must_exist: bool = False) -> bool:
        """Apply the row's changes; whether it exists (known now only if it need not)."""
        parts = (self.changed, self.added, self.lower_bounds, self.upper_bounds)
        if not any(pk in part for part in parts):
            key = self.model._meta.pk.name
            return select_row(self.model, [key], **{key: pk}) is not None
        changed, added = self.changed.get(pk, {}), self.added.get(pk)
        lower, upper = self.lower_bounds.get(pk), self.upper_bounds.get(pk)
        found = update_row(
            cursor,
            self.model,
            pk,
            changed,
            added,
            at_least=lower,
            at_most=upper,
            must_exist=must_exist,
        )
        return found is None or found > 0

    def _created(self, pk) -> dict:
        # A model instance fills in the field defaults an INSERT naming every column needs.
        values = self.creates[pk] | self.changed.get(pk, {})
        values |= self.lower_bounds.get(pk, {}) | self.upper_bounds.get(pk, {})
        row = self.model(pk=pk, **values)
        for name, amount in self.added.get(pk, {}).items():
            setattr(row, name, getattr(row, name) + amount)
        return {f.name: getattr(row, f.name) for f in self.model._meta.concrete_fields}


def projection(
    name: str, *, models: Iterable[type[models.Model]], source: str | None = None
) -> Projection:
    """Create a projection and register it, so appends (or the consumer) and rebuilds use it."""
    return registry.register(Projection(name, models=models, source=source))
