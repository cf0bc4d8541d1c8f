"""An idempotent, self-repairing consumer of other services' events from Redis Streams.

Each consuming service has one consumer group (``marketing``, ``bff``); any number of its
workers can run. For every source it keeps a :class:`~eventkit.models.Checkpoint`: the last
position applied, updated in the same transaction as the read models. Applying is therefore
exactly-once whatever Redis delivers:

* a position at or below the checkpoint is a duplicate: acknowledged, not applied;
* the next position is applied and the checkpoint moves, in one transaction; the message is
  acknowledged (``XACK``) only after that commit;
* a source whose log no longer holds, at the checkpoint, the event applied there was reset
  or restored from a backup: its positions now name other events. A live-only consumer
  starts again at its head; any other holds the source back (in the checkpoint row, so
  every worker does), and says so, until ``rebuild_projections`` folds it again
  (:meth:`Consumer.verify`);
* a position further ahead means events went missing (Redis restarted without persistence,
  was flushed, or trimmed the stream): the missing range is read from the source's gap-free
  HTTP feed and applied first. A position beyond the end of the source's log was never
  published by its relay (written in by hand, or left from a log since restored): it is set
  aside on the dead-letter stream. An idle worker also asks the feed now and then whether it is
  behind, which repairs losses at the tail, and keeps read models current while Redis is down.
  Every read of a feed runs in a thread of its own and is waited for only so long
  (:mod:`eventkit.feed_calls`): a feed that hangs (its service, or that service's database,
  stopped) holds back its own source, not the events and the heartbeats that Redis brings
  for the others meanwhile.

Workers lock the checkpoint row while applying (and read the feed before, not while, they
hold it), so competing workers never double count;
messages of a worker that died are claimed after a while (``XAUTOCLAIM``). An event that
keeps failing is tried once per poll and set aside after ``max_attempts``: recorded as a
:class:`~eventkit.models.DeadLetter` (and on the dead-letter stream), and the consumer moves on
to the events behind it at once. A worker asked to stop (SIGTERM) stops between two batches,
however far behind it is: each batch commits with its checkpoint.
The database failing (a dropped connection, a deadlock, a timeout), or not yet having the
tables and columns this code expects (a worker started before its migrations ran), is not
the event's fault: the worker waits and tries again, however long it takes, and sets nothing
aside.
"""

import json
import logging
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

import redis
import requests
from django.db import (
    InterfaceError,
    InternalError,
    OperationalError,
    ProgrammingError,
    connection,
    transaction,
)
from django.utils import timezone

from eventkit.batching import batched, command_cursor, commit_with_queue, send
from eventkit.domain import UnknownEventType
from eventkit.feed_calls import PATIENCE_SECONDS, FeedCalls, FeedEvents, FeedPending
from eventkit.groups import GroupMember
from eventkit.models import Checkpoint, DeadLetter
from eventkit.projections import registry
from eventkit.rows import db_value, locking
from eventkit.sources import FeedReader
from eventkit.wire import WireEvent, from_fields
from servicekit.dberrors import lock_wait_over, refuses_writes, sqlstate

logger = logging.getLogger(__name__)


