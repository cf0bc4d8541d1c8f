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

    def acquire(self, timeout: float) -> bool:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return True
            turn = threading.Event()
            self._waiting.append(turn)
        if turn.wait(timeout):
            return True
        with self._lock:
            if turn.is_set():  # let in while it was giving up: the place is its own
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


def turn_free_now() -> bool:
    """Take a turn if one is free at once. A request that finds none may need no turn: a
    repeat of a finished saga only reads its answer."""
    return _the_gate().acquire(timeout=0)


@contextmanager
def driving_turn(*, taken: bool = False):
    """Wait for a turn to drive a saga (then 503 ``busy``), unless ``taken`` already; its
    connection goes back to the pool with the turn."""
    gate = _the_gate()
    if not taken and not gate.acquire(timeout=settings.SAGA["TURN_WAIT_SECONDS"]):
        raise SagasBusy("every saga driver of this process is busy; retry later")
    try:
        yield
    finally:
        try:
            give_back_connection()
        finally:
            gate.release()  # whatever closing did: a turn lost would be lost for good
