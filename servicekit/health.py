"""``GET /health``: 200 when the service can reach its database, 503 when it cannot."""

import logging
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from servicekit.errors import forget_dead_connections

logger = logging.getLogger(__name__)


# A database that answers may still refuse every write (a standby after a failover, or
# default_transaction_read_only), and every command would fail: not healthy either.
_PROBE = {"postgresql": "SELECT current_setting('transaction_read_only')"}


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
        with connection.cursor() as cursor:
            cursor.execute(_PROBE.get(connection.vendor, "SELECT 'off'"))
            read_only = cursor.fetchone()[0] == "on"
    except Exception as exc:  # any failure to reach the database means "not healthy"
        logger.warning("health check failed: %s", exc)
        if isinstance(exc, OperationalError | InterfaceError):
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