class RedisWatch:
    """Whether this process's consumers found Redis failing, and when one next read from it.

    The BFF's feed asks: a push it sends just after Redis came back may reach no web
    process, since each subscribes again only at its next try (once a second with
    channels-redis), and nothing else would tell their clients that they missed it.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._failing = False
        self._back_at: float | None = None

    def failed(self) -> None:
        with self._lock:
            self._failing = True

    def answered(self) -> None:
        with self._lock:
            if self._failing:
                self._failing, self._back_at = False, time.monotonic()

    def unsettled(self, seconds: float) -> bool:
        """Failing now, or answering again for less than ``seconds``."""
        with self._lock:
            back = self._back_at is not None and time.monotonic() - self._back_at < seconds
            return self._failing or back


redis_watch = RedisWatch()


@dataclass(frozen=True)
class Source:
    name: str  # the publishing service, as in the messages' "source" field
    stream: str  # its Redis stream
    feed_url: str  # its base URL, for GET /events?after=


# The database failing, not the handler: retried for as long as it takes, never dead-lettered.
DATABASE_FAILURES = (OperationalError, InterfaceError, ProgrammingError, InternalError)
# ... but only these kinds of OperationalError: a lost connection (class 08, or none given),
# a deadlock or serialisation failure (40), the server short of resources (53), a timeout,
# cancel or shutdown (57), a lock not available (55P03); SQLite busy or locked. Others, such
# as a program limit exceeded (54), would fail the same way for ever: the event's fault.
_TRANSIENT_CLASSES = ("08", "40", "53", "57")
# ... and of ProgrammingError only a table or a column missing: every event would fail alike
# until the migrations have run, and setting them all aside would empty the read models.
_SCHEMA_MISSING = ("42P01", "42703")
_SQLITE_SCHEMA_MISSING = ("no such table", "no such column")


def database_failing(exc: BaseException) -> bool:
    """Whether ``exc`` is the database failing for now, not a handler failing on its event."""
    if isinstance(exc, InterfaceError):
        return True
    if isinstance(exc, InternalError):  # of these, only writes refused for now
        return refuses_writes(exc)
    if not isinstance(exc, OperationalError | ProgrammingError):
        return False
    cause = exc.__cause__
    if hasattr(cause, "sqlite_errorname"):
        # extended codes too: SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED_SHAREDCACHE, ...
        return cause.sqlite_errorname.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or str(
            cause
        ).startswith(_SQLITE_SCHEMA_MISSING)
    state = sqlstate(exc)
    if isinstance(exc, ProgrammingError):
        return state in _SCHEMA_MISSING
    return state is None or state[:2] in _TRANSIENT_CLASSES or lock_wait_over(exc)


class _BatchFailed(Exception):
    """A batch of events failed together; which one is to blame is not known yet."""

    def __init__(self, size: int):
        super().__init__(f"a batch of {size} events failed")
        self.size = size


class _Forked(Exception):
    """An event in hand does not follow the one before it (its ``previous_id``): the log it
    came from is not the one the checkpoint, or the event before it, was taken from."""

    def __init__(self, event: WireEvent):
        super().__init__(f"{event.source} #{event.position} does not follow the event before it")
        self.event = event


class StaleCheck(FeedPending):
    """The feed's answer was to a check of an earlier checkpoint: nothing was checked."""

    def __init__(self, source: str, head: int):
        super().__init__(f"{source}: the feed's answer was for an earlier checkpoint")
        self.head = head


class _Gap(Exception):
    """Events the batch needs are neither in the messages nor read from the feed yet."""

    def __init__(self, first: int, last: int):
        super().__init__(f"positions {first}..{last} not at hand")
        self.first = first
        self.last = last


class HandlerFailed(Exception):
    """A handler raised on ``event``: the event's own fault, unless the database failed
    (then it is retried, never set aside)."""

    def __init__(self, event: WireEvent, cause: Exception):
        super().__init__(f"{event.event_type} #{event.position}: {cause!r}")
        self.event = event
        self.cause = cause


@dataclass
class _Following:
    """What a consumer keeps between polls about one source it follows. The checkpoint row
    is the record; this saves asking it, and says what the loop is to come back to."""

    applied: int | None = None  # the checkpoint as of our last commit; None: ask the row
    started: bool = False  # the checkpoint row exists
    # Batches committed since the after-commit callbacks last ran: they run once per poll,
    # not once per batch, so that a poll that applied both the order and the saga events
    # sends the BFF's websockets one push, not two.
    unannounced: bool = False
    # Stopped short by a failing event: how far it was to go, and in which round. Later
    # rounds come back to it, new messages or not (:meth:`Consumer._come_back`). A round is
    # a poll, or a catch-up while Redis is down; an event is tried once per round.
    stalled_to: int | None = None
    stalled_in: int = 0
    # Held back as started over (:meth:`Consumer.verify`; the row is the record): when that
    # was last reported, None while it is not. And when its log was last checked.
    diverged: float | None = None
    verified: float | None = None
    gap_head: int | None = None  # the head its feed said while a poll filled a gap of it
    # Live-only: when to ask again for its head while it is not followed yet, and the wait
    # after that (:meth:`Consumer._learn_heads`).
    next_head_try: float = 0.0
    head_wait: float = 0.1
    # Live-only: since when its events are news, once it is followed again from its head
    # after its log started over (:meth:`Consumer._restart_at`).
    news_since: datetime | None = None


