"""How many sagas one process drives at once, and in what order the rest get their turn.

A saga keeps one pooled database connection from its first write to its end, which lasts
as long as its participants take to answer. When the pool itself bounded the sagas, a
participant that hung held every connection: the process's health check, its saga and
event reads and even the answers of finished sagas waited for one, and were answered 503.
So a gate admits ``SAGA_DRIVERS`` sagas at once, in arrival order (fair admission keeps the
tail of the latency close to its median), and the pool keeps a few connections beyond
them for everything else.

One product's sagas hold at most ``SAGA_DRIVERS_PER_PRODUCT`` of the turns (a bulkhead).
A turn is held for the saga's whole run, retries included: when a product's stream row
was held locked, each of its reserves waited 3 s for the lock and was answered 503, its
sagas retried to their deadline, and they held every turn, so orders for other products,
with stock on the shelf, waited 16 s behind them. Arrival order holds among the waiters
that can be let in: one whose product is at its share lets the others pass.
"""

import threading
from collections import Counter, deque
from collections.abc import Callable, Hashable
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

from eventkit.errors import Unavailable


class SagasBusy(Unavailable):
    code = "busy"


class FairGate:
    """At most ``size`` holders at once, and at most ``per_key`` of them with one key
    (holders that name none share one). Waiters are let in in the order they came, passing
    over those whose key holds its share: a place that frees goes to the oldest waiter
    that may have it."""

    def __init__(self, size: int, *, per_key: int | None = None):
        self._free = size
        self._per_key = size if per_key is None else per_key
        self._holding: Counter[Hashable] = Counter()  # places held, by key
        self._waiting: deque[tuple[Hashable, threading.Event]] = deque()
        self._lock = threading.Lock()

    @property
    def free(self) -> int:
        return self._free

    def acquire(
        self,
        timeout: float,
        *,
        key: Hashable = None,
        give_up: Callable[[], bool] | None = None,
        patience: float = 1.0,
    ) -> bool:
        """Wait up to ``timeout`` seconds for a place. One not let in within ``patience``
        seconds calls ``give_up()``, keeping its place in the queue meanwhile; if that
        answers True, it leaves without a place."""
        with self._lock:
            # A place stays free only while every waiter's key holds its share (a freed
            # one goes straight to any other), so taking it passes no one who could have it.
            if self._free and self._holding[key] < self._per_key:
                self._take(key)
                return True
            turn = threading.Event()
            self._waiting.append((key, turn))
        first = min(patience, timeout) if give_up is not None else timeout
        if turn.wait(first):
            return True
        if give_up is not None:
            try:
                giving_up = give_up()
            except BaseException:
                giving_up = True  # and raised: a place left in the queue would be lost
                raise
            finally:
                if giving_up and self._leave(key, turn):
                    self.release(key)  # let in while it was giving up: the place goes on
            if giving_up:
                return False
            if turn.wait(max(0.0, timeout - first)):
                return True
        return self._leave(key, turn)

    def _leave(self, key: Hashable, turn: threading.Event) -> bool:
        """Leave the queue; True if let in meanwhile (the place is then its own)."""
        with self._lock:
            if turn.is_set():
                return True
            self._waiting.remove((key, turn))
            return False

    def release(self, key: Hashable = None) -> None:
        with self._lock:
            self._holding[key] -= 1
            if not self._holding[key]:
                del self._holding[key]  # every product ever ordered would stay, at zero
            self._free += 1
            self._let_in_oldest_allowed()

    def _let_in_oldest_allowed(self) -> None:
        """The place passes straight to the oldest waiter whose key is under its share."""
        allowed = (w for w in self._waiting if self._holding[w[0]] < self._per_key)
        waiter = next(allowed, None)
        if waiter is not None:
            key, turn = waiter
            self._waiting.remove(waiter)
            self._take(key)
            turn.set()

    def _take(self, key: Hashable) -> None:
        self._free -= 1
        self._holding[key] += 1


_gate: FairGate | None = None
_gate_lock = threading.Lock()


def _the_gate() -> FairGate:
    global _gate
    with _gate_lock:
        if _gate is None:
            saga = settings.SAGA
            _gate = FairGate(saga["DRIVERS"], per_key=saga["DRIVERS_PER_PRODUCT"])
        return _gate


def give_back_connection() -> None:
    """Return this thread's database connection to the pool: Django keeps it to the end of
    the request otherwise, and a request waiting for a turn must hold none."""
    if not connection.in_atomic_block:
        connection.close()


@contextmanager
def driving_turn(*, product_id: Hashable, unless: Callable[[], object | None] | None = None):
    """Wait for a turn to drive a saga for this product, among the product's share of the
    turns (then 503 ``busy``); its connection goes back to the pool with the turn. A
    request still waiting after a second asks ``unless()`` (a repeat of a saga that has
    finished needs no turn): what it answers, if anything, is yielded instead of a turn."""
    gate = _the_gate()
    found = None

    def give_up() -> bool:
        nonlocal found
        found = unless()
        give_back_connection()  # it goes on waiting holding none
        return found is not None

    wait = settings.SAGA["TURN_WAIT_SECONDS"]
    if not gate.acquire(wait, key=product_id, give_up=unless and give_up):
        if found is None:
            raise SagasBusy("no saga driver of this process came free for this order; retry later")
        yield found
        return
    try:
        yield None
    finally:
        try:
            give_back_connection()
        finally:
            gate.release(product_id)  # whatever closing did: a turn lost would be lost for good
