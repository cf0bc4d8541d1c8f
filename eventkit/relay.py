"""The relay: publish this service's event log to a Redis stream, at least once.

The event table *is* the outbox: an event is committed with the state change it records,
and the relay tails the table by position and copies what it has not published yet to
Redis with ``XADD``. Its cursor is a database row advanced only after Redis accepted the
batch (and at most every ``cursor_seconds``, since each write is a commit), so a crash
republishes what came after the last write (consumers ignore positions they have applied)
and nothing committed is ever lost, whatever Redis or the relay go through.

It wakes within milliseconds of a commit on PostgreSQL (``LISTEN``; every append sends a
``NOTIFY`` that is delivered at commit) and polls as a fallback and on SQLite. Streams are
trimmed to about ``maxlen`` entries so Redis memory stays bounded; a consumer that falls
further behind than that reads the rest from the source's HTTP feed.
"""

import contextlib
import logging
import threading
import time
from datetime import timedelta

import psycopg
import redis
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from eventkit import wire
from eventkit.conf import setting
from eventkit.models import CommandRecord, RelayCursor
from eventkit.records import EVENT_COLUMNS
from eventkit.rows import db_value
from eventkit.store import NOTIFY_CHANNEL
from servicekit.dberrors import refuses_writes

logger = logging.getLogger(__name__)

# The relay runs beside every event-sourced service, so it also keeps the idempotency log
# from growing for ever: every hour, in pieces of PRUNE_CHUNK rows between its batches (an
# hour of orders is hundreds of thousands of rows, and one DELETE of them all held
# publishing back for as long), each waiting at most PRUNE_LOCK_WAIT_MS for a lock.
PRUNE_EVERY_SECONDS = 3600
PRUNE_CHUNK = 5000
PRUNE_LOCK_WAIT_MS = 1000

# The next events after a position, up to a batch, and the event at that position, whose id
# the first of them carries as the one before it (``previous_id``, eventkit.wire). The upper
# bound is exact, since positions have no holes (ADR 0001), and it is what makes PostgreSQL
# read them through the primary key whatever its statistics say: with ``position > %s``
# alone, a log never analysed (autovacuum off, or not run yet) is planned as a scan and sort
# of the whole table, on every commit, growing with every event.
NEXT_EVENTS_SQL = (
    f"SELECT {', '.join(EVENT_COLUMNS)} FROM eventkit_event "
    "WHERE position >= %s AND position <= %s ORDER BY position"
)


def _greatest() -> str:
    return "GREATEST" if connection.vendor == "postgresql" else "MAX"


# The database out of reach for now, through Django or through the LISTEN connection.
CONNECTION_FAILURES = (OperationalError, InterfaceError, psycopg.OperationalError)


