"""Loading aggregates and appending their events, one command per transaction.

How a command runs (:func:`execute`)::

    BEGIN
      SELECT ... FROM eventkit_stream WHERE stream_id = ? FOR UPDATE    (one writer per stream)
      answer from CommandRecord if this command id was seen before      (idempotency)
        (these two reads go out together: one round trip)
      fold snapshot + newer events -> aggregate; the domain decides
      INSERT events into eventkit_pending_event; UPDATE stream version + snapshot
      update read models; INSERT CommandRecord
    COMMIT
      (trigger) UPDATE eventkit_position_counter ... RETURNING          (positions, see below)
      (trigger) move the pending events into eventkit_event

Why a reader of the feed can never skip an event
-------------------------------------------------
Positions are not taken from a sequence. A sequence hands out numbers when rows are
inserted, but transactions commit in another order: position 8 can become visible while 7
is still uncommitted, and a reader that has seen 8 moves its cursor past 7 for ever.

Here every append takes its positions by incrementing the one row of
``eventkit_position_counter``; the row stays locked until the appending transaction commits
or rolls back. So position ``p + 1`` can only be handed out after the transaction holding
``p`` has finished. If it committed, ``p`` is visible before ``p + 1`` exists; if it rolled
back, its increment rolled back too and ``p`` is handed out again. Hence: positions have no
holes, they become visible in order, and "everything after my cursor" is always complete.

The price is that appends are serialised from the counter update to the end of the commit,
so that window must be short. On PostgreSQL it runs inside the server: events are first
written to ``eventkit_pending_event``, and a trigger deferred to commit takes their
positions and moves them into the log (migration ``0004_pending_events``). No client round
trip happens while the counter is held, so a busy client (a thread waiting for the GIL, a
process waiting for a core) never makes every other appender wait. Positions therefore
follow commit order, and inside the appending transaction ``recorded.position`` is None:
read models written there must not need it (consumers of the feed always have it).

On SQLite the positions are taken at once: its writers hold the whole database until
commit anyway, so there is nothing to gain.

A command that runs inside a caller's transaction (a test, or several commands composed
into one) takes its positions before :func:`execute` returns, holding the counter until the
caller commits: a savepoint's release is not a commit, and the events must be in the log by
the time the command has answered.

Contention on one stream is handled by locking its ``eventkit_stream`` row for the whole
command, so concurrent commands on one product wait their turn instead of failing on a
version clash. The ``UNIQUE (stream_id, version)`` constraint stays as the last guard; any
clash that gets through is retried (:data:`conf APPEND_ATTEMPTS`) and then answered 503.
"""

import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.db.models import JSONField, Max, Value
from django.utils import timezone

from eventkit.batching import batched, command_cursor, commit_with_queue, fetch_together, send
from eventkit.conf import setting
from eventkit.domain import Aggregate, DomainEvent, decode_event
from eventkit.errors import ConcurrencyError, Conflict, StreamBusy
from eventkit.models import CommandRecord, Event, PendingEvent, PositionCounter, Stream
from eventkit.projections import registry
from eventkit.records import EVENT_COLUMNS, Recorded
from eventkit.rows import aware_datetime, db_value, insert_row, insert_rows, json_value, locking
from servicekit.context import current_correlation_id
from servicekit.dberrors import connection_lost, lock_wait_over, no_free_connection, sqlstate
from servicekit.pool import forget_dead_connections, take_a_working_connection

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "eventkit_events"  # notified by the commit trigger; the relay listens
POSITION_TRIGGER = "eventkit_pending_event_position"  # see migrations/0004_pending_events

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")


def _json_ready(data: dict[str, Any]) -> dict[str, Any]:
    # What the database will hand back: UUIDs and datetimes as strings.
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