class Consumer:
    def __init__(
        self,
        *,
        client: redis.Redis,
        group: str,
        name: str,
        sources: list[Source],
        batch_size: int = 200,
        block_ms: int = 1000,
        claim_idle_ms: int = 15_000,
        max_attempts: int = 3,
        catch_up_seconds: float = 5.0,
        start_at_head: bool = False,
        linger_ms: int = 0,
        forget_idle_ms: int = 3_600_000,
        feed_patience: float = PATIENCE_SECONDS,
    ):
        self.name = name
        self.sources = {s.name: s for s in sources}
        self.streams = {s.stream: s for s in sources}
        self.member = GroupMember(
            client,
            group=group,
            name=name,
            streams=list(self.streams),
            batch_size=batch_size,
            block_ms=block_ms,
            claim_idle_ms=claim_idle_ms,
            forget_idle_ms=forget_idle_ms,
        )
        self.feeds = {s.name: FeedReader(s.name, s.feed_url) for s in sources}
        # Every read of a feed goes through here: in a thread, waited for at most
        # feed_patience, so that a feed that hangs does not hold the loop.
        self.calls = FeedCalls(self.feeds, patience=feed_patience)
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.catch_up_seconds = catch_up_seconds
        # A consumer that only relays live changes (the BFF's websocket feed) starts at the
        # sources' current head instead of replaying their whole history.
        self.start_at_head = start_at_head
        # After a small batch, wait this long before reading again so that the next read
        # finds several events: one transaction, one XACK and one push for all of them
        # instead of one each. It bounds the delay it adds.
        self.linger = linger_ms / 1000
        self.attempts: Counter = Counter()
        self._last_catch_up = 0.0
        self._following = {s.name: _Following() for s in sources}
        self._foreign: set[str] = set()  # sources named on our streams that we do not follow
        self._round = 0  # polls, and catch-ups while Redis is down (see _Following.stalled_to)
        # When the idle catch-up asked the feeds its question, while their answers are due.
        self._asked: float | None = None
        # Sources followed again from their head after their log started over (live-only,
        # _restart_at): counted, for _apply_batch to notice.
        self._restarts = 0
        # The worker's stop event (from run() or start()), looked at between batches: a
        # worker far behind (after a long Redis outage) stops at the next batch boundary
        # instead of when it has caught up, which its supervisor would not wait for.
        self._stop = threading.Event()

    # -- the loop -----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self._stop = stop
        logger.info("consumer %s/%s on %s", self.member.group, self.name, ", ".join(self.streams))
        backoff = 0.1
        while not stop.is_set():
            try:
                applied = self.poll_once()
                redis_watch.answered()
                backoff = 0.1
                if 0 < applied < self.batch_size and self.linger:
                    stop.wait(self.linger)
            except redis.RedisError as exc:
                redis_watch.failed()
                logger.warning("Redis unavailable (%s); catching up from the feeds", exc)
                self._round += 1
                self._catch_up_safely()
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except DATABASE_FAILURES as exc:
                logger.warning("database failed (%r); trying again in %.1f s", exc, backoff)
                connection.close_if_unusable_or_obsolete()
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:
                # A fault of ours or an input nobody foresaw: ending the worker would only
                # have its supervisor start it into the same message, with less said.
                logger.exception("poll failed; trying again in %.1f s", backoff)
                connection.close_if_unusable_or_obsolete()
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            self._polled()

    def _polled(self) -> None:
        try:
            registry.polled(sources=self.sources)
        except Exception:
            # a callback's fault must not stop the events
            logger.exception("an every-poll callback failed")

    def poll_once(self) -> int:
        """Claim stale messages, read new ones, apply them; returns events applied."""
        try:
            return self._poll()
        finally:
            self._announce()

    def _poll(self) -> int:
        self._round += 1
        if self.start_at_head and not all(f.started for f in self._following.values()):
            self._learn_heads()
        messages = self.member.read()
        applied = self._handle(messages)
        applied += self._come_back()
        # Only when the stream had nothing for us: a worker with a backlog in Redis reads
        # it from Redis, and the feed is for what Redis never had or lost at the tail.
        idle = not messages
        if idle and (
            self._asked is not None
            or time.monotonic() - self._last_catch_up >= self.catch_up_seconds
        ):
            applied += self._idle_catch_up()
        return applied

    def start(self, stop: threading.Event | None = None) -> None:
        """Create the consumer groups, forget dead workers and, for a live-only consumer, fix
        its starting point.

        A live-only consumer starts at each source's head as it is when the worker starts,
        so that nothing committed after that moment is skipped. Until it has learnt where a
        source's head is (from its feed, into its checkpoint), it applies none of that
        source's messages: the groups start at the streams' beginning, and it would take
        their history for news. It asks first, since that needs only the feeds: if Redis is
        down at start, the worker goes on to run() knowing them. A head it could not learn
        is asked again as it runs (:meth:`_learn_heads`). A source it has a checkpoint for (a
        worker of its group ran before) needs no head: it goes on from the checkpoint. Found
        from outside: a BFF feed restarted while the saga's feed hung waited for it, and
        every websocket went silent for as long.
        """
        if stop is not None:
            self._stop = stop
        if self.start_at_head:
            self._start_at_heads(self._stop)
        self.member.ensure_groups()
        self.member.forget_dead_consumers()

    def _start_at_heads(self, stop: threading.Event) -> None:
        backoff = 0.1
        while not stop.is_set():
            try:
                self._learn_heads()
                return
            except DATABASE_FAILURES as exc:
                logger.warning(
                    "cannot read the checkpoints yet (%r); trying again in %.1f s", exc, backoff
                )
                connection.close_if_unusable_or_obsolete()
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _learn_heads(self) -> None:
        """Start each source this live-only worker does not follow yet at its feed's head.
        One whose feed does not answer is asked again at a later poll, its messages left
        pending meanwhile (:meth:`_handle`), with the wait between tries doubling up to 5 s:
        a feed that hangs holds back its own source only. Found from outside: a BFF feed
        that had to learn a hung feed's head sent no push and no heartbeat until it did."""
        followed = Checkpoint.objects.filter(source__in=list(self.feeds))
        for source in followed.values_list("source", flat=True):
            self._following[source].started = True
        now = time.monotonic()
        for source, following in self._following.items():
            if following.started or now < following.next_head_try:
                continue
            try:
                head = self.calls.check(source, 0).head
            except requests.RequestException as exc:
                logger.warning(
                    "cannot learn where the %s feed ends yet (%s); trying again in %.1f s",
                    source,
                    exc,
                    following.head_wait,
                )
                following.next_head_try = now + following.head_wait
                following.head_wait = min(following.head_wait * 2, 5.0)
                continue
            self._start_at(source, head)

    # -- applying -----------------------------------------------------------------------

    def _handle(self, messages) -> int:
        known: dict[str, dict[int, WireEvent]] = defaultdict(dict)
        ids: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
        sent: dict[tuple[str, str], dict] = {}  # ids repeat across streams
        for stream, message_id, fields in messages:
            try:
                event = from_fields(fields)
            except (KeyError, ValueError, json.JSONDecodeError) as exc:
                logger.error(
                    "unreadable message %s on %s: %r; dropping it", message_id, stream, exc
                )
                self.member.copy_dead_letter({**fields, "error": repr(exc)})
                self.member.ack(stream, message_id)
                continue
            if event.source not in self.sources:
                self._foreign_source(stream, event.source)
                self.member.ack(stream, message_id)
                continue
            known[event.source][event.position] = event
            ids[event.source].append((stream, message_id, event.position))
            sent[stream, message_id] = fields
        applied = 0
        for source, events in known.items():
            if not self._may_apply(source, min(events)):
                continue  # left pending
            following = self._following[source]
            following.gap_head = None  # what the feed says while these are applied
            applied += self.advance(source, max(events), events)
            done = self._last_applied(source)
            head = following.gap_head
            acks = defaultdict(list)
            for stream, message_id, position in ids[source]:
                if position <= done:
                    acks[stream].append(message_id)
                elif head is not None and position > head:
                    self._beyond_the_log(source, position, head, sent[stream, message_id])
                    acks[stream].append(message_id)
            for stream, message_ids in acks.items():
                self.member.ack(stream, *message_ids)
        return applied

    def _foreign_source(self, stream: str, source: str) -> None:
        """A message on a stream we read that names a source we do not follow: dropped, and
        said once per source. A relay's source and this worker's settings that disagree (a
        typo) would otherwise drop every live message in silence, the read models moving
        only with the idle catch-ups."""
        if source not in self._foreign:
            self._foreign.add(source)
            logger.warning(
                "messages on %s name source %r, which this worker does not follow (it follows"
                " %s); dropping them",
                stream,
                source,
                ", ".join(sorted(self.sources)),
            )

    def _may_apply(self, source: str, first: int) -> bool:
        """Whether this poll goes on with the messages of ``source`` it read, the first at
        position ``first``; if not, they stay pending, to be claimed again."""
        following = self._following[source]
        if self.start_at_head and not following.started:
            # Its head unknown, history and news look alike (see _learn_heads).
            return False
        if following.diverged is not None:
            if self._verify_due(source):  # held back: checked again now and then
                self._verify_safely(source)
        elif first <= self._last_applied(source):
            # Old positions again: a relay sending again after a restart, or a source whose
            # log started over. Telling them apart costs one read of its feed.
            if not self.start_at_head:
                # Until it has told (a slow feed, found from outside), they stay pending:
                # taken for duplicates, a reset log's events would be lost without a word.
                return self._verify_safely(source)
            if self._verify_due(source):
                # A live-only consumer builds nothing from old positions (it reads history
                # as it starts), so it checks at most once a catch-up interval and goes on
                # either way. It must check: a log rolled back under steady traffic, with
                # no idle poll to catch up in, had its new events there taken for
                # duplicates, never pushed, with no gap told (found from outside: 37 s).
                self._verify_safely(source)
        return following.diverged is None  # held back until a rebuild: see verify()

    def advance(self, source: str, upto: int, known: dict[int, WireEvent] | None = None) -> int:
        """Apply every event of ``source`` up to position ``upto``; returns how many.

        Stops after a batch once the worker is asked to stop: each batch commits with its
        checkpoint, so the next worker goes on from there."""
        following = self._following[source]
        if following.stalled_to is not None and following.stalled_in == self._round:
            return 0  # its failing event was tried in this round already
        if following.diverged is not None:
            return 0
        known = known or {}
        applied = 0
        while True:
            try:
                count = self._apply_batch(source, upto, known)
            except HandlerFailed as failure:
                applied += self._after_failure(source, failure, known)
                if (following.applied or 0) < failure.event.position:
                    following.stalled_to = max(following.stalled_to or upto, upto)
                    following.stalled_in = self._round
                    return applied
                continue  # set aside: on to the events behind it
            except FeedPending:
                return applied  # said once, by the feed's calls: the messages stay pending
            except requests.RequestException as exc:
                logger.warning("cannot read the %s feed to fill a gap: %s", source, exc)
                return applied
            applied += count
            done = following.applied or 0
            if count == 0 or done >= upto:
                target = following.stalled_to or 0
                if done >= target or (count == 0 and upto >= target):
                    following.stalled_to = None  # reached, or the source has no more
                return applied
            if self._stop.is_set():
                return applied

    def _come_back(self) -> int:
        """Try again each source that an event failed in an earlier round, so that its next
        attempt does not wait for a new message, a catch-up or ``XAUTOCLAIM``: on a quiet
        stream those come seconds apart, and the events behind it wait as long."""
        applied = 0
        for source, following in self._following.items():
            if following.stalled_to is not None:  # nothing if it failed in this round
                applied += self.advance(source, following.stalled_to)
        return applied

    def _last_applied(self, source: str) -> int:
        """The checkpoint as of our last commit, or as the database has it."""
        done = self._following[source].applied
        return self.checkpoint(source) if done is None else done

    def checkpoint(self, source: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(_SELECT_CHECKPOINT, [source])
            row = cursor.fetchone()
        return row[0] if row else 0

    # -- a source that started over ---------------------------------------------------------

    def verify(self, source: str, *, ask_again: bool = True) -> int | None:
        """The head of ``source``'s log, or None if that log no longer holds the event we
        applied at our checkpoint. The feed's answer may be to an earlier check (the idle
        catch-up asks ahead, and a read that kept us waiting is taken later): if the
        checkpoint has moved on since, it checks nothing, and the feed is asked again; or,
        without ``ask_again``, :class:`StaleCheck` says so and carries the head it said.

        Positions are only unique within one log. Reset, or restored from a backup, a source
        numbers its new events from where its log now ends, and they would pass here as
        duplicates of the events we applied at those positions: lost without a word. The
        event at the checkpoint tells: still there, the log is the one we followed.
        """
        with connection.cursor() as cursor:
            cursor.execute(_SELECT_CHECKPOINT_EVENT, [source])
            position, event_id, event_position, held = cursor.fetchone() or (0, "", 0, False)
        read = self.calls.check(source, position)
        if read.position != position and ask_again:
            read = self.calls.check(source, position)  # that answer was taken: ours now
        if read.position != position:
            raise StaleCheck(source, read.head)
        following = self._following[source]
        following.verified = time.monotonic()
        named = _named(event_id, event_position, position)
        at, head = read.at, read.head
        if position == 0 or (at is not None and named in ("", at.event_id)):
            if at is not None and not named:
                self._name_checkpoint_event(source, position, at.event_id)
            diverged, following.diverged = following.diverged, None
            if diverged is not None or held:
                Checkpoint.objects.filter(source=source).update(held_since=None)
                logger.info("%s: its log holds our checkpoint's event again", source)
            return head
        if self.start_at_head:  # news only: nothing was built from the old log to rebuild
            logger.warning(
                "%s: its log no longer holds the event at our checkpoint %d (it ends at %d);"
                " reset or restored, it is followed again from its head",
                source,
                position,
                head,
            )
            self._restart_at(source, head)
            return head
        Checkpoint.objects.filter(source=source, held_since=None).update(held_since=timezone.now())
        reported = following.diverged
        if reported is None or time.monotonic() - reported >= DIVERGED_REPORT_SECONDS:
            logger.error(
                "%s: its log no longer holds the event %s applied at position %d (it ends "
                "at %d): was it reset or restored from a backup? Its events are not applied "
                "until `manage.py rebuild_projections` folds its log again.",
                source,
                named or event_id,
                position,
                head,
            )
            following.diverged = time.monotonic()
        return None

    def _verify_due(self, source: str) -> bool:
        last = self._following[source].verified
        return last is None or time.monotonic() - last >= self.catch_up_seconds

    def _verify_safely(self, source: str) -> bool:
        """Whether the source's log holds our checkpoint's event, as its feed says now; False
        if it does not, or if the feed has not said (yet)."""
        try:
            return self.verify(source) is not None
        except FeedPending:
            return False  # said once, by the feed's calls
        except requests.RequestException as exc:
            logger.warning("cannot read the %s feed to check our checkpoint: %s", source, exc)
            return False

    def _name_checkpoint_event(self, source: str, position: int, event_id: str) -> None:
        Checkpoint.objects.filter(source=source, position=position).update(
            event_id=event_id, event_position=position
        )

    def _restart_at(self, source: str, head: int) -> None:
        read = self.calls.check(source, head) if head > 0 else None
        event_id = read.at.event_id if read and read.position == head and read.at else ""
        Checkpoint.objects.filter(source=source).update(
            position=head, event_id=event_id, event_position=head, held_since=None
        )
        following = self._following[source]
        following.applied = None
        self._restarts += 1
        # The head is the log as it is at this moment, which may be part-way through a
        # restore (found from outside: an empty log, and then the whole restored history
        # pushed to every websocket as news). What was recorded before now is not news: by
        # this host's clock against the source's, which one host, or NTP, keeps together.
        following.news_since = timezone.now()
        try:
            registry.skipped(source=source)  # the new log's events up to its head
        except Exception:
            logger.exception("an after-skip callback failed")

    def _apply_batch(self, source: str, upto: int, known: dict[int, WireEvent]) -> int:
        following = self._following[source]
        following.applied = None  # unknown until this transaction has committed
        # The messages, what the feed gave, and which positions it was asked for: kept
        # across tries, since another worker may move the checkpoint part-way through a
        # range read, and the next batch then needs some of it and some beyond it.
        at_hand, fetched, read = known, {}, set()
        together = True
        forks = 0
        while True:
            try:
                position, applied = self._commit_batch(
                    source, upto, at_hand, read, together=together
                )
                break
            except _Forked as fork:
                forks += 1
                restarts = self._restarts
                if not self._verify_safely(source):
                    return 0  # held back (verify() said why), or to be told next round
                if self._restarts != restarts:
                    continue  # live-only: followed again from its head, as verify() said
                if forks > 2:
                    logger.error("%s, even as the feed gave it; tried again later", fork)
                    return 0
                # Our checkpoint's event is in the log: what broke the chain is not of it
                # (messages left from a log since reset). Those positions are asked of the
                # feed instead.
                logger.warning("%s; reading it and what follows from the feed", fork)
                cut = fork.event.position
                known = {p: e for p, e in known.items() if p < cut}
                fetched = {p: e for p, e in fetched.items() if p < cut}
                read = {p for p in read if p < cut}
                at_hand = {**fetched, **known}
            except _Gap as gap:
                # Read with no transaction open: a feed can take seconds to answer, and every
                # other worker of the group would wait that long on the locked checkpoint.
                # The next transaction locks it again and applies only what follows it.
                got = self._read_feed(source, gap, known)
                fetched.update(got.events)
                at_hand = {**fetched, **known}
                read.update(range(got.first, got.last + 1))  # an earlier gap's, maybe
            except _BatchFailed as failed:
                # Its transaction rolled back; the next one finds the event to blame.
                logger.info(
                    "%s: a batch of %d events failed (%r); applying them one at a time",
                    source,
                    failed.size,
                    failed.__cause__,
                )
                together = False
        following.applied = position
        if self.attempts:  # events that failed before and have now been applied
            for key in [k for k in self.attempts if k[0] == source and k[1] <= position]:
                del self.attempts[key]
        if applied:
            following.unannounced = True
        return applied

    def _commit_batch(
        self, source: str, upto: int, known: dict[int, WireEvent], read: set, *, together: bool
    ) -> tuple[int, int]:
        """One transaction: the checkpoint locked, the next events applied, the checkpoint
        moved past them. Returns the checkpoint and how many events were applied, or raises
        :class:`_Gap` (and rolls back) if events it needs are not at hand."""
        with transaction.atomic():
            position, held, named = self._lock_checkpoint(source)
            if held:
                # another worker found the source started over: see verify()
                following = self._following[source]
                if following.diverged is None:
                    following.diverged = time.monotonic()
                return position, 0
            if position >= upto:
                return position, 0
            last = min(upto, position + self.batch_size)
            events = self._events(position, last, known, read)
            _check_chain(named, events)
            self._apply_all(source, events, together=together)
            if events:
                position = events[-1].position
                self._write_checkpoint(source, events[-1], with_commit=True)
        return position, len(events)

    def _announce(self) -> None:
        """Run the after-commit callbacks of every source committed since the last time."""
        for source, following in self._following.items():
            if following.unannounced:
                following.unannounced = False
                registry.committed(source=source)

    def _start_at(self, source: str, position: int) -> None:
        following = self._following[source]
        if not following.started:
            Checkpoint.objects.get_or_create(source=source, defaults={"position": max(position, 0)})
            following.started = True

    def _lock_checkpoint(self, source: str) -> tuple[int, bool, str]:
        """Our checkpoint for ``source``, locked until the transaction ends: its position,
        whether the source is held back, and the id of the event it is at (empty if it
        names none)."""
        sql = locking(_LOCK_CHECKPOINT)
        with connection.cursor() as cursor:
            cursor.execute(sql, [source])
            row = cursor.fetchone()
            if row is None:
                Checkpoint.objects.get_or_create(source=source)
                self._following[source].started = True
                cursor.execute(sql, [source])
                row = cursor.fetchone()
        position, held_since, event_id, event_position = row
        return position, held_since is not None, _named(event_id, event_position, position)

    def _write_checkpoint(
        self, source: str, event: WireEvent, *, with_commit: bool = False
    ) -> None:
        """Move the checkpoint to ``event``; ``with_commit``, as the transaction's last act,
        joined with its ``COMMIT`` in one round trip (:func:`batching.commit_with_queue`)."""
        now = db_value(Checkpoint, "updated_at", timezone.now())
        params = [event.position, event.event_id, event.position, now, source]
        with batched(), command_cursor() as cursor:
            send(cursor, _UPDATE_CHECKPOINT, params)
            if with_commit:
                commit_with_queue()

    def _events(self, after: int, last: int, known, read: set) -> list[WireEvent]:
        """Events after..last in order, from the messages and what the feed gave; a
        :class:`_Gap` if some of them were not asked of the feed yet."""
        wanted = range(after + 1, last + 1)
        missing = [p for p in wanted if p not in known and p not in read]
        if missing:
            raise _Gap(missing[0], missing[-1])
        events = []
        for position in wanted:
            event = known.get(position)
            if event is None:
                break  # the source does not have it (yet): stop before the hole
            events.append(event)
        return events

    def _read_feed(self, source: str, gap: _Gap, known) -> FeedEvents:
        """The events of ``gap`` that the source's feed has, or those of an earlier gap whose
        read kept us waiting (:mod:`eventkit.feed_calls`): the answer says which."""
        if known:  # with no messages in hand this is a catch-up, not a loss
            logger.info(
                "%s: positions %d..%d missing from the stream; reading the feed",
                source,
                gap.first,
                gap.last,
            )
        got = self.calls.events(source, gap.first, gap.last)
        if got.head is not None:
            self._following[source].gap_head = got.head
        return got

    def _apply_all(self, source: str, events: list[WireEvent], *, together: bool) -> None:
        """Feed ``events`` to the projections: ``together`` as one batch (:class:`_BatchFailed`
        if that fails), otherwise one at a time, so that the event to blame is known
        (:class:`HandlerFailed`).

        A failed batch is not rolled back to a savepoint: it takes its transaction with it
        and the caller runs another. Failures are rare, and a savepoint around every batch
        cost two more round trips (``SAVEPOINT``, ``RELEASE``) in each of them.
        """
        since = self._following[source].news_since
        decoded = []
        for event in events:
            try:
                recorded = event.recorded()
                if since is None or recorded.recorded_at >= since:
                    decoded.append((event, recorded))
            except UnknownEventType:
                continue  # an event type this service does not consume
            except Exception as exc:
                raise HandlerFailed(event, exc) from exc
        if together and len(decoded) > 1:
            try:
                registry.apply([recorded for _, recorded in decoded], source=source)
            except Exception as exc:
                if database_failing(exc):
                    raise
                raise _BatchFailed(len(decoded)) from exc
            return
        for event, recorded in decoded:
            try:
                registry.apply([recorded], source=source)
            except Exception as exc:
                if database_failing(exc):
                    raise
                raise HandlerFailed(event, exc) from exc

    def _after_failure(self, source: str, failure: HandlerFailed, known) -> int:
        position = failure.event.position
        key = (source, position)
        self.attempts[key] += 1
        logger.warning(
            "%s failed (attempt %d of %d)", failure, self.attempts[key], self.max_attempts
        )
        applied = self.advance(source, position - 1, known)  # keep what came before it
        if self.attempts[key] >= self.max_attempts:
            self._dead_letter(source, failure)
            del self.attempts[key]
        return applied

    def _dead_letter(self, source: str, failure: HandlerFailed) -> None:
        event = failure.event
        with transaction.atomic():
            if self._lock_checkpoint(source)[:2] != (event.position - 1, False):
                return  # someone else moved on meanwhile
            # A letter already at that position names an event of a log since reset or
            # restored (the rebuild applied what is there now): this one takes its place.
            DeadLetter.objects.update_or_create(
                source=source,
                position=event.position,
                defaults={
                    "event_id": event.event_id,
                    "event_type": event.event_type,
                    "data": event.data,
                    "error": repr(failure.cause),
                    "attempts": self.max_attempts,
                },
            )
            self._write_checkpoint(source, event)
        self._following[source].applied = event.position
        logger.error(
            "dead-lettered %s #%d %s: %r", source, event.position, event.event_type, failure.cause
        )
        letter = {**event.to_fields(), "error": repr(failure.cause)}
        self.member.copy_dead_letter_if_redis_answers(letter)

    def _beyond_the_log(self, source: str, position: int, head: int, fields: dict) -> None:
        """A message at a position the source's log does not reach. A relay publishes only
        what its log has committed, so this one was never published by it: written into
        the stream by hand, or left from a log since restored to an earlier state. It would
        stay pending for good, claimed again and again, each time a read of the feed."""
        error = f"position {position} is beyond the source's log, which ends at {head}"
        logger.error("set aside a message of %s: %s", source, error)
        self.member.copy_dead_letter_if_redis_answers({**fields, "error": error})

    def catch_up(self) -> int:
        """Ask each source's feed whether we are behind, and apply what we missed. A feed that
        does not answer does not hold the others back: its error is raised after them."""
        self._last_catch_up = time.monotonic()
        applied = 0
        unreachable: requests.RequestException | None = None
        try:
            for source in self.feeds:
                if self._stop.is_set():
                    break
                try:
                    try:
                        head = self.verify(source, ask_again=False)
                    except StaleCheck as stale:
                        # Not checked this time; what advance() applies past the checkpoint
                        # is checked all the same, event by event (_check_chain).
                        head = stale.head
                    if head is None:
                        continue
                    if self.start_at_head:
                        self._start_at(source, head)
                    if head > self.checkpoint(source):
                        applied += self.advance(source, head)
                except requests.RequestException as exc:
                    unreachable = unreachable or exc
        finally:
            self._announce()
        if unreachable is not None:
            raise unreachable
        return applied

    def _idle_catch_up(self) -> int:
        """The catch-up of a worker whose Redis answers and had nothing for it, in two steps
        so that the loop does not wait on the feeds: the first poll asks them, a later one
        (once they all answered, or the feeds' patience is over) applies what they said.
        Found from outside: a feed that hung (its service's database stopped) held every
        websocket push and heartbeat back for its 10 s read timeout, again and again."""
        if self._asked is None:
            self._last_catch_up = self._asked = time.monotonic()
            for source in self.feeds:
                self.calls.ask(source, self.checkpoint(source))
            return 0
        waiting = not all(self.calls.answered(source) for source in self.feeds)
        if waiting and time.monotonic() - self._asked < self.calls.patience:
            return 0
        self._asked = None
        return self._catch_up_safely()

    def _catch_up_safely(self) -> int:
        """Catch up if the feeds and the database answer; the caller goes on either way (it
        runs while Redis is down, and at the start of a live-only worker)."""
        try:
            return self.catch_up()
        except requests.RequestException as exc:
            logger.warning("catch-up incomplete, a feed is unreachable: %s", exc)
        except DATABASE_FAILURES as exc:
            logger.warning("catch-up skipped, the database failed: %r", exc)
            connection.close_if_unusable_or_obsolete()
        return 0


_SELECT_CHECKPOINT = "SELECT position FROM eventkit_checkpoint WHERE source = %s"
_LOCK_CHECKPOINT = (
    "SELECT position, held_since, event_id, event_position FROM eventkit_checkpoint"
    " WHERE source = %s"
)
_SELECT_CHECKPOINT_EVENT = (
    "SELECT position, event_id, event_position, held_since IS NOT NULL"
    " FROM eventkit_checkpoint WHERE source = %s"
)
_UPDATE_CHECKPOINT = (
    "UPDATE eventkit_checkpoint SET position = %s, event_id = %s, event_position = %s,"
    " updated_at = %s WHERE source = %s"
)

# How often a source that started over is reported again while it waits for its rebuild.
DIVERGED_REPORT_SECONDS = 60.0


def _named(event_id: str, event_position: int, position: int) -> str:
    """The event a checkpoint at ``position`` names: empty if its id was written for another
    position (a worker of an older release moves the position alone)."""
    return event_id if event_position == position else ""


def _check_chain(named: str, events: list[WireEvent]) -> None:
    """:class:`_Forked` at the first of ``events`` that does not follow the one before it:
    the checkpoint's event (``named``), then each other. An id not known (empty) is not
    checked: a checkpoint that names no event, a sender of an earlier release."""
    before = named
    for event in events:
        if before and event.previous_id and event.previous_id != before:
            raise _Forked(event)
        before = event.event_id
