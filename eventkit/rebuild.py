"""Rebuilding read models from the event log, and checking them against it.

A rebuild is "clear, then fold": inside one transaction it blocks appends, empties the
projection's tables, feeds every event through the projection's handlers and commits.
Readers keep seeing the old rows until the commit (MVCC), so nobody reads a half-built
table; writers wait for the commit, so no event slips between the fold and the swap.

``check`` copies the live rows into temporary tables first, does the same fold, lets the
database compare the two (``eventkit.drift``), reports the differences and rolls back: it
changes nothing, and holds only the drifting rows it reports in memory, however large the
tables. A plain rebuild does not compare (that would copy every table); run ``--check``
first to see what it would change.
"""

import logging
import queue
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction

from eventkit.consumer import database_failing
from eventkit.domain import UnknownEventType
from eventkit.drift import Drift, compare, snapshot
from eventkit.models import DeadLetter
from eventkit.projections import Projection, registry
from eventkit.store import iter_recorded, lock_appends

logger = logging.getLogger(__name__)


@dataclass
class RebuildReport:
    events: int
    last_position: int
    drift: list[Drift]
    taken_again: int = 0  # events a consumer had set aside as dead letters that apply now

    @property
    def clean(self) -> bool:
        return not any(self.drift)


class RebuildRunning(Exception):
    """Another rebuild or ``--check`` of the same read models holds them."""


# The first key of the advisory locks that keep rebuilds of one source's read models apart.
_ADVISORY_NAMESPACE = 0x65766B  # "evk"


def _one_at_a_time(source: str | None) -> None:
    """Refuse to fold beside another rebuild or ``--check`` of the same read models. The
    second waited for the first's locks and then folded everything again, holding writers
    (or the marketing worker) back twice as long, for nothing (found from outside). The
    lock is the transaction's: a rebuild killed outright lets go of it with its connection."""
    if connection.vendor != "postgresql":
        return  # SQLite writers hold the whole database anyway
    key = zlib.crc32(f"rebuild:{source or 'local'}".encode()) - 2**31  # a signed int4
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [_ADVISORY_NAMESPACE, key])
        if not cursor.fetchone()[0]:
            raise RebuildRunning(
                "another rebuild_projections (or --check) of these read models is running;"
                " nothing changed: wait for it to end"
            )


def _hold_off_writers(projections: Sequence[Projection]) -> None:
    """Make commands that write these tables wait until the rebuild commits (each at most
    ``EVENTKIT["LOCK_WAIT_MS"]``, then answered 503 ``stream_busy``).

    Taken before the appends' lock, in the order a command takes the two (its read-model
    rows, then the position counter at its commit): a command caught between them finishes
    first, where the other order deadlocked, and one that comes later waits at its first
    write, where it used to find its row deleted under it (MissingRow, a 500). Readers are
    not held: EXCLUSIVE lets plain reads through, so they see the old rows until the commit.
    SQLite writers hold the whole database anyway."""
    if connection.vendor != "postgresql":
        return
    tables = sorted({m._meta.db_table for p in projections for m in p.models})
    if tables:
        names = ", ".join(connection.ops.quote_name(t) for t in tables)
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {names} IN EXCLUSIVE MODE")


# Events folded at a time. Another service's events come from its feed in pages of 1,000,
# joined into batches this large: marketing's rows (a customer's, a product's) are touched
# by most pages, and written once per batch (6,550 against 1,838 events/s with single
# pages). A service's own read models are mostly new rows, which bigger batches did not
# make faster (bench/run_all.py, docs/performance.md).
LOCAL_BATCH, REMOTE_BATCH = 2_000, 10_000