class Session:
    """One command's access to the store, valid inside its transaction."""

    def __init__(self, metadata: dict[str, Any], *, command_id: str | None = None):
        self.metadata = metadata
        self.recorded: list[Recorded] = []
        # The command log is read once per command: with the first stream's lock, one round
        # trip for both, or by check_command_is_new() if the command loads no stream.
        self.command_id = command_id
        self.looked_up = command_id is None
        self.prior: tuple[str, str, Any] | None = None  # the record found, if any

    def load(
        self, aggregate_class: type[A], stream_id, *, lock: bool = True, cached: A | None = None
    ) -> A:
        """The aggregate as of now; with ``lock``, no other command can append until we end.

        A stream that does not exist yet loads as a fresh aggregate at version 0; two
        commands creating the same stream are kept apart by the stream's primary key.
        ``cached`` is an instance the caller kept from its last save: if the stream is still
        at its version it is returned as it is, and no event is read.
        """
        stream_id = uuid.UUID(str(stream_id))
        if self.looked_up:
            row = _select_stream(stream_id, lock=lock)
        else:
            row, prior = _select_stream_and_command(stream_id, self.command_id, lock=lock)
            self._found(prior)
        aggregate = aggregate_class(stream_id)
        if row is None:
            return aggregate
        stream_type, version, snapshot, snapshot_version, snapshot_schema = row
        if stream_type != aggregate_class.stream_type:
            raise Conflict(
                f"{stream_id} is a {stream_type}, not a {aggregate_class.stream_type}",
                stream_type=stream_type,
            )
        if (
            cached is not None
            and type(cached) is aggregate_class
            and cached.id == stream_id
            and cached.version == version
            and not cached.pending_events()
        ):
            return cached
        if (
            aggregate_class.snapshot_schema is not None
            and snapshot is not None
            and snapshot_schema == aggregate_class.snapshot_schema
        ):
            aggregate.restore_snapshot(json_value(snapshot))
            aggregate.version = snapshot_version
        if aggregate.version < version:  # an up-to-date snapshot needs no query
            aggregate.fold(_select_events(stream_id, after_version=aggregate.version))
        if aggregate.version != version:
            raise ConcurrencyError(
                f"stream {stream_id} is at version {version} but {aggregate.version} "
                "events were folded"
            )
        return aggregate

    def check_command_is_new(self) -> None:
        """:class:`_AlreadyApplied` if the command id is in the command log; read there
        unless a stream's load already did."""
        if not self.looked_up:
            self._found(_select_command(self.command_id))
        elif self.prior is not None:  # found before, and the command went on regardless
            raise _AlreadyApplied(self.prior)

    def _found(self, prior: tuple[str, str, Any] | None) -> None:
        self.looked_up, self.prior = True, prior
        if prior is not None:
            raise _AlreadyApplied(prior)

    def save(self, aggregate: Aggregate) -> list[Recorded]:
        """Append the aggregate's new events and update the read models, in this transaction."""
        pending = aggregate.pending_events()
        if not pending:
            return []
        expected = aggregate.version
        now = timezone.now()
        recorded = [
            Recorded(
                position=None,
                event_id=uuid.uuid4(),
                stream_id=aggregate.id,
                stream_type=aggregate.stream_type,
                version=expected + i + 1,
                event=e,
                recorded_at=now,
                metadata=self.metadata,
            )
            for i, e in enumerate(pending)
        ]
        _append_events(recorded)
        new_version = expected + len(pending)
        snapshot = None
        if aggregate.snapshot_schema is not None:
            snapshot = _json_ready(aggregate.to_snapshot())
        aggregate.mark_saved()
        _write_stream(aggregate, expected, new_version, snapshot, now)
        registry.apply(recorded)
        self.recorded.extend(recorded)
        return recorded


# -- SQL of the hot path ------------------------------------------------------------------
# Every command runs these, so they are written as plain SQL on Django's connection: the
# ORM's query building costs several times the statement itself. Values pass through the
# fields' own adapters, so the same code runs on PostgreSQL and SQLite.


def _stream_query(stream_id: uuid.UUID, *, lock: bool) -> tuple[str, list]:
    sql = (
        "SELECT stream_type, version, snapshot, snapshot_version, snapshot_schema "
        "FROM eventkit_stream WHERE stream_id = %s"
    )
    return locking(sql) if lock else sql, [db_value(Stream, "stream_id", stream_id)]


def _select_stream(stream_id: uuid.UUID, *, lock: bool):
    with command_cursor() as cursor:
        cursor.execute(*_stream_query(stream_id, lock=lock))
        return cursor.fetchone()


def _select_stream_and_command(stream_id: uuid.UUID, command_id: str, *, lock: bool):
    """The stream's row (or None) and the command's record (or None), in one round trip.

    The lock comes first: a repeat of the command that waits for it while the first run
    commits then finds the first run's record (each statement sees what was committed when
    it started), instead of running again on the state the first run left."""
    with command_cursor() as cursor:
        streams, commands = fetch_together(
            cursor, [_stream_query(stream_id, lock=lock), (SELECT_COMMAND, [command_id])]
        )
    return (streams[0] if streams else None), _prior(commands)


