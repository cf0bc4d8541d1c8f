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

On PostgreSQL each statement is rendered with its values as it is queued (psycopg's
``mogrify``, what its client-side cursor does on ``execute``), and the joined text goes
out without parameters. psycopg remembers how to split a statement of up to 50
parameters, so rendering the statements one by one costs little, while the joined text of
a saga's write (over 50 parameters) would be parsed afresh on every execute.

The block also lends one cursor to everything that runs in it (:func:`command_cursor`): opening a
Django cursor costs about as much as rendering a statement, and a command used to open six.

What is still queued when the command is done (its command record, usually) can travel
with the transaction's ``COMMIT`` (:func:`commit_with_queue`), which saves one more round
trip and ends the stream's row lock that much sooner. Reads that do not depend on each
other can travel together too (:func:`fetch_together`: a command's id looked up in the
command log with its stream's lock).
"""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from django.db import DEFAULT_DB_ALIAS, connections

Check = Callable[[int], None]  # receives a statement's row count; raises if it is wrong

_local = threading.local()


class _Batch:
    """One :func:`batched` block's state: its connection, its queue and its cursor."""

    __slots__ = ("connection", "cursor", "joins", "queue")

    def __init__(self, connection):
        self.connection = connection
        self.joins = connection.vendor == "postgresql"
        # (sql, params, check): on PostgreSQL the sql is rendered and params is None
        self.queue: list[tuple[str, list | None, Check | None]] = []
        self.cursor = None

    def take_queue(self) -> list:
        queue, self.queue = self.queue, []
        return queue


def _batch() -> _Batch | None:
    return getattr(_local, "batch", None)


@contextmanager
def batched() -> Iterator[None]:
    """Queue the writes :func:`send` is given in this block; send them with the next
    other statement or at the end. A block inside another is part of the outer one."""
    if _batch() is not None:
        yield
        return
    batch = _local.batch = _Batch(connections[DEFAULT_DB_ALIAS])
    try:
        with batch.connection.execute_wrapper(_send_queue_first):
            yield
            flush()
    finally:
        _local.batch = None  # an exception drops the queue: its transaction rolls back
        if batch.cursor is not None:
            # a broken connection cannot close it; the error that broke it is on its way up
            with suppress(batch.connection.Database.Error):
                batch.cursor.close()


@contextmanager
def command_cursor():
    """A cursor on the default connection. Inside :func:`batched`, the block's own, which
    stays open until the block ends; outside, a new one, closed on leaving."""
    batch = _batch()
    if batch is None:
        with connections[DEFAULT_DB_ALIAS].cursor() as fresh:
            yield fresh
        return
    if batch.cursor is None:
        batch.cursor = batch.connection.cursor()
    yield batch.cursor


def send(cursor, sql: str, params: list, check: Check | None = None) -> int | None:
    """Run ``sql`` now and return its row count, or queue it inside :func:`batched`
    (returning None): then ``check`` sees the row count when it comes back."""
    batch = _batch()
    if batch is None:
        cursor.execute(sql, params)
        if check is not None:
            check(cursor.rowcount)
        return cursor.rowcount
    if batch.joins:
        batch.queue.append((cursor.cursor.mogrify(sql, params), None, check))
    else:
        batch.queue.append((sql, list(params), check))
    return None


def flush() -> None:
    """Send whatever is queued now (before a statement that bypasses Django's cursor)."""
    batch = _batch()
    if batch is None or not batch.queue:
        return
    queue = batch.take_queue()
    with command_cursor() as shared:
        if not batch.joins:
            _one_by_one(shared, shared.execute, queue)
            return
        shared.execute(_joined(queue), None)
        _check_each(shared, queue, last=True)


def commit_with_queue() -> bool:
    """Commit the transaction with what is queued, in one round trip; whether it did.

    Only for the block's own transaction, from its outermost level, as its last act. It
    does not when nothing is queued, on SQLite, when a queued statement waits for its row
    count to be checked (a check that fails must still be able to roll back) or when the
    transaction is marked for rollback: then the caller commits as usual. If a statement
    fails, PostgreSQL skips the rest, ``COMMIT`` included, and the error rolls back as any
    other. Django's own commit that follows finds the connection outside a transaction,
    which psycopg takes as nothing to do, and runs the on-commit hooks as usual.
    """
    batch = _batch()
    if batch is None or not batch.joins or not batch.queue:
        return False
    connection = batch.connection
    # Django would not commit here: the transaction is marked for rollback, a savepoint is
    # open, or it was begun outside Django's atomic blocks and is not ours to end.
    if connection.needs_rollback or connection.savepoint_ids or not connection.commit_on_exit:
        return False
    if any(check is not None for _, _, check in batch.queue):
        return False
    queue = batch.take_queue()
    with command_cursor() as shared:
        shared.execute(_joined(queue, "COMMIT"), None)
    return True


def fetch_together(cursor, statements: list[tuple[str, list]]) -> list[list[tuple]]:
    """Run several reads in one round trip; the rows of each, in order.

    On PostgreSQL they go out rendered and joined, as one text, and their results are read
    one after the other; on SQLite, which runs one statement per call, one by one. Inside
    :func:`batched`, what is queued goes first, as with any statement."""
    if cursor.db.vendor != "postgresql":
        answers = []
        for sql, params in statements:
            cursor.execute(sql, params)
            answers.append(cursor.fetchall())
        return answers
    cursor.execute(_joined([(cursor.cursor.mogrify(sql, params),) for sql, params in statements]))
    answers = [cursor.fetchall()]
    for _ in statements[1:]:
        cursor.nextset()
        answers.append(cursor.fetchall())
    return answers


def _send_queue_first(execute, sql, params, many, context):
    """Django's execute wrapper while batching: the queue goes out with this statement."""
    batch = _batch()
    if batch is None or not batch.queue:
        return execute(sql, params, many, context)
    queue = batch.take_queue()
    if sql.startswith("ROLLBACK"):
        # Rolling back to a savepoint: what was queued since it was set is undone anyway
        # (setting it sent everything queued before).
        return execute(sql, params, many, context)
    if not batch.joins or many:
        # One by one: SQLite runs one statement per call.
        _one_by_one(
            context["cursor"],
            lambda q_sql, q_params: execute(q_sql, q_params, False, context),
            queue,
        )
        return execute(sql, params, many, context)
    if params is not None:
        sql = context["cursor"].cursor.mogrify(sql, params)
    # SQL passed without parameters (SAVEPOINT, RELEASE, SET CONSTRAINTS) is sent as written
    result = execute(_joined(queue, sql), None, many, context)
    _check_each(context["cursor"], queue, last=False)  # the caller's result is left current
    return result


def _joined(queue: list, sql: str | None = None) -> str:
    """The rendered statements of ``queue`` (and ``sql``) as one text."""
    return ";\n".join([q[0] for q in queue] + ([sql] if sql is not None else []))


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
