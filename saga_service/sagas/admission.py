"""How many sagas one process drives at once, and in what order the rest get their turn.

A saga keeps one pooled database connection from its first write to its end, which lasts
as long as its participants take to answer. When the pool itself bounded the sagas, a
participant that hung held every connection: the process's health check, its saga and
event reads and even the answers of finished sagas waited for one, and were answered 503.
So a gate admits ``SAGA_DRIVERS`` sagas at once, in arrival order (fair admission keeps the
tail of the latency close to its median), and the pool keeps a few connections beyond
them for everything else.
"""

import threading
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

from eventkit.errors import Unavailable


class SagasBusy(Unavailable):
    code = "busy"


class FairGate:
    """At most ``size`` holders at once; waiters are let in in the order they came."""

    def __init__(self, size: int):
        self._free = size
        self._waiting: deque[threading.Event] = deque()
        self._lock = threading.Lock()

    def acquire(
        self,
        timeout: float,
        *,
        give_up: Callable[[], bool] | None = None,
        patience: float = 1.0,
    ) -> bool:
        """Wait up to ``timeout`` seconds for a place. One not let in within ``patience``
        seconds calls ``give_up()``, keeping its place in the queue meanwhile; if that
        answers True, it leaves without a place."""
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return True
            turn = threading.Event()
            self._waiting.append(turn)
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
                if giving_up and self._leave(turn):
                    self.release()  # let in while it was giving up: the place goes on
            if giving_up:
                return False
            if turn.wait(max(0.0, timeout - first)):
                return True
        return self._leave(turn)

    def _leave(self, turn: threading.Event) -> bool:
        """Leave the queue; True if let in meanwhile (the place is then its own)."""
        with self._lock:
            if turn.is_set():
                return True
            self._waiting.remove(turn)
            return False

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()  # the place passes straight to the oldest
            else:
                self._free += 1


_gate: FairGate | None = None
_gate_lock = threading.Lock()


def _the_gate() -> FairGate:
    global _gate
    with _gate_lock:
        if _gate is None:
            _gate = FairGate(settings.SAGA["DRIVERS"])
        return _gate


def give_back_connection() -> None:
    """Return this thread's database connection to the pool: Django keeps it to the end of
    the request otherwise, and a request waiting for a turn must hold none."""
    if not connection.in_atomic_block:
        connection.close()


@contextmanager
def driving_turn(*, unless: Callable[[], object | None] | None = None):
    """Wait for a turn to drive a saga (then 503 ``busy``); its connection goes back to the
    pool with the turn. A request still waiting after a second asks ``unless()`` (a
    repeat of a saga that has finished needs no turn): what it answers, if anything, is
    yielded instead of a turn."""
    gate = _the_gate()
    found = None

    def give_up() -> bool:
        nonlocal found
        found = unless()
        give_back_connection()  # it goes on waiting holding none
        return found is not None

    if not gate.acquire(settings.SAGA["TURN_WAIT_SECONDS"], give_up=unless and give_up):
        if found is None:
            raise SagasBusy("every saga driver of this process is busy; retry later")
        yield found
        return
    try:
        yield None
    finally:
        try:
            give_back_connection()
        finally:
            gate.release()  # whatever closing did: a turn lost would be lost for good
