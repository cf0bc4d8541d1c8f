"""A command's writes sent together: one round trip instead of one per statement.

A command transaction appends its events, moves its stream's version, updates its read
models and records its command id: half a dozen statements whose results nobody reads
before commit, each of which cost a round trip to PostgreSQL (about 0.2 ms of client CPU on
a small machine, in syscalls and libpq, and as long again of the stream's row lock held).

Inside :func:`batched`, :func:`send` queues such a statement instead of running it. The
queue goes out with the next statement the connection runs (a read must see the writes
before it), joined into that one ``execute`` as several statements, or at the end of the
block. Each queued statement may carry a check of its row count (the stream's version
check, a read-model row that must exist), run as its result comes back. Django's
client-side binding cursor sends several statements in one simple query; on SQLite, which
cannot, the queue is run one statement at a time, in the same order.
"""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection

Check = Callable[[int], None]  # receives a statement's row count; raises if it is wrong

_local = threading.local()


def _queue() -> list | None:
    return getattr(_local, "queue", None)


@contextmanager
def batched() -> Iterator[None]:
    """Queue the writes :func:`send` is given in this block; send them with the next
    other statement or at the end. A block inside another is part of the outer one."""
    if _queue() is not None:
        yield
        return
    _local.queue = []
    try:
        with connection.execute_wrapper(_send_queue_first):
            yield
            flush()
    finally:
        _local.queue = None  # an exception drops the queue: its transaction rolls back


def send(cursor, sql: str, params: list, check: Check | None = None) -> int | None:
    """Run ``sql`` now and return its row count, or queue it inside :func:`batched`
    (returning None): then ``check`` sees the row count when it comes back."""
    queue = _queue()
    if queue is not None:
        queue.append((sql, list(params), check))
        return None
    cursor.execute(sql, params)
    if check is not None:
        check(cursor.rowcount)
    return cursor.rowcount


def flush() -> None:
    """Send whatever is queued now (before a statement that bypasses Django's cursor)."""
    queue = _queue()
    if not queue:
        return
    _local.queue = []
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            _one_by_one(cursor, cursor.execute, queue)
            return
        cursor.execute(*_joined(queue))
        _check_each(cursor, queue, last=True)


def _send_queue_first(execute, sql, params, many, context):
    """Django's execute wrapper while batching: the queue goes out with this statement."""
    queue = _queue()
    if not queue:
        return execute(sql, params, many, context)
    _local.queue = []
    if sql.startswith("ROLLBACK"):
        # Rolling back to a savepoint: what was queued since it was set is undone anyway
        # (setting it sent everything queued before).
        return execute(sql, params, many, context)
    cursor = context["cursor"]
    joined_params = params
    if params is None and "%" not in sql:
        joined_params = ()  # SAVEPOINT, RELEASE, SET CONSTRAINTS: nothing to mistake for one
    if connection.vendor != "postgresql" or many or not isinstance(joined_params, list | tuple):
        # One by one: SQLite runs one statement per call, and SQL passed without parameters
        # is not escaped for them (a literal %), so it cannot be joined to ours.
        _one_by_one(cursor, lambda q_sql, q_params: execute(q_sql, q_params, False, context), queue)
        return execute(sql, params, many, context)
    result = execute(*_joined(queue, sql, joined_params), many, context)
    _check_each(cursor, queue, last=False)  # the caller's result is the one left current
    return result


def _joined(queue: list, sql: str | None = None, params=()) -> tuple[str, list]:
    statements = [q[0] for q in queue] + ([sql] if sql is not None else [])
    return ";\n".join(statements), [p for q in queue for p in q[1]] + list(params)


def _check_each(cursor, queue: list, *, last: bool) -> None:
    """Walk the results of a joined execute, checking each queued statement's row count."""
    for i, (_, _, check) in enumerate(queue):
        if check is not None:
            check(cursor.rowcount)
        if i < len(queue) - 1 or not last:
            cursor.nextset()


def _one_by_one(cursor, run: Callable, queue: list) -> None:
    for sql, params, check in queue:
        run(sql, params)
        if check is not None:
            check(cursor.rowcount)
