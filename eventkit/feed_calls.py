"""The consumer's reads of the sources' feeds, each in a thread of its own, waited for only so
long.

A consumer reads a feed to fill a gap, to check that a source's log is the one it followed,
and to learn whether it is behind. A feed that accepts and never answers (its service, or
that service's database, stopped) would hold the consumer's loop for the read timeout, and
with it every event and heartbeat Redis brings for the other sources meanwhile. So each read
runs in a thread; the loop waits for it up to ``patience`` from its start and then goes on
without it (:class:`FeedPending`, a ``requests`` error: to its callers, a feed that has not
answered). The read goes on, and its answer is taken by the next call of its kind for that
source, whenever that comes: one read per source at a time, so a hung feed costs the loop
``patience`` once per read timeout, not once per poll.

An answer taken later may be for an earlier question: :class:`FeedCheck` and
:class:`FeedEvents` say what they answer, and the caller looks. Only the loop's thread calls
these methods; the reads' threads touch no database.
"""

import logging
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import requests

from eventkit.sources import FeedReader
from eventkit.wire import WireEvent

logger = logging.getLogger(__name__)

PATIENCE_SECONDS = 1.0


class FeedPending(requests.RequestException):
    """The feed has not answered yet; its answer is taken by a later call."""


@dataclass(frozen=True)
class FeedCheck:
    """What a source's feed said when asked about ``position``: the event it holds there
    (None if none) and the last position of its log."""

    position: int
    at: WireEvent | None
    head: int


@dataclass(frozen=True)
class FeedEvents:
    """The events a source's feed holds in ``first``..``last``, by position, and the last
    position of its log. A position asked and absent is one the log does not have (yet)."""

    first: int
    last: int
    events: dict[int, WireEvent]
    head: int | None


@dataclass
class _Read:
    kind: str
    started: float
    answer: Future = field(default_factory=Future)


class FeedCalls:
    def __init__(self, feeds: dict[str, FeedReader], *, patience: float = PATIENCE_SECONDS):
        self.feeds = feeds
        self.patience = patience
        self._reads: dict[str, _Read] = {}

    def check(self, source: str, position: int) -> FeedCheck:
        """The event at ``position`` and the head, or the answer of an earlier check."""
        return self._call(source, "check", (source, position))

    def events(self, source: str, first: int, last: int) -> FeedEvents:
        """The events in ``first``..``last``, or what an earlier such read brought."""
        return self._call(source, "events", (source, first, last))

    def ask(self, source: str, position: int) -> None:
        """Start a check and go on, unless a read of ``source`` is under way or waits to be
        taken: a later :meth:`check` takes the answer."""
        if source not in self._reads:
            self._start(source, "check", (source, position))

    def answered(self, source: str) -> bool:
        """Whether no read of ``source`` is under way (its answer, if any, waits to be taken)."""
        read = self._reads.get(source)
        return read is None or read.answer.done()

    def _call(self, source: str, kind: str, args: tuple):
        read = self._reads.get(source)
        if read is not None and read.kind != kind:
            # One read per source at a time: one of the other kind (a check an idle poll
            # asked ahead, say) is waited for as ours would be, and its answer, which
            # nobody asks for now, dropped. Taken as ours, it was the wrong kind of answer
            # (found in review: a gap read got a check, and the poll failed).
            try:
                self._taken(source, read)
            except FeedPending:
                raise  # the feed still owes that answer: ours would queue behind it
            except Exception:
                pass  # what that read raised: ours asks again
            read = None
        return self._taken(source, read or self._start(source, kind, args))

    def _taken(self, source: str, read: _Read):
        """The read's answer, once it has one, or FeedPending."""
        # Each read is waited for at most ``patience`` from its start, by whichever calls
        # come meanwhile: one that an earlier call waited for in full is not waited for again.
        timeout = max(0.0, read.started + self.patience - time.monotonic())
        try:
            answer = read.answer.result(timeout=timeout)
        except FutureTimeout:
            waited = time.monotonic() - read.started
            if timeout:
                logger.warning(
                    "%s: its feed has not answered in %.1f s; going on without it", source, waited
                )
            raise FeedPending(f"{source}'s feed has not answered yet ({waited:.1f} s)") from None
        except BaseException:  # what the read raised: taken, as an answer is
            del self._reads[source]
            raise
        del self._reads[source]
        return answer

    def _start(self, source: str, kind: str, args: tuple) -> _Read:
        read = self._reads[source] = _Read(kind, time.monotonic())
        threading.Thread(
            target=_run,
            args=(read.answer, getattr(self, f"_{kind}"), args),
            name=f"feed-{kind}-{source}",
            daemon=True,  # a feed that hangs must not keep the worker from ending
        ).start()
        return read

    def _check(self, source: str, position: int) -> FeedCheck:
        at, head = self.feeds[source].event_at(position)
        return FeedCheck(position, at, head)

    def _events(self, source: str, first: int, last: int) -> FeedEvents:
        events, head = self.feeds[source].between(first, last)
        return FeedEvents(first, last, events, head)


def _run(answer: Future, work, args: tuple) -> None:
    try:
        answer.set_result(work(*args))
    except BaseException as exc:  # the caller raises it, and goes on
        answer.set_exception(exc)
