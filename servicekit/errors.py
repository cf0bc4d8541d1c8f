"""Every error answer is JSON: ``{"detail": ..., "code": ..., ...}``.

DRF's handler covers API views; the ``handler404``/``handler500`` functions cover what
Django answers before or outside DRF (unknown URLs, crashes), so a client never has to
parse an HTML error page.
"""

import logging
import sys

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from eventkit.errors import Conflict, DomainError, NotFound, Rejected, Unavailable
from eventkit.rows import MissingRow
from servicekit.dberrors import lock_wait_over, no_free_connection, refuses_writes
from servicekit.pool import forget_dead_connections, pool_shortage

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


# The code of a 503 whose statement waited DB_LOCK_TIMEOUT_MS for a lock held elsewhere (a
# command's own wait for its stream's row, EVENTKIT["LOCK_WAIT_MS"], is ``stream_busy``).
LOCKED = "locked"
LOCKED_DETAIL = "Another session holds a lock on this data; retry later."


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
