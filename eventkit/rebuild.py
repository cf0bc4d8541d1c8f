"""Rebuilding read models from the event log, and checking them against it.

On PostgreSQL a rebuild folds *beside* the live tables: into shadow tables of the same
names that only its connection sees (``eventkit.shadow``), in rounds while the writers go
on (the commands that append to this service's log, or the consumer of another's), each
round catching up with what was appended during the one before. It notes which live rows
differ from the fold, and fills in the rows they lack (a service's own read models only)
in one transaction while the writers go on; then, in one transaction that holds them
off, it folds the last few events and writes into the live tables the noted rows that still
differ, with the consumer's checkpoint if it has one. Readers see the old rows until that
commit (MVCC), and writers wait only for it: 0.01 to 0.04 s for 500,000 orders that match
the log, where folding in place held them for the whole fold (40 s).

``check`` folds into shadow tables inside one snapshot of the log and the live tables, and
lets the database compare the two (``eventkit.drift``): it holds nobody, changes nothing,
and keeps in memory only the drifting rows it reports, however large the tables.

On SQLite a rebuild is "clear, then fold" in one transaction that holds the writers off
throughout, and ``check`` copies the live rows into temporary tables first, folds into the
emptied ones, compares and rolls back.
"""

import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from eventkit import shadow, snapshots
from eventkit.conf import setting
from eventkit.consumer import database_failing
from eventkit.domain import UnknownEventType
from eventkit.drift import Drift, compare, snapshot
from eventkit.models import Checkpoint, DeadLetter
from eventkit.projections import Projection, registry
from eventkit.sources import FeedReader
from eventkit.store import head_position, iter_recorded, lock_appends
from servicekit.dberrors import lock_wait_over

logger = logging.getLogger(__name__)


@dataclass
class RebuildReport:
    events: int
    last_position: int
    drift: list[Drift]
    taken_again: int = 0  # events a consumer had set aside as dead letters that apply now
    filled_in: int = 0  # missing rows a rebuild beside the live tables wrote, writers going on
    rewritten: int = 0  # rows a rebuild beside the live tables wrote, holding the writers off
    writers_held: float | None = None  # seconds it held the writers off, if it folded beside

    @property
    def clean(self) -> bool:
        return not any(self.drift)


class RebuildHeldUp(Exception):
    """Another transaction held what the rebuild's last round must lock, every time."""

    filled_in = 0  # rows the rebuild had filled in before (set by it)

    def __str__(self) -> str:
        return (
            f"another transaction held the read models or the log's end through"
            f" {HOLD_ATTEMPTS} tries of {HOLD_WAIT_MS} ms (a console, a stuck client, a"
            f" VACUUM FULL?); {shadow.what_changed(self.filled_in)}: end it and run this again"
        )


class RebuildRunning(Exception):
    """Another rebuild of the same read models is running."""


# The first key of the advisory locks that keep rebuilds of one source's read models apart.
_ADVISORY_NAMESPACE = 0x65766B  # "evk"


@contextmanager
def _one_at_a_time(source: str | None) -> Iterator[None]:
    """Refuse to rebuild beside another rebuild of the same read models. The second waited
    for the first's locks and then folded everything again, holding writers (or the
    marketing worker) back twice as long, for nothing (found from outside). The lock is the
    session's, as a rebuild spans transactions: one killed outright lets go of it with its
    connection."""
    if connection.vendor != "postgresql":
        yield  # SQLite writers hold the whole database anyway
        return
    key = zlib.crc32(f"rebuild:{source or 'local'}".encode()) - 2**31  # a signed int4
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_ADVISORY_NAMESPACE, key])
        if not cursor.fetchone()[0]:
            raise RebuildRunning(
                "another rebuild_projections of these read models is running;"
                " nothing changed: wait for it to end"
            )
    try:
        yield
    finally:
        shadow.let_go("SELECT pg_advisory_unlock(%s, %s)", params=[_ADVISORY_NAMESPACE, key])


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
    # named with their schema: a rebuild beside them has shadows of the same names
    tables = sorted({shadow.live_name(m) for p in projections for m in p.models})
    if tables:
        names = ", ".join(tables)
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
    source = _source_of(projections, check=check)
    if batch_size is None:
        batch_size = LOCAL_BATCH if source is None else REMOTE_BATCH
    fold = _Fold(projections, source and _feed(source), batch_size, progress)
    if not shadow.supported(_tables(projections)):
        return _rebuild_in_place(fold, check=check, on_start=on_start)
    if check:
        return _check_beside(fold, on_start)
    return _rebuild_beside(fold, on_start)