def connect_apart() -> psycopg.Connection:
    """A psycopg connection of its own to Django's PostgreSQL database, in autocommit: it
    sees only what is committed and is outside Django's transactions and pool."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)  # Django's cursor and adapter set-up are its own
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=True)


class Wakeup:
    """Wait for the next commit: LISTEN on PostgreSQL, a plain timeout elsewhere."""

    def __init__(self):
        self.conn = None
        if connection.vendor == "postgresql":
            self.conn = connect_apart()
            self.conn.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """True if a commit woke us, False after the timeout (or without LISTEN)."""
        if self.conn is None:
            stop.wait(timeout)
            return False
        for _ in self.conn.notifies(timeout=timeout, stop_after=1):
            return True
        return False

    def drain(self) -> None:
        """Forget the commits heard so far, since the next read covers them: else each one
        heard while lingering wakes the relay again, for a read that finds nothing new."""
        if self.conn is not None:
            for _ in self.conn.notifies(timeout=0):
                pass

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class Relay:
    def __init__(
        self,
        *,
        client: redis.Redis,
        stream: str,
        source: str,
        batch_size: int = 500,
        maxlen: int = 100_000,
        linger_ms: int = 0,
        cursor_seconds: float = 0.0,
    ):
        self.client = client
        self.stream = stream
        self.source = source
        self.batch_size = batch_size
        self.maxlen = maxlen
        self.cursor_name = f"redis:{stream}"
        # Woken by a commit, wait this long first: the commits that land meanwhile go out in
        # the same XADD pipeline and cursor update instead of one round each.
        self.linger = linger_ms / 1000
        self._position: int | None = None  # how far we have published
        self._saved: int | None = None  # the cursor as we last wrote it
        # Writing the cursor is a commit. Written at most every cursor_seconds, a crash
        # publishes up to that much again, which consumers skip by position.
        self.cursor_seconds = cursor_seconds
        self._next_save = 0.0

    def position(self) -> int:
        cursor, _ = RelayCursor.objects.get_or_create(name=self.cursor_name)
        return cursor.position

    def publish_once(self) -> int:
        """Publish the next batch after the cursor; returns how many events went out."""
        if self._position is None:
            self._position = self._saved = self.position()
        rows = self._rows_after(self._position)
        if not rows:
            self.save_cursor(when_due=True)
            return 0
        pipe = self.client.pipeline(transaction=False)
        for fields in rows:
            pipe.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)
        pipe.execute()
        self._position = int(rows[-1]["position"])
        self.save_cursor(when_due=True)
        logger.debug("published %d events up to %d to %s", len(rows), self._position, self.stream)
        return len(rows)

    def save_cursor(self, *, when_due: bool = False) -> None:
        """Write how far we have published (with ``when_due``, only every cursor_seconds)."""
        if self._position is None or self._position == self._saved:
            return
        if when_due and time.monotonic() < self._next_save:
            return
        # GREATEST: a second relay of the same service (during a deploy, say) publishes the
        # same events again, which consumers ignore, but never moves the cursor backwards.
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE eventkit_relay_cursor SET position = {_greatest()}(position, %s), "
                "updated_at = %s WHERE name = %s",
                [
                    self._position,
                    db_value(RelayCursor, "updated_at", timezone.now()),
                    self.cursor_name,
                ],
            )
        self._saved = self._position
        self._next_save = time.monotonic() + self.cursor_seconds

    def _rows_after(self, after: int) -> list[dict[str, str]]:
        # Plain SQL: the relay runs this on every commit of its service.
        with connection.cursor() as cursor:
            cursor.execute(NEXT_EVENTS_SQL, [after, after + self.batch_size])
            rows = cursor.fetchall()
        # The id before each, as the log holds it now: not remembered from the last batch,
        # since a log restored under a running relay would then be chained to the old one.
        previous = ""
        messages = []
        for row in rows:
            position, event_id = row[0], row[1]
            if position > after:
                messages.append(wire.fields_from_values(row, self.source, previous))
            previous = wire.uuid_text(event_id)
        return messages

    def run(self, stop: threading.Event, *, poll_seconds: float = 1.0) -> None:
        wakeup: Wakeup | None = None
        backoff = 0.1
        next_prune = 0.0
        started = False
        try:
            while not stop.is_set():
                try:
                    if not started:  # inside the retries: the database may not answer yet
                        position = self.position()
                        logger.info("relay %s -> %s from %d", self.source, self.stream, position)
                        started = True
                    wakeup = wakeup or Wakeup()
                    if time.monotonic() >= next_prune:
                        next_prune = time.monotonic() + _prune_some()
                    published = self.publish_once()
                    backoff = 0.1
                    woken = published < self.batch_size and wakeup.wait(poll_seconds, stop)
                    if woken and self.linger:
                        stop.wait(self.linger)
                        wakeup.drain()
                except redis.RedisError as exc:
                    logger.warning("Redis unavailable (%s); retrying in %.1fs", exc, backoff)
                except CONNECTION_FAILURES as exc:
                    # A restart, a failover, a dropped connection: both connections are
                    # opened again. What was published and not yet in the cursor is
                    # published again, which consumers skip by position.
                    logger.warning("database unavailable (%s); retrying in %.1fs", exc, backoff)
                    connection.close_if_unusable_or_obsolete()
                    if wakeup is not None:
                        wakeup.close()
                        wakeup = None
                except Exception as exc:
                    # Anything else (a table not migrated yet, a fault of ours) is logged
                    # and tried again: a relay that ended would leave the log unpublished
                    # until someone noticed. A database refusing writes for now (its cursor
                    # cannot move) says so in a line: a traceback per retry says no more.
                    if refuses_writes(exc):
                        logger.warning(
                            "the database refuses writes (%s); retrying in %.1fs", exc, backoff
                        )
                    else:
                        logger.exception("publishing failed; retrying in %.1fs", backoff)
                    connection.close_if_unusable_or_obsolete()
                    if wakeup is not None:
                        wakeup.close()
                        wakeup = None
                else:
                    continue
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        finally:
            if wakeup is not None:
                wakeup.close()
            with contextlib.suppress(DatabaseError):
                self.save_cursor()  # on the way out; if it fails, a restart republishes


def stale_commands(days: float | None = None):
    """Command outcomes older than ``days`` (default ``EVENTKIT["COMMAND_RETENTION_DAYS"]``)."""
    days = setting("COMMAND_RETENTION_DAYS") if days is None else days
    return CommandRecord.objects.filter(recorded_at__lt=timezone.now() - timedelta(days=days))


def prune_command_log(days: float | None = None, *, limit: int | None = None) -> int:
    """Delete command outcomes past the retention period, at most ``limit`` of them;
    returns how many."""
    stale = stale_commands(days)
    if limit is not None:
        stale = CommandRecord.objects.filter(pk__in=stale.values("pk")[:limit])
    deleted, _ = stale.delete()
    if deleted:
        logger.info("pruned %d command outcomes past their retention", deleted)
    return deleted


def _prune_some() -> float:
    """Prune a piece of the command log; returns the seconds until the next piece. A prune
    that fails (a lock held on the log, the database refusing writes) is only logged: it
    must not hold the events back, and the next hour tries again."""
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = {PRUNE_LOCK_WAIT_MS}")
            deleted = prune_command_log(limit=PRUNE_CHUNK)
    except DatabaseError as exc:
        logger.warning("could not prune the command log (%s); trying again in an hour", exc)
        return PRUNE_EVERY_SECONDS
    return 0.0 if deleted == PRUNE_CHUNK else PRUNE_EVERY_SECONDS
