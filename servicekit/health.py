"""``GET /health``: 200 when the service can reach its database, 503 when it cannot.

Its answer is public (the BFF's is reachable from the internet), so it says what kind of
failure it met and no more: the database's own error names its host, port and user, and
goes to the service's log instead.
"""

import logging
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as ProbeTimeout

import psycopg
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from servicekit.dberrors import connection_lost, no_free_connection
from servicekit.pool import forget_dead_connections

logger = logging.getLogger(__name__)


# A database that answers may still refuse every write (a standby after a failover, or
# default_transaction_read_only), and every command would fail: not healthy either.
_PROBE = {"postgresql": "SELECT current_setting('transaction_read_only')"}


# How long /health waits for a pooled connection, where a request waits DB_POOL_TIMEOUT
# (10 s): a container's health check gives up after 3 s (compose.yaml), and should see
# the 503 that says why, not its own timeout.
POOL_WAIT_SECONDS = 2.0

# How long /health waits for the probe's answer, the pool's wait included. A server that
# hangs (stopped, or its disk stalled) keeps an open connection waiting for good: no
# client-side timeout of psycopg's bounds a query, so the probe runs in a thread of its
# own and the request stops waiting for it.
ANSWER_WAIT_SECONDS = 2.5

UNREACHABLE = "unavailable: see the service's log"
NO_CONNECTION = f"couldn't get a connection within {POOL_WAIT_SECONDS:g} s"
NOT_ANSWERING = f"not answering: no answer within {ANSWER_WAIT_SECONDS:g} s"
READ_ONLY = "read-only: it refuses writes (a standby, or writes switched off)"


def _database_refuses_writes() -> bool:
    """Whether the database refuses writes; raises if it cannot be reached."""
    probe = _PROBE.get(connection.vendor, "SELECT 'off'")
    pool = getattr(connection, "pool", None)
    if pool is None:
        with connection.cursor() as cursor:
            cursor.execute(probe)
            return cursor.fetchone()[0] == "on"
    pool.open()  # Django opens it at its first connection: this may come first
    with pool.connection(timeout=POOL_WAIT_SECONDS) as conn:
        return conn.execute(probe).fetchone()[0] == "on"


def _probe_pooled() -> bool:
    """The probe through the pool, in the probe's thread. A dead pooled connection (the
    server restarted, or dropped its clients) has the pool test the others, and the probe
    runs once more, all within the request's bound. Served again by the middleware instead,
    it waited the pool's whole DB_POOL_TIMEOUT (10 s) for a connection while the server was
    down, past a container's health check (3 s)."""
    try:
        return _database_refuses_writes()
    except Exception as exc:
        if no_free_connection(exc) or not _database_error(exc) or not connection_lost(exc):
            raise
        logger.warning("health check failed: %s; once more", exc)
        forget_dead_connections(exc)
        return _database_refuses_writes()


_probing = threading.Lock()
_probe: Future | None = None


def _probe_answer() -> Future:
    """The probe under way, or a new one. One at a time per process: against a hung
    server, each health check would otherwise leave one more connection waiting. Its
    thread is a daemon, so that a probe stuck on a hung server does not keep the process
    from ending."""
    global _probe
    with _probing:
        if _probe is None or _probe.done():
            _probe = Future()
            runner = threading.Thread(
                target=_run_probe, args=(_probe,), name="health-probe", daemon=True
            )
            runner.start()
        return _probe


def _run_probe(answer: Future) -> None:
    answer.set_running_or_notify_cancel()
    try:
        answer.set_result(_probe_pooled())
    except BaseException as exc:  # handed to the requests that wait for it
        answer.set_exception(exc)


def _database_error(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError | InterfaceError | psycopg.Error)


def _unhealthy(reason: str) -> JsonResponse:
    return JsonResponse(
        {"status": "unhealthy", "service": settings.SERVICE_NAME, "database": reason},
        status=503,
    )


@csrf_exempt  # nothing to forge: any other method is a 405, as on the APIs
def health(request):
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(
            {"detail": f'Method "{request.method}" not allowed.', "code": "method_not_allowed"},
            status=405,
        )
        response["Allow"] = "GET, HEAD"
        return response
    started = time.perf_counter()
    pooled = getattr(connection, "pool", None) is not None
    try:
        # Without a pool (SQLite, or DB_POOL=0) the probe uses this thread's connection.
        read_only = (
            _probe_answer().result(timeout=ANSWER_WAIT_SECONDS)
            if pooled
            else _database_refuses_writes()
        )
    except ProbeTimeout:
        logger.warning(
            "health check failed: the database has not answered for %gs", ANSWER_WAIT_SECONDS
        )
        return _unhealthy(NOT_ANSWERING)
    except Exception as exc:  # any failure to reach the database means "not healthy"
        logger.warning("health check failed: %s", exc)
        if no_free_connection(exc):
            return _unhealthy(NO_CONNECTION)
        if not pooled and _database_error(exc):
            forget_dead_connections(exc)  # served once more by the middleware
        return _unhealthy(UNREACHABLE)
    if read_only:
        logger.warning("health check failed: the database refuses writes")
        return _unhealthy(READ_ONLY)
    return JsonResponse(
        {
            "status": "healthy",
            "service": settings.SERVICE_NAME,
            "database": connection.vendor,
            "database_ms": round((time.perf_counter() - started) * 1000, 2),
        }
    )