def _source_of(projections: Sequence[Projection], *, check: bool) -> str | None:
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
    return source


@dataclass
class _Fold:
    """What a rebuild folds (this service's event table, or another's feed), and into
    what; counts what it folded."""

    projections: Sequence[Projection]
    feed: FeedReader | None  # None: this service's own events
    batch_size: int
    progress: Callable[[int], None] | None
    events: int = 0
    taken_again: int = 0  # dead letters whose events apply now
    filled_in: int = 0  # rows the live tables lacked, inserted while the writers went on
    # The last event read from the feed, (position, id): the checkpoint names it, which
    # would otherwise be one more call to the feed while the worker is held off.
    last_read: tuple[int, str] = (0, "")
    left_aside: list[int] = field(default_factory=list)  # positions of those that still fail

    @property
    def source(self) -> str | None:
        return self.feed and self.feed.source

    @property
    def names(self) -> str:
        return ", ".join(p.name for p in self.projections)

    def head(self) -> int:
        """The last position of the log, everything up to which can be read."""
        return head_position() if self.feed is None else self.feed.page(0, limit=1)[1]

    def through(self, *, after: int, until: int) -> None:
        """Fold the events after ``after`` up to ``until``."""
        if self.feed is None:
            pages = iter_recorded(after=after, until=until, batch_size=self.batch_size)
            pieces = ((page, False) for page in pages)
        else:
            pieces = _feed_pieces(
                self.feed, after=after, until=until, batch=self.batch_size, read=self._read
            )
        for batch, dead_letter in _in_batches(pieces, self.batch_size):
            if not dead_letter:
                _fold(self.projections, batch, remote=self.feed is not None)
            elif _applies_again(self.projections, batch[0]):
                self.taken_again += 1
            else:
                self.left_aside.append(batch[0].position)
                continue
            self.events += len(batch)
            if self.progress:
                self.progress(len(batch))

    def _read(self, event) -> None:
        self.last_read = (event.position, event.event_id)

    def hold_off_writers(self, *, wait_ms: int | None = None):
        """Hold off whatever writes the live tables until this transaction ends, and return
        the last position of the log, which then no longer moves for them: the commands
        that append to this service's log, or the consumer of another's (its checkpoint
        moves with its rows). Each lock is waited for at most ``wait_ms`` (PostgreSQL's
        ``lock_timeout``: a lock not available ends the transaction)."""
        if wait_ms is not None and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = {int(wait_ms)}")
        if self.feed is None:
            _hold_off_writers(self.projections)
            return lock_appends()
        Checkpoint.objects.get_or_create(source=self.source)
        Checkpoint.objects.select_for_update().get(pk=self.source)
        return self.head()

    def settle(self, last: int) -> None:
        """What a rebuild that folded up to ``last`` commits besides the rows: of the dead
        letters up to there, only those whose events still fail stay set aside (the fold
        applied the others, the consumer's dead letters of a log reset since, or of events
        the consumer set aside while the fold went on, included), and the consumer follows
        the log from where the fold ended."""
        if self.feed is not None:
            DeadLetter.objects.filter(source=self.source, position__lte=last).exclude(
                position__in=self.left_aside
            ).delete()
            Checkpoint.objects.filter(pk=self.source).update(
                position=last,
                event_position=last,
                event_id=self._event_id_at(last),
                held_since=None,  # the log it folded is the one followed from now on
                updated_at=timezone.now(),
            )

    def _event_id_at(self, position: int) -> str:
        read_at, event_id = self.last_read
        return event_id if read_at == position else self.feed.event_id_at(position)

    def report(self, last: int, drift=(), **held) -> RebuildReport:
        return RebuildReport(
            events=self.events,
            last_position=last,
            drift=list(drift),
            taken_again=self.taken_again,
            filled_in=self.filled_in,
            **held,
        )


# Rounds folded while the writers go on, each catching up with what was appended during
# the one before, until one is this short (in events) or there have been this many: the
# last round, which holds the writers off, then folds about as few.
SHORT_ROUND, MOST_ROUNDS = 1_000, 5

