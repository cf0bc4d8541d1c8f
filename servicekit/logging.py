"""Log configuration: one line per record, tagged with service and correlation id.

``LOG_FORMAT=json`` switches to JSON lines (python-json-logger) for log shippers; the
default text format is for people reading ``manage_all.py up`` output.
"""

import logging
import threading
import time

import redis

from servicekit import context


class ContextFilter(logging.Filter):
    """Stamps every record with the service name and the current correlation id."""

    def __init__(self, service: str = "-"):
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        if not getattr(record, "correlation_id", None):
            record.correlation_id = context.current_correlation_id() or "-"
        return True


class SuspiciousRequests(logging.Filter):
    """Django logs every SuspiciousOperation of a request (a body over the size limit, too
    many fields, a host not allowed) on ``django.security.*`` as an ERROR with its
    traceback. The client was at fault and has had its 4xx; one WARNING line says so, and
    no client can fill the error log with tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security."):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = record.stack_info = None
        return True


class AnswersLoggedOnce(logging.Filter):
    """Django logs every 4xx and 5xx answer on ``django.request`` ("Service Unavailable:
    /api/products", as an ERROR for a 5xx), after the middleware has let go of the
    correlation id. An answer a view chose to give (a 400, or a 503 with Retry-After: a peer
    or the database down) is already the request's line (``servicekit.request``, with its
    correlation id); a second line naming no request only misleads, at the level of a crash
    for a 5xx. A crash carries its exception and keeps its line and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "django.request" or record.exc_info is not None


def described(exc: BaseException) -> str:
    """An exception as a log line names it: its kind and its text. Not ``repr()``, which for
    redis-py's exceptions is their kind alone ("network:ConnectionError")."""
    return f"{type(exc).__name__}: {exc}"


class RedisOutagesQuieted(logging.Filter):
    """channels-redis logs "Unexpected exception in receive task" with a traceback every
    second while Redis is out of reach: hundreds of tracebacks for one outage, which bury
    whatever else happened. One WARNING line a minute says that Redis is out of reach and
    how many such errors it stands for; any other error keeps its traceback."""

    EVERY_SECONDS = 60.0

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        self._said_at: float | None = None
        self._quieted = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("channels_redis") or not record.exc_info:
            return True
        exc = record.exc_info[1]
        if not isinstance(exc, redis.ConnectionError | redis.TimeoutError | OSError):
            return True
        now = time.monotonic()
        with self._lock:
            if self._said_at is not None and now - self._said_at < self.EVERY_SECONDS:
                self._quieted += 1
                return False
            quieted, self._said_at, self._quieted = self._quieted, now, 0
        since = f"; {quieted} more like it since the last such line" if quieted else ""
        record.msg = "Redis unavailable to the channel layer: websocket pushes wait for it (%s%s)"
        record.args = (described(exc), since)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = record.stack_info = None
        return True


def logging_config(*, service: str, fmt: str = "text", level: str = "INFO") -> dict:
    formatters = {
        "text": {
            "format": "%(asctime)s %(levelname)-7s %(name)s [%(correlation_id)s] %(message)s",
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(service)s %(correlation_id)s "
            "%(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": ContextFilter, "service": service},
            "suspicious": {"()": SuspiciousRequests},
            "answers_once": {"()": AnswersLoggedOnce},
            "redis_outages": {"()": RedisOutagesQuieted},
        },
        "formatters": {"default": formatters["json" if fmt == "json" else "text"]},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["context", "suspicious", "answers_once", "redis_outages"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Requests are logged once, by our middleware, with the correlation id.
            "django.request": {"level": "ERROR"},
            "django.server": {"level": "WARNING"},
        },
    }