def _select_events(stream_id: uuid.UUID, *, after_version: int) -> list[DomainEvent]:
    with command_cursor() as cursor:
        cursor.execute(
            "SELECT event_type, schema_version, data FROM eventkit_event "
            "WHERE stream_id = %s AND version > %s ORDER BY version",
            [db_value(Event, "stream_id", stream_id), after_version],
        )
        rows = cursor.fetchall()
    return [decode_event(t, v, json_value(data)) for t, v, data in rows]


def _append_events(recorded: list[Recorded]) -> None:
    """Write events: pending until commit on PostgreSQL, positioned at once on SQLite."""
    rows, model = [_event_row(r) for r in recorded], PendingEvent
    if not _positions_at_commit():
        first = allocate_positions(len(rows))
        rows = [{"position": p, **row} for p, row in enumerate(rows, start=first)]
        model = Event
    with command_cursor() as cursor:
        insert_rows(cursor, model, rows)


def _positions_at_commit() -> bool:
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


def take_positions_now() -> None:
    """Move this transaction's pending events into the log now instead of at commit."""
    if _positions_at_commit():
        with command_cursor() as cursor:
            cursor.execute(f"SET CONSTRAINTS {POSITION_TRIGGER} IMMEDIATE")
            cursor.execute(f"SET CONSTRAINTS {POSITION_TRIGGER} DEFERRED")


def _event_row(r: Recorded) -> dict[str, Any]:
    """``r``'s row of the event table, without its position."""
    return {
        "event_id": r.event_id,
        "stream_id": r.stream_id,
        "stream_type": r.stream_type,
        "version": r.version,
        "event_type": r.event.event_type,
        "schema_version": r.event.schema_version,
        "data": _json_ready(r.event.to_data()),
        "metadata": r.metadata,
        "recorded_at": r.recorded_at,
    }


def _write_stream(aggregate: Aggregate, expected: int, version: int, snapshot, now) -> None:
    snapshot_fields = []
    if snapshot is not None:
        snapshot_fields = [
            ("snapshot", snapshot),
            ("snapshot_version", version),
            ("snapshot_schema", aggregate.snapshot_schema),
        ]
    elif expected == 0:
        snapshot_fields = [("snapshot_version", 0)]
    fields = [("version", version), ("updated_at", now), *snapshot_fields]
    stream_id = db_value(Stream, "stream_id", aggregate.id)
    with command_cursor() as cursor:
        if expected == 0:
            identity = {"stream_id": aggregate.id, "stream_type": aggregate.stream_type}
            insert_row(cursor, Stream, identity | dict(fields))
            return

        def check(rowcount: int) -> None:
            if rowcount != 1:
                raise ConcurrencyError(f"stream {aggregate.id} moved past version {expected}")

        send(
            cursor,
            f"UPDATE eventkit_stream SET {', '.join(f'{n} = %s' for n, _ in fields)} "
            "WHERE stream_id = %s AND version = %s",
            [*(db_value(Stream, n, v) for n, v in fields), stream_id, expected],
            check,
        )


def allocate_positions(count: int) -> int:
    """Reserve ``count`` consecutive positions and return the first (SQLite's appends; on
    PostgreSQL the commit trigger does this); see the module doc."""
    sql = (
        "UPDATE eventkit_position_counter SET last_position = last_position + %s "
        "WHERE id = 1 RETURNING last_position"
    )
    with command_cursor() as cursor:
        cursor.execute(sql, [count])
        row = cursor.fetchone()
        if row is None:
            # The counter row is created by a migration; a test flush can remove it.
            start = Event.objects.aggregate(m=Max("position"))["m"] or 0
            PositionCounter.objects.create(id=1, last_position=start)
            cursor.execute(sql, [count])
            row = cursor.fetchone()
    return row[0] - count + 1


def lock_appends() -> int:
    """Block every append until this transaction ends; returns the last position.

    Used by projection rebuilds, which must fold a log that does not move under them.
    """
    counter = PositionCounter.objects.select_for_update().filter(pk=1).first()
    if counter is None:
        allocate_positions(0)
        counter = PositionCounter.objects.select_for_update().get(pk=1)
    return counter.last_position