# How long the last round waits for the writers' locks, how often it tries, and how long
# it lets them through between tries. While it waits, every command queues behind its
# request: one transaction that held a single row (a console's, a stuck client's) stalled
# every order for 14 s, and compensated some (found from outside); tries close together
# let a command through only between them, and an order, which makes two, took 2 s. A
# command's own lock waits (LOCK_WAIT_MS, 3 s) outlast these.
HOLD_WAIT_MS, HOLD_ATTEMPTS, HOLD_PAUSE = 300, 10, 0.7


def _rebuild_beside(fold: _Fold, on_start) -> RebuildReport:
    """Fold into shadow tables while the writers go on, then hold them off only to fold
    what they appended meanwhile and to write the rows that differ (``eventkit.shadow``).

    The order service's 200,000 events took 17 s to fold in place, and every order placed
    meanwhile waited, was turned away as busy, or was compensated at its saga's deadline;
    marketing's worker stood for 30 s (found from outside). Positions are gap-free and
    visible in order (``eventkit.store``), so the last one says everything up to it can be
    read."""
    tables = _tables(fold.projections)
    with _one_at_a_time(fold.source), shadow.shadowing(tables):
        last = 0
        for round_ in range(MOST_ROUNDS):
            told = on_start if round_ == 0 else None
            before, last = last, _catch_up(fold, tables, after=last, on_head=told)
            if last - before < SHORT_ROUND:
                break
        with transaction.atomic():
            shadow.ensure_in_place(tables)
            for model in tables:
                shadow.note_differences(model)
        try:
            final, rewritten, held = _fill_in_and_swap(fold, tables, after=last)
        except BaseException as exc:
            if fold.filled_in:
                exc.filled_in = fold.filled_in  # for what is said of it (shadow.what_changed)
                logger.warning(
                    "rebuild of %s stopped after filling in %d rows the live tables lacked:"
                    " they hold the events folded before it stopped; run it again",
                    fold.names,
                    fold.filled_in,
                )
            raise
    logger.info(
        "rebuilt %s from %d events: %d missing rows filled in while the writers went on; "
        "writers held off %.3f s to fold the last events and rewrite %d rows",
        fold.names,
        fold.events,
        fold.filled_in,
        held,
        rewritten,
    )
    return fold.report(final, rewritten=rewritten, writers_held=held)


def _fill_in_and_swap(fold: _Fold, tables: list, *, after: int) -> tuple[int, int, float]:
    """Fill in the rows the live tables lack, then hold the writers off to fold the last
    events and write the rows that still differ; returns the position folded up to, the
    rows written holding the writers off, and for how long they were held."""
    last = after
    if _fill_in(fold, tables):
        last = _catch_up(fold, tables, after=last)  # the writers went on meanwhile
    for attempt in range(1, HOLD_ATTEMPTS + 1):
        started = time.monotonic()
        try:
            with transaction.atomic():
                shadow.ensure_in_place(tables)
                final = fold.hold_off_writers(wait_ms=HOLD_WAIT_MS)
                fold.through(after=last, until=final)
                rewritten = sum(shadow.apply_difference(model) for model in tables)
                fold.settle(final)
            break
        except OperationalError as exc:
            if not lock_wait_over(exc):
                raise
            logger.warning(
                "rebuild of %s: what it writes is held by another transaction (try %d"
                " of %d); folding on meanwhile",
                fold.names,
                attempt,
                HOLD_ATTEMPTS,
            )
            if attempt == HOLD_ATTEMPTS:
                raise RebuildHeldUp() from exc
            time.sleep(HOLD_PAUSE)  # the writers' turn: a backoff, not a wait for news
        last = _catch_up(fold, tables, after=last)  # the writers went on meanwhile
    return final, rewritten, time.monotonic() - started


def _fill_in(fold: _Fold, tables: list) -> int:
    """Insert the rows the live tables lack, as folded, while the writers go on
    (``shadow.fill_in``): this service's own read models only. Returns the rows inserted.

    All the tables in one transaction, so that the rows of one aggregate appear together:
    commands decide on more than one table. Filled in one after another, a product's row
    was back before its reservations, and a reserve sent again for an order that held
    stock took it twice, for good (the log then failed to fold); sagas were back before
    their steps, and the resumer failed on them (found from outside)."""
    if fold.feed is not None:
        return 0
    with transaction.atomic():
        shadow.ensure_in_place(tables)
        filled = sum(shadow.fill_in(model) for model in tables)
    fold.filled_in = filled  # once committed: what a rebuild that stops says it changed
    return filled


