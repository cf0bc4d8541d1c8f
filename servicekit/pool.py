"""Keeping a service's pooled database connections usable: after the database dropped
its clients every pooled connection is dead, and each would fail a request of its own."""

import contextvars
import logging
import threading

from django.db import DatabaseError, connection

from servicekit.dberrors import connection_lost

logger = logging.getLogger(__name__)

_checking = threading.Lock()


# Set when the request met a failing database connection: a read is then tried once more
# (servicekit.middleware.RetryReadMiddleware), on a connection the pool has checked.
database_failed = contextvars.ContextVar("database_failed", default=False)


def forget_dead_connections(exc: Exception) -> None:
    """Have the connection pool test its idle connections and replace the dead ones.

    A database that restarted, failed over or dropped its clients leaves every pooled
    connection dead, and the pool hands them out one by one: each would fail a request of
    its own. The first failure tests them all instead (one at a time per process; a check
    already under way serves the others). A read that met a lost connection is served
    again; one that met a timeout or a deadlock is not, where it would double the load."""
    if connection_lost(exc):
        database_failed.set(True)
    pool = getattr(connection, "pool", None)
    # A pool not opened yet has nothing to test, and checking it would mark it as growing
    # for good (psycopg_pool 3.3): it would never open more than its first connection.
    if pool is None or pool.closed or not _checking.acquire(blocking=False):
        return
    try:
        pool.check()
    except Exception as exc:  # the database still down: the next request finds out
        logger.warning("could not check the pooled connections: %r", exc)
    finally:
        _checking.release()


def take_a_working_connection() -> bool:
    """Give this thread's connection back and take one that answers; False if none does.

    The connection taken may not have been checked yet: the pool's check runs in one request
    at a time, while others take connections (seen when the server had dropped them all).
    So it is tested, and a dead one goes back to be dropped, up to as many as the pool
    holds, plus a new one."""
    pool = getattr(connection, "pool", None)
    for _ in range(getattr(pool, "max_size", 2) + 1):
        connection.close()
        try:
            connection.ensure_connection()
        except DatabaseError:
            return False  # the database itself does not answer
        if connection.is_usable():
            return True
    return False


def pool_shortage(pool=None) -> tuple[bool, str]:
    """Why the pool's wait ran out, as its counts tell: whether every connection it may hold
    was in use for the whole wait (by requests slow themselves: a participant not
    answering, say), and the reason in words. Otherwise it could not open more: the
    database is down or restarting, refuses connections, or the server is out of them (the
    pool's own warnings give PostgreSQL's reason)."""
    pool = pool or getattr(connection, "pool", None)
    if pool is None:
        return False, "no pool"
    stats = pool.get_stats()
    size, most = stats.get("pool_size", 0), stats.get("pool_max", pool.max_size)
    if size >= most:
        return True, f"all {most} of the pool's connections in use"
    return False, (
        f"the pool holds {size} of up to {most} and could not open more: see its warnings "
        "for the database's reason"
    )