def fingerprint(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, cls=DjangoJSONEncoder, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Outcome:
    value: Any
    replayed: bool = False
    recorded: tuple[Recorded, ...] = ()


def _stored_outcome(value: Any) -> Any:
    """A command's answer as the command log keeps it. An answer of nothing (the order
    service's cancel of an order never created) is JSON's null: SQL's NULL would break the
    column's NOT NULL."""
    outcome = _json_ready({"value": value})["value"]
    return JSON_NULL if outcome is None else outcome


JSON_NULL = Value(None, JSONField())


def _may_run_again(exc: Exception, committing: bool, command_id: str | None) -> bool:
    """Whether a command that lost its connection to PostgreSQL may simply run again: it had
    not sent its ``COMMIT``, so nothing of it was kept; or it had, and its id tells on the
    next run whether that commit went through (the command record commits with it)."""
    return (
        isinstance(exc, OperationalError | InterfaceError)
        and connection.vendor == "postgresql"
        and not no_free_connection(exc)
        and connection_lost(exc)
        and (not committing or command_id is not None)
    )


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, ConcurrencyError):
        return True
    if isinstance(exc, IntegrityError):
        # A unique key another writer took first (a stream's version, a command id): a lost
        # race. Any other broken rule is the command's fault, and retrying cannot mend it.
        state = sqlstate(exc)
        return state == "23505" if state else "UNIQUE constraint failed" in str(exc)
    if isinstance(exc, OperationalError):
        # serialization_failure, deadlock_detected; SQLite: "database is locked"
        return sqlstate(exc) in {"40001", "40P01"} or "locked" in str(exc)
    return False


def _bound_lock_waits() -> None:
    """Have this transaction wait at most ``LOCK_WAIT_MS`` for a row lock (PostgreSQL): sent
    with the command's first statement, so it costs no round trip of its own."""
    if connection.vendor == "postgresql":
        with command_cursor() as cursor:
            send(cursor, f"SET LOCAL lock_timeout = {int(setting('LOCK_WAIT_MS'))}", [])