def _catch_up(fold: _Fold, tables: list, *, after: int, on_head=None) -> int:
    """Fold into the shadows, while the writers go on, what the log holds after ``after``;
    returns the position folded up to (told first to ``on_head``)."""
    with transaction.atomic():
        shadow.ensure_in_place(tables)
        head = fold.head()
        if on_head:
            on_head(head)
        fold.through(after=after, until=head)
    return head


def _check_beside(fold: _Fold, on_start) -> RebuildReport:
    """Fold into shadow tables inside one snapshot of the log and the live tables, and let
    the database compare: the live tables hold exactly the events the snapshot shows (a
    command writes its events and its rows in one transaction, a consumer its rows and its
    checkpoint), so nobody is held off. It changes nothing: the snapshot rolls back."""
    tables = _tables(fold.projections)
    # (a savepoint inside: a snapshot taken within a test's transaction is that one)
    with snapshots.snapshot(read_only=False), transaction.atomic():
        last = _checked_up_to(fold)
        if on_start:
            on_start(last)
        with shadow.shadowing(tables):
            fold.through(after=0, until=last)
            drift = [
                compare(model, live=shadow.live_name(model), folded=shadow.shadow_name(model))
                for model in tables
            ]
            transaction.set_rollback(True)
    return fold.report(last, drift)


def _checked_up_to(fold: _Fold) -> int:
    """Where the live tables stand: the end of this service's log, or the consumer's
    checkpoint in another's, which moves with the rows (in a snapshot, or in SQLite's
    transaction, nothing moves it)."""
    if fold.feed is None:
        return head_position()
    checkpoint, _ = Checkpoint.objects.get_or_create(source=fold.source)
    return checkpoint.position


def _rebuild_in_place(fold: _Fold, *, check: bool, on_start) -> RebuildReport:
    """Clear and fold in one transaction, holding the writers off (or the consumer, for
    another service's events) throughout: on SQLite."""
    with _one_at_a_time(fold.source), transaction.atomic():
        last = _checked_up_to(fold) if check else fold.hold_off_writers()
        if on_start:
            on_start(last)
        # Copying every row to compare costs as much as the fold: only --check does.
        if check:
            for model in _tables(fold.projections):
                snapshot(model)
        for p in fold.projections:
            p.clear()
        fold.through(after=0, until=last)
        drift = []
        if check:
            drift = [compare(model) for model in _tables(fold.projections)]
            transaction.set_rollback(True)
        else:
            fold.settle(last)
    return fold.report(last, drift)


class FoldFailed(Exception):
    """A handler failed on events of the log, or an event could not be read."""

    filled_in = 0  # rows the rebuild had filled in before (set by it)

    def __init__(self, failure: str, hint: str = ""):
        super().__init__(failure, hint)
        self.failure, self.hint = failure, hint

    def __str__(self) -> str:
        return f"{self.failure}; {shadow.what_changed(self.filled_in)}{self.hint}"


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
            f"{batch[-1].position} ({type(exc).__name__}: {exc})",
            hint,
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
    """The projections' models, each once: a table two projections share has one shadow."""
    return list(dict.fromkeys(model for p in projections for model in p.models))


def _feed(source: str) -> FeedReader:
    config = (setting("CONSUMER") or {}).get("SOURCES", {}).get(source)
    if config is None:
        raise ValueError(f"no URL for source {source!r} in EVENTKIT['CONSUMER']['SOURCES']")
    return FeedReader(source, config["url"])


def _feed_pieces(feed: FeedReader, *, after: int, until: int, batch: int, read):
    """Pages of another service's events after ``after`` up to ``until`` to fold, each
    with False; a dead letter's event alone and not decoded yet (it may have been set
    aside for failing to decode), with True. The feed is read ahead while they fold;
    ``read`` is told each page's last event, before its pieces."""
    source = feed.source
    # A dead letter names its event by id as well as position: a log reset or restored since
    # may hold another event at that position, which is to be applied like any other.
    set_aside = dict(
        DeadLetter.objects.filter(
            source=source, position__gt=after, position__lte=until
        ).values_list("position", "event_id")
    )
    for page in _read_ahead(feed.read(after, until=until, limit=min(batch, 1000))):
        read(page[-1])
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
                    f"({type(exc).__name__}: {exc})"
                ) from exc
        yield recorded, False
