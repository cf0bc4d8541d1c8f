"""What a database error means, by its SQLSTATE: the connection lost, writes refused, a
wait for a lock or for a pooled connection run out. Plain predicates, free of HTTP, so that
the event store, the workers and the API's answers ask them alike."""

from django.db import InterfaceError
from psycopg_pool import PoolTimeout


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, psycopg's own or as Django hands it on (psycopg's
    error its cause), or None where there is none (SQLite, a connection that failed before
    any answer)."""
    own = getattr(exc, "sqlstate", None)
    return own or getattr(getattr(exc, "__cause__", None), "sqlstate", None)


def connection_lost(exc: Exception) -> bool:
    """Whether ``exc`` says the connection itself is gone: no SQLSTATE, a connection error
    (class 08), or the server ending it (57P01 to 57P03), not a statement's own failure."""
    if isinstance(exc, InterfaceError):
        return True
    state = sqlstate(exc)
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


# SQLSTATE read_only_sql_transaction
READ_ONLY_SQLSTATE = "25006"


def refuses_writes(exc: BaseException) -> bool:
    """Whether ``exc`` is the database refusing writes for now (a standby after a failover,
    or writes switched off with ``default_transaction_read_only``), not the statement's own
    fault."""
    return sqlstate(exc) == READ_ONLY_SQLSTATE


def lock_wait_over(exc: BaseException) -> bool:
    """Whether ``exc`` is a statement's wait for a lock running out (lock_not_available)."""
    return sqlstate(exc) == "55P03"


def no_free_connection(exc: BaseException) -> bool:
    """Whether ``exc`` is the pool's wait for a connection running out (raised by the pool,
    or handed on by Django with it as the cause): every connection in use, or the server
    out of reach while the pool tries to open more. It has none idle to test."""
    return isinstance(exc, PoolTimeout) or isinstance(exc.__cause__, PoolTimeout)
