"""Request middleware: correlation id in, correlation id out, one log line per request.

The line is INFO, WARNING for a server error, and DEBUG for successful health checks and
feed polls (``GET /events?after=``), which repeat all day whether anything happens or not.
An error's line ends with its answer's code: a 503 ``stream_busy`` (a lock held on the
data) and a 503 ``unavailable`` (the database down) want different remedies.
"""

import json
import logging
import re
import time

from django.db import InterfaceError, OperationalError

from servicekit import context
from servicekit.pool import database_failed, forget_dead_connections, take_a_working_connection

logger = logging.getLogger("servicekit.request")

CORRELATION_HEADER = "X-Correlation-ID"
# Accept ids that other systems mint (UUIDs, trace ids) but nothing that could forge log lines.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _polled(request) -> bool:
    """Health checks and consumers' polls of the feed: every peer sends them every few seconds,
    so at INFO an idle system would log little else."""
    if request.method != "GET":
        return False
    return request.path_info == "/health" or (
        request.path_info == "/events" and "after" in request.GET
    )


class CorrelationIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(CORRELATION_HEADER, "")
        cid = incoming if _SAFE_ID.match(incoming) else context.new_correlation_id()
        token = context.correlation_id.set(cid)
        request.correlation_id = cid
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            context.correlation_id.reset(token)
        response[CORRELATION_HEADER] = cid
        elapsed_ms = (time.perf_counter() - started) * 1000
        if response.status_code >= 500:
            level = logging.WARNING
        elif response.status_code < 400 and _polled(request):
            level = logging.DEBUG
        else:
            level = logging.INFO
        code = _error_code(response) if response.status_code >= 400 else None
        line = "%s %s -> %s in %.1f ms"
        args = [request.method, request.get_full_path(), response.status_code, elapsed_ms]
        if code:
            line += " (%s)"
            args.append(code)
        logger.log(
            level,
            line,
            *args,
            extra={
                "correlation_id": cid,
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed_ms, 2),
                "code": code,
            },
        )
        return response

    def process_exception(self, request, exception):
        """A view outside DRF (the admin) that met a dead pooled connection: its request
        fails as before, but the pool's other dead ones go with it (DRF's views do the same
        in :func:`servicekit.errors.api_exception_handler`)."""
        if isinstance(exception, OperationalError | InterfaceError):
            forget_dead_connections(exception)


def _error_code(response) -> str | None:
    """The ``code`` of a JSON error answer (DRF's before or after rendering, or Django's)."""
    data = getattr(response, "data", None)
    if data is None and not response.streaming:
        if not response.get("Content-Type", "").startswith("application/json"):
            return None
        try:
            data = json.loads(response.content)
        except ValueError:
            return None
    code = data.get("code") if isinstance(data, dict) else None
    return code if isinstance(code, str) else None


class RetryReadMiddleware:
    """A read that met a failing database connection is tried once more.

    A database that restarted or dropped its clients leaves every pooled connection dead.
    The first request to meet one has the pool check the others
    (:func:`~servicekit.pool.forget_dead_connections`), but its own answer was a 503, and
    a connection out of the pool at that moment is met by a later request. A ``GET`` or
    ``HEAD`` changes nothing, so it is simply served again on a fresh connection; a command
    is not: its client sends it again with its key.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = database_failed.set(False)  # a pool thread's context outlives its requests
        try:
            response = self.get_response(request)
            if (
                database_failed.get()
                and response.status_code == 503
                and request.method in ("GET", "HEAD")
            ):
                logger.info("%s %s: the database failed; once more", request.method, request.path)
                if take_a_working_connection():
                    database_failed.set(False)
                    response = self.get_response(request)
            return response
        finally:
            database_failed.reset(token)
