"""Request middleware: correlation id in, correlation id out, one log line per request."""

import logging
import re
import time

from servicekit import context

logger = logging.getLogger("servicekit.request")

CORRELATION_HEADER = "X-Correlation-ID"
# Accept ids that other systems mint (UUIDs, trace ids) but nothing that could forge log lines.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


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
        log = logger.warning if response.status_code >= 500 else logger.info
        log(
            "%s %s -> %s in %.1f ms",
            request.method,
            request.get_full_path(),
            response.status_code,
            elapsed_ms,
            extra={
                "correlation_id": cid,
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed_ms, 2),
            },
        )
        return response