def execute(
    command: Callable[[Session], T],
    *,
    command_type: str,
    command_id: str | None = None,
    payload: Any = None,
    earlier_payloads: Sequence[Any] = (),
    causation_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Outcome:
    """Run ``command`` in one transaction, retrying lost races, at most once per command id.

    ``command`` receives a :class:`Session`, loads and changes aggregates, saves them and
    returns a JSON-ready value. With a ``command_id`` that value is stored and a repeat of
    the command is answered from it (``Outcome.replayed``) without running it again; the
    same id with a different ``payload`` is a :class:`Conflict`. The id is looked up
    together with the first stream the command loads (one round trip), so ``command`` must
    do nothing but read and write this database before its first ``load``: on a repeat it
    runs that far, what it wrote is rolled back, and if it fails there the log is read
    before the error is raised or retried. ``metadata`` is added to the metadata of every
    event the command appends. ``earlier_payloads`` are this request as an earlier version
    of the command fingerprinted it: a repeat of a command recorded before its payload
    changed is still answered, not refused, until the log has pruned those records.
    """
    metadata = {
        **(metadata or {}),
        "correlation_id": current_correlation_id(),
        "causation_id": causation_id or command_id,
        "command_id": command_id,
        "command_type": command_type,
        "service": getattr(settings, "SERVICE_NAME", None),
    }
    metadata = {k: v for k, v in metadata.items() if v is not None}
    request_fingerprint = fingerprint(payload)
    # what a replay compares with: this request, and (only then) as earlier versions saw it
    accepted = (request_fingerprint, earlier_payloads)
    attempts = setting("APPEND_ATTEMPTS")
    nested = connection.in_atomic_block  # the caller's transaction commits, not ours
    reconnected, attempt = False, 1
    while True:
        session, committing = None, False
        try:
            # batched: the command's writes go out together, with its next read or at the
            # end, instead of one round trip each (eventkit.batching)
            with transaction.atomic(), batched():
                _bound_lock_waits()
                session = Session(metadata, command_id=command_id)
                value = command(session)
                if command_id is not None:
                    session.check_command_is_new()
                    _insert_command(
                        command_id=command_id,
                        command_type=command_type,
                        fingerprint=request_fingerprint,
                        stream_id=session.recorded[0].stream_id if session.recorded else None,
                        outcome=_stored_outcome(value),
                        recorded_at=timezone.now(),
                    )
                if nested:
                    take_positions_now()
                else:
                    committing = True
                    commit_with_queue()  # the last writes go out with COMMIT
            return Outcome(value=value, recorded=tuple(session.recorded))
        except _AlreadyApplied as applied:
            return _replay(command_id, *applied.prior, command_type, accepted)
        except Exception as exc:
            prior = _prior_of_failed(session)
            if prior is not None:  # a repeat that failed before it knew it was one
                return _replay(command_id, *prior, command_type, accepted)
            if lock_wait_over(exc):
                raise StreamBusy(
                    f"{command_type}: what it changes is held by another transaction (a"
                    " console, a stuck client, a projection rebuild); retry later"
                ) from exc
            connected = session is not None  # not a connection the pool could not give
            if (
                connected
                and not reconnected
                and not nested
                and _may_run_again(exc, committing, command_id)
            ):
                # A server that restarted or dropped its clients left the pooled connections
                # dead: the first command to meet one would be a 503 of its own. Running it
                # again is not a lost race: it does not count as an attempt.
                reconnected = True
                logger.warning("%s met a lost connection (%s); once more", command_type, exc)
                forget_dead_connections(exc)
                if not take_a_working_connection():
                    raise
                continue
            if not _is_transient(exc):
                raise
            if attempt == attempts:
                logger.warning("%s gave up after %d attempts: %s", command_type, attempt, exc)
                raise ConcurrencyError(
                    f"{command_type} lost {attempts} races with concurrent writers; retry later"
                ) from exc
            logger.info("%s attempt %d lost a race (%s); retrying", command_type, attempt, exc)
            time.sleep(random.uniform(0, 0.005 * attempt))
            attempt += 1


def _replay(
    command_id: str,
    prior_type: str,
    prior_fingerprint: str,
    prior_outcome: Any,
    command_type: str,
    accepted: tuple[str, Sequence[Any]],
) -> Outcome:
    request_fingerprint, earlier_payloads = accepted
    same_request = prior_fingerprint == request_fingerprint or any(
        prior_fingerprint == fingerprint(p) for p in earlier_payloads
    )
    if prior_type != command_type or not same_request:
        raise Conflict(
            f"command id {command_id} was already used for a different request",
            command_id=command_id,
        )
    logger.info("%s %s already applied; answering from the command log", command_type, command_id)
    return Outcome(value=prior_outcome, replayed=True)


SELECT_COMMAND = (
    "SELECT command_type, fingerprint, outcome FROM eventkit_command WHERE command_id = %s"
)


def _select_command(command_id: str) -> tuple[str, str, Any] | None:
    with command_cursor() as cursor:
        cursor.execute(SELECT_COMMAND, [command_id])
        return _prior(cursor.fetchall())


def _prior_of_failed(session: Session | None) -> tuple[str, str, Any] | None:
    """The command's record, for a command that failed: the one its session found, or, if
    it failed before its id was looked up (in what it did before its first load, or in a
    command that loads no stream), the one in the log now. Its transaction is over."""
    if session is None or session.command_id is None:
        return None
    if session.looked_up:
        return session.prior
    try:
        return _select_command(session.command_id)
    except DatabaseError:  # the connection itself failed: the original error says more
        return None


def _prior(rows) -> tuple[str, str, Any] | None:
    """A command record's type, fingerprint and outcome, from its SELECT_COMMAND rows."""
    if not rows:
        return None
    command_type, prior_fingerprint, outcome = rows[0]
    return command_type, prior_fingerprint, json_value(outcome)


class _AlreadyApplied(Exception):
    """The command's id is in the command log: it is answered from there, and the
    transaction that found it rolls back. Should a command catch it and go on, its session
    remembers the record, and the command is answered from it all the same."""

    def __init__(self, prior: tuple[str, str, Any]):
        super().__init__("command already applied")
        self.prior = prior


def _insert_command(**fields) -> None:
    with command_cursor() as cursor:
        insert_row(cursor, CommandRecord, fields)


def iter_recorded(
    *, after: int = 0, until: int | None = None, batch_size: int = 2000
) -> Iterator[list[Recorded]]:
    """Every event after ``after`` in position order, in batches (keyset paging)."""
    sql = f"SELECT {', '.join(EVENT_COLUMNS)} FROM eventkit_event WHERE position > %s"
    if until is not None:
        sql += " AND position <= %s"
    sql += " ORDER BY position LIMIT %s"
    while True:
        with connection.cursor() as cursor:
            params = [after, until, batch_size] if until is not None else [after, batch_size]
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if not rows:
            return
        yield [_recorded_from_values(row) for row in rows]
        after = rows[-1][0]


def _recorded_from_values(row) -> Recorded:
    position, event_id, stream_id, stream_type, version, event_type, schema, data, meta, at = row
    return Recorded(
        position=position,
        event_id=event_id if isinstance(event_id, uuid.UUID) else uuid.UUID(event_id),
        stream_id=stream_id if isinstance(stream_id, uuid.UUID) else uuid.UUID(stream_id),
        stream_type=stream_type,
        version=version,
        event=decode_event(event_type, schema, json_value(data)),
        recorded_at=aware_datetime(at),
        metadata=json_value(meta) or {},
    )


def head_position() -> int:
    return Event.objects.aggregate(m=Max("position"))["m"] or 0