def rebuild(
    projections: Sequence[Projection],
    *,
    check: bool = False,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> RebuildReport:
    """Fold the whole log into ``projections``; with ``check``, only report the drift.

    Projections of this service's own events fold its event table; projections of another
    service's events (``source="order-service"``) fold that service's HTTP feed, the source
    of truth, and leave the consumer's checkpoint where the fold ended. That checkpoint is
    the source's, shared by all its projections, so they are rebuilt together or not at all.
    """
    sources = {p.source for p in projections}
    if len(sources) > 1:
        raise ValueError("rebuild projections of one source at a time")
    (source,) = sources
    left_out = [
        p.name
        for p in registry.all()
        if source is not None and p.source == source and p.models and p not in projections
    ]
    if left_out and not check:
        raise ValueError(
            f"the projections of {source} share its checkpoint: rebuild "
            f"{', '.join(left_out)} with them (or leave out --projection)"
        )
    if batch_size is None:
        batch_size = LOCAL_BATCH if source is None else REMOTE_BATCH
    events, taken_again = 0, 0
    with transaction.atomic():
        _one_at_a_time(source)
        if source is None:
            _hold_off_writers(projections)
            last = lock_appends()
            pieces = ((page, False) for page in iter_recorded(until=last, batch_size=batch_size))
        else:
            feed = _feed(source)
            checkpoint, last, pieces = _remote(feed, check=check, batch_size=batch_size)
        if on_start:
            on_start(last)
        # Copying every row to compare costs as much as the fold: only --check does.
        if check:
            for model in _tables(projections):
                snapshot(model)
        for p in projections:
            p.clear()
        for batch, dead_letter in _in_batches(pieces, batch_size):
            if not dead_letter:
                _fold(projections, batch, remote=source is not None)
            elif _applies_again(projections, batch[0]):
                # no longer set aside (under --check, rolled back with the rest)
                DeadLetter.objects.filter(source=source, position=batch[0].position).delete()
                taken_again += 1
            else:
                continue
            events += len(batch)
            if progress:
                progress(len(batch))
        drift = []
        if check:
            drift = [compare(model) for model in _tables(projections)]
            transaction.set_rollback(True)
        elif source is not None:
            checkpoint.position = checkpoint.event_position = last
            checkpoint.event_id = feed.event_id_at(last)
            checkpoint.held_since = None  # the log it folded is the one followed from now on
            checkpoint.save(
                update_fields=["position", "event_id", "event_position", "held_since", "updated_at"]
            )
    return RebuildReport(events=events, last_position=last, drift=drift, taken_again=taken_again)


class FoldFailed(Exception):
    """A handler failed on events of the log: nothing was changed."""


def _fold(projections: Sequence[Projection], batch: list, *, remote: bool) -> None:
    try:
        for p in projections:
            p.apply_batch(batch)
    except Exception as exc:
        if database_failing(exc):
            raise  # the database's failure, not the events': said as such
        hint = (
            ". An event it depends on may be set aside as a dead letter (the admin's Dead letters)"
            if remote
            else ""
        )
        raise FoldFailed(
            f"a handler failed on the events at positions {batch[0].position} to "
            f"{batch[-1].position} ({type(exc).__name__}: {exc}); nothing changed{hint}"
        ) from exc


def _applies_again(projections: Sequence[Projection], event) -> bool:
    """Fold an event a consumer set aside as a dead letter (as it came from the feed), if it
    applies now.

    A fresh fold has none of the live tables' state, which is what some events failed on (an
    order created twice, after its checkpoint was rewound by hand); skipping those would fail
    the events that depend on them. One that still fails, or still cannot be decoded, is
    skipped, as the consumer did."""
    try:
        recorded = event.recorded()
        with transaction.atomic():  # a savepoint: a failure undoes this event only
            for p in projections:
                p.apply_batch([recorded])
        return True
    except Exception as exc:
        if database_failing(exc):
            raise
        logger.info(
            "%s at position %d still fails (%r); left set aside",
            event.event_type,
            event.position,
            exc,
        )
        return False


def _in_batches(pieces, size: int):
    """Consecutive pieces joined into batches of at least ``size`` events, a dead letter's
    event left alone. A batch handler folds its batch in memory and writes each row it
    touched once, so a rebuild's statements go with its batches, not with the feed's pages
    of 1,000: marketing's rebuild wrote each customer's row again for every page (found
    from outside: 1,200 events/s over 200,000 events, slowing as the transaction grew)."""
    batch: list = []
    for piece, dead_letter in pieces:
        if dead_letter:
            if batch:
                yield batch, False
                batch = []
            yield piece, True
            continue
        batch += piece
        if len(batch) >= size:
            yield batch, False
            batch = []
    if batch:
        yield batch, False


def _read_ahead(pages, depth: int = 2):
    """``pages``, read in a thread up to ``depth`` ahead of the caller: the source serves
    the next pages while the rebuild folds this one. The thread only reads the feed; what
    it raised is raised here, in order."""
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    end, stop = object(), threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():  # a caller that failed takes no more
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for page in pages:
                if not offer((page, None)):
                    return
            offer((end, None))
        except BaseException as exc:
            offer((end, exc))

    threading.Thread(target=read, name="rebuild-feed", daemon=True).start()
    try:
        while True:
            page, error = ahead.get()
            if page is end:
                if error is not None:
                    raise error
                return
            yield page
    finally:
        stop.set()


def _tables(projections: Sequence[Projection]) -> list:
    return [model for p in projections for model in p.models]


def _feed(source: str):
    from eventkit.conf import setting
    from eventkit.sources import FeedReader

    config = (setting("CONSUMER") or {}).get("SOURCES", {}).get(source)
    if config is None:
        raise ValueError(f"no URL for source {source!r} in EVENTKIT['CONSUMER']['SOURCES']")
    return FeedReader(source, config["url"])


def _remote(feed, *, check: bool, batch_size: int):
    """Lock the consumer out, and read the source's feed up to where we fold."""
    from eventkit.models import Checkpoint

    source = feed.source
    Checkpoint.objects.get_or_create(source=source)
    checkpoint = Checkpoint.objects.select_for_update().get(pk=source)
    # --check compares with the live tables, which hold everything up to the checkpoint.
    last = checkpoint.position if check else feed.page(0, limit=1)[1]
    # A dead letter names its event by id as well as position: a log reset or restored since
    # may hold another event at that position, which is to be applied like any other.
    set_aside = dict(DeadLetter.objects.filter(source=source).values_list("position", "event_id"))

    def pieces():
        """Pages of events to fold, each with False; a dead letter's event alone and not
        decoded yet (it may have been set aside for failing to decode), with True."""
        for page in _read_ahead(feed.read(0, until=last, limit=min(batch_size, 1000))):
            recorded = []
            for event in page:
                letter = set_aside.get(event.position)
                if letter == event.event_id:
                    if recorded:
                        yield recorded, False
                        recorded = []
                    yield [event], True  # tried again, on its own, decoding included
                    continue
                if letter is not None:
                    logger.warning(
                        "%s: the dead letter at position %d names event %s, but the log "
                        "holds %s there now (it was reset or restored): applying it",
                        source,
                        event.position,
                        letter or "(none)",
                        event.event_id,
                    )
                try:
                    recorded.append(event.recorded())
                except UnknownEventType:
                    continue  # a type this service does not consume
                except Exception as exc:  # a payload its type cannot take, say
                    raise FoldFailed(
                        f"the event at position {event.position} cannot be read "
                        f"({type(exc).__name__}: {exc}); nothing changed"
                    ) from exc
            yield recorded, False

    return checkpoint, last, pieces()
