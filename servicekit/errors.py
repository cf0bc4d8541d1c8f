"""Every error answer is JSON: ``{"detail": ..., "code": ..., ...}``.

DRF's handler covers API views; the ``handler404``/``handler500`` functions cover what
Django answers before or outside DRF (unknown URLs, crashes), so a client never has to
parse an HTML error page.
"""

import contextvars
import logging
import sys
import threading

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import JsonResponse
from psycopg_pool import PoolTimeout
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from eventkit.errors import Conflict, DomainError, NotFound, Rejected, Unavailable
from eventkit.rows import MissingRow

logger = logging.getLogger(__name__)

DOMAIN_STATUS = (
    (NotFound, status.HTTP_404_NOT_FOUND),
    (Rejected, status.HTTP_409_CONFLICT),
    (Conflict, status.HTTP_409_CONFLICT),
    (Unavailable, status.HTTP_503_SERVICE_UNAVAILABLE),
)


# A 503 is temporary: a peer or the database restarting. Saying when to come back lets a
# client retry (with the same Idempotency-Key) instead of giving up or hammering.
RETRY_AFTER = {"Retry-After": "2"}


def domain_error_response(exc: DomainError) -> Response:
    code = next((s for cls, s in DOMAIN_STATUS if isinstance(exc, cls)), 400)
    body = {"detail": exc.message, "code": exc.code, **exc.details}
    return Response(body, status=code, headers=RETRY_AFTER if code == 503 else None)


def api_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return domain_error_response(exc)
    if no_free_connection(exc):
        full, why = pool_shortage()
        logger.error("no free database connection: %s (%s)", exc, why)
        if full:
            return _unavailable("The service is busy; retry later.", BUSY)
        return _unavailable("The database is unavailable; retry later.")
    if lock_wait_over(exc):
        # Another session holds what this request reads (a LOCK TABLE, a migration, a
        # rebuild): the database is fine, and the connection too.
        logger.warning("a lock held elsewhere outlasted the request's wait: %s", exc)
        return _unavailable(LOCKED_DETAIL, LOCKED)
    if isinstance(exc, OperationalError | InterfaceError):
        logger.error("database unavailable: %s", exc)
        forget_dead_connections(exc)
        return _unavailable("The database is unavailable; retry later.")
    if isinstance(exc, MissingRow):
        # Not the request's fault, and no retry mends it until an operator rebuilds the read
        # models: the answer says what to run. Then the same command goes through, so it is
        # a 503 (the saga retries it until its deadline), not a 4xx.
        logger.error("a read model has drifted from the events: %s", exc)
        return _unavailable(
            "A read model has drifted from the events; an operator must run"
            " manage.py rebuild_projections.",
            "read_model_drift",
        )
    if refuses_writes(exc):
        logger.error("the database refuses writes: %s", exc)
        return _unavailable("The database is read-only for now; retry later.", "read_only")
    response = exception_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's handler500 answers and logs it
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "Invalid input.", "code": "invalid", "errors": exc.detail}
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        response.data = {
            "detail": str(exc.detail),
            "code": codes if isinstance(codes, str) else "error",
        }
    return response


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


def no_free_connection(exc: BaseException) -> bool:
    """Whether ``exc`` is the pool's wait for a connection running out (raised by the pool,
    or handed on by Django with it as the cause): every connection in use, or the server
    out of reach while the pool tries to open more. It has none idle to test."""
    return isinstance(exc, PoolTimeout) or isinstance(exc.__cause__, PoolTimeout)


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


# The code of a 503 whose statement waited DB_LOCK_TIMEOUT_MS for a lock held elsewhere.
LOCKED = "locked"
LOCKED_DETAIL = "Another session holds a lock on this data; retry later."


def lock_wait_over(exc: BaseException) -> bool:
    """Whether ``exc`` is a statement's wait for a lock running out (lock_not_available)."""
    return sqlstate(exc) == "55P03"


# The code of a 503 whose request waited the pool's whole DB_POOL_TIMEOUT for a connection
# while every one the pool may hold was in use: the service is at its capacity, and the
# database may be fine.
BUSY = "busy"


def _unavailable(detail: str, code: str = "unavailable") -> Response:
    body = {"detail": detail, "code": code}
    return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers=RETRY_AFTER)


def json_not_found(request, exception=None):
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)


# A body over the size limit, as every service answers it (the BFF before Django sees it).
TOO_LARGE = {"detail": "Request body too large.", "code": "too_large"}


def json_bad_request(request, exception=None):
    if isinstance(exception, RequestDataTooBig):  # over DATA_UPLOAD_MAX_MEMORY_SIZE
        return JsonResponse(TOO_LARGE, status=413)
    return JsonResponse({"detail": "Bad request.", "code": "bad_request"}, status=400)


def csrf_failure(request, reason=""):
    """A refused cross-site POST: JSON like every other error, but for the admin, whose
    users are people in a browser and get Django's own page (it says what to do)."""
    if request.path.startswith("/admin/"):
        from django.views.csrf import csrf_failure as admin_page

        return admin_page(request, reason)
    return JsonResponse(
        {"detail": f"CSRF verification failed: {reason}", "code": "csrf_failed"}, status=403
    )


def json_server_error(request):
    # A lock held elsewhere met outside DRF's views (the admin's session middleware, say)
    # is not the server's fault: answered as a view's would be (found from outside: a 500).
    if lock_wait_over(sys.exc_info()[1] or Exception()):
        body = {"detail": LOCKED_DETAIL, "code": LOCKED}
        return JsonResponse(body, status=503, headers=RETRY_AFTER)
    return JsonResponse({"detail": "Internal server error.", "code": "server_error"}, status=500)
