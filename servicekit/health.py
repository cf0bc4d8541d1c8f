"""``GET /health``: 200 when the service can reach its database, 503 when it cannot."""

import logging
import time

import psycopg
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from servicekit.errors import forget_dead_connections, no_free_connection

logger = logging.getLogger(__name__)


# A database that answers may still refuse every write (a standby after a failover, or
# default_transaction_read_only), and every command would fail: not healthy either.
_PROBE = {"postgresql": "SELECT current_setting('transaction_read_only')"}


# How long /health waits for a pooled connection, where a request waits DB_POOL_TIMEOUT
# (10 s): a container's health check gives up after 3 s (compose.yaml), and should see
# the 503 that says why, not its own timeout.
POOL_WAIT_SECONDS = 2.0


def _database_refuses_writes() -> bool:
    """Whether the database refuses writes; raises if it cannot be reached."""
    probe = _PROBE.get(connection.vendor, "SELECT 'off'")
    pool = getattr(connection, "pool", None)
    if pool is None or connection.connection is not None:
        with connection.cursor() as cursor:
            cursor.execute(probe)
            return cursor.fetchone()[0] == "on"
    pool.open()  # Django opens it at its first connection: this may come first
    with pool.connection(timeout=POOL_WAIT_SECONDS) as conn:
        return conn.execute(probe).fetchone()[0] == "on"


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
    try:
        read_only = _database_refuses_writes()
    except Exception as exc:  # any failure to reach the database means "not healthy"
        logger.warning("health check failed: %s", exc)
        failed = isinstance(exc, OperationalError | InterfaceError | psycopg.Error)
        if failed and not no_free_connection(exc):
            forget_dead_connections(exc)  # a dead pooled connection: checked once more after
        return JsonResponse(
            {"status": "unhealthy", "service": settings.SERVICE_NAME, "database": str(exc)},
            status=503,
        )
    if read_only:
        logger.warning("health check failed: the database refuses writes")
        return JsonResponse(
            {
                "status": "unhealthy",
                "service": settings.SERVICE_NAME,
                "database": "read-only: it refuses writes (a standby, or writes switched off)",
            },
            status=503,
        )
    return JsonResponse(
        {
            "status": "healthy",
            "service": settings.SERVICE_NAME,
            "database": connection.vendor,
            "database_ms": round((time.perf_counter() - started) * 1000, 2),
        }
    )
