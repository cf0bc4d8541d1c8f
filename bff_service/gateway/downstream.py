"""Calls from the BFF to the services behind it.

One :class:`servicekit.http.PeerClient` per process, a connect and a read timeout on
every call, the service token on every call, and the correlation id passed along.
:func:`gather` runs independent reads in parallel and reports which services could not
answer instead of failing the whole page: the BFF answers with what it has and a ``degraded`` list.
"""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests
from django.conf import settings

from eventkit.errors import Unavailable
from servicekit.context import current_correlation_id
from servicekit.errors import LOCKED
from servicekit.http import PeerClient

logger = logging.getLogger(__name__)

SERVICE_URL_SETTINGS = {
    "order-service": "ORDER_SERVICE_URL",
    "inventory-service": "INVENTORY_SERVICE_URL",
    "saga-service": "SAGA_SERVICE_URL",
    "marketing-service": "MARKETING_SERVICE_URL",
}

_client: PeerClient | None = None

# One pool of threads per service (a bulkhead): a service that stops answering holds only
# its own threads for their timeouts, and the reads of every other service, queued behind
# them in one shared pool, would have waited as long.
THREADS_PER_SERVICE = 8
_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(service: str) -> ThreadPoolExecutor:
    with _pools_lock:
        if service not in _pools:
            _pools[service] = ThreadPoolExecutor(
                max_workers=THREADS_PER_SERVICE, thread_name_prefix=f"downstream-{service}"
            )
        return _pools[service]


class ServiceUnavailable(Unavailable):
    code = "service_unavailable"

    def __init__(self, message: str, *, code: str | None = None, **details):
        super().__init__(message, **details)
        if code is not None:
            self.code = code


# The codes of a service's 503 that say more than that it is unavailable, passed on to the
# client with the service named: a lock held in its database (a LOCK TABLE, a migration, a
# rebuild: `locked` for a read, `stream_busy` for a command), every connection of its pool
# in use, writes refused, a read model an operator must rebuild. Found from outside: the
# BFF said `service_unavailable` for all of them, as for a service that is down.
PASSED_ON = frozenset({LOCKED, "stream_busy", "busy", "read_only", "read_model_drift"})


@dataclass(frozen=True)
class Answer:
    status: int
    body: object
    headers: dict

    @property
    def total(self) -> int | None:
        value = self.headers.get("X-Total-Count")
        return int(value) if value is not None else None


def client() -> PeerClient:
    global _client
    if _client is None:
        _client = PeerClient()
    return _client


# A 503's Retry-After is waited for before sending again, but never longer than this: the
# client of the BFF waits meanwhile.
MAX_RETRY_AFTER = 2.0


@dataclass(frozen=True)
class Persistence:
    """How a call tries again before it gives up: only a call that is safe to repeat (a
    read; the saga's place-order, which places an order id once) tries at all.

    ``reconnects``: how often to send again when the connection failed before a whole
    answer came back (a reset of a pooled keep-alive connection, a refused connect while a
    worker restarts, an answer cut off by a worker killed while sending it). The pauses
    double from 50 ms up to a second: ten reconnects wait about 6.5 s in all, enough for a
    whole gunicorn to come back after a crash.

    ``unavailable_resends``: how often to send again when the service answered 503 (its
    database failed under that request, say), after its ``Retry-After`` but never longer
    than ``longest_pause`` seconds. A 503 ``busy`` is sent again too: a database restarting
    refuses connections for a while, as one out of them does, and the order then goes
    through (a probe's restart of 17 s mid-burst: all 60 confirmed).

    ``within``: seconds after which nothing is sent again, and to which each send's read
    timeout is cut, so that resends and reconnects cannot hold the caller past it.
    """

    reconnects: int = 0
    unavailable_resends: int = 0
    longest_pause: float = MAX_RETRY_AFTER
    within: float | None = None


ONCE = Persistence()  # a call not safe to repeat


@dataclass(frozen=True)
class _Request:
    """One call as it is sent, each time it is."""

    service: str
    method: str
    path: str
    url: str
    params: dict | None
    json: object
    headers: dict
    timeout: tuple[float, float]

    def __str__(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def call(
    service: str,
    method: str,
    path: str,
    *,
    params: dict | None = None,
    json: object = None,
    headers: dict | None = None,
    read_timeout: float | None = None,
    persistence: Persistence = ONCE,
) -> Answer:
    """One call; 4xx answers are returned, 5xx and network failures raise ServiceUnavailable
    (after trying again as ``persistence`` says)."""
    sent = dict(headers or {})
    if settings.SERVICE_TOKEN:
        sent["Authorization"] = f"Bearer {settings.SERVICE_TOKEN}"
    if cid := current_correlation_id():
        sent["X-Correlation-ID"] = cid
    request = _Request(
        service,
        method,
        path,
        url=getattr(settings, SERVICE_URL_SETTINGS[service]) + path,
        params=params,
        json=json,
        headers=sent,
        timeout=(
            settings.BFF["CONNECT_TIMEOUT_SECONDS"],
            read_timeout or settings.BFF["READ_TIMEOUT_SECONDS"],
        ),
    )
    within = persistence.within
    give_up_at = None if within is None else time.monotonic() + within
    resends = persistence.unavailable_resends
    for resend in range(resends + 1):
        response = _send(request, persistence.reconnects, give_up_at)
        if response.status_code != 503 or resend == resends:
            break
        if _code(response) == LOCKED:
            # It waited the service's DB_LOCK_TIMEOUT_MS for a lock held there: sent again,
            # it would wait as long again (found from outside: 10 s for a 5 s answer).
            break
        pause = _retry_after(response, persistence.longest_pause)
        if not _in_time(give_up_at, pause):
            break
        logger.info("%s answered 503; sending again in %g s", request, pause)
        time.sleep(pause)
    if response.status_code >= 500:
        logger.warning("%s answered %s", request, response.status_code)
        code = _code(response) if response.status_code == 503 else None
        if code in PASSED_ON:
            detail = _detail(response) or code
            raise ServiceUnavailable(f"{service}: {detail}", code=code, service=service)
        raise ServiceUnavailable(f"{service} answered {response.status_code}", service=service)
    try:
        body = response.json()
    except ValueError:
        body = None
    return Answer(response.status_code, body, dict(response.headers))


def _code(response) -> str | None:
    """The ``code`` of a JSON error answer, if it has one."""
    return _field(response, "code")


def _detail(response) -> str | None:
    return _field(response, "detail")


def _field(response, name: str) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _retry_after(response, longest: float) -> float:
    try:
        return max(0.0, min(float(response.headers.get("Retry-After", 1)), longest))
    except ValueError:  # an HTTP date, which our services do not send
        return longest


def _in_time(give_up_at: float | None, pause: float) -> bool:
    """Whether a send after ``pause`` seconds would still start before ``give_up_at``."""
    return give_up_at is None or time.monotonic() + pause < give_up_at


def _send(request: _Request, reconnects: int, give_up_at: float | None):
    """The request, sent again after a failed connection up to ``reconnects`` times, none
    starting past ``give_up_at``."""
    attempt = 0
    try:
        while True:
            connect, read = request.timeout
            if give_up_at is not None:
                read = max(0.1, min(read, give_up_at - time.monotonic()))
            try:
                return client().request(
                    request.method,
                    request.url,
                    params=request.params,
                    json=request.json,
                    headers=request.headers,
                    timeout=(connect, read),
                )
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                # ChunkedEncodingError: the answer broke off (its server died while sending
                # it), which is no answer either
                if attempt == reconnects or not _in_time(give_up_at, reconnect_pause(attempt)):
                    raise
                logger.info("%s: %s; sending again", request, exc)
                time.sleep(reconnect_pause(attempt))  # a moment for a restarting server
                attempt += 1
    except requests.RequestException as exc:
        logger.warning("%s failed: %s", request, exc)
        raise ServiceUnavailable(
            f"{request.service} did not answer", service=request.service
        ) from exc


def reconnect_pause(attempt: int) -> float:
    """Seconds to wait before sending again after the ``attempt``-th failed connection."""
    return min(1.0, 0.05 * 2**attempt)


# How long a read waits before it is sent again after a 503. A service answers 503 when its
# database failed under the request; that failure also has it test its pooled connections
# and drop the dead ones (servicekit.errors), so a request moments later is usually served.
READ_RESEND_PAUSE = 0.1

# A read is safe to repeat: once is enough for a kept-alive connection the server had just
# closed (its keep-alive timer ran out as we reused it), and for a 503 after a database
# blip (a restart or failover dropped the connection the request drew from its pool).
READ = Persistence(reconnects=1, unavailable_resends=1, longest_pause=READ_RESEND_PAUSE)


def get(service: str, path: str, **params) -> Answer:
    params = {k: v for k, v in params.items() if v is not None}
    return call(service, "GET", path, params=params, persistence=READ)


@dataclass(frozen=True)
class Read:
    """A GET for :func:`gather` to send: to which service, which path, which query."""

    service: str
    path: str
    params: dict = field(default_factory=dict)


def longest_read() -> float:
    """How long a read sent by :func:`get` takes at most, its resends included, unless its
    service trickles the answer out (the read timeout bounds each wait for bytes, not the
    whole answer): :func:`gather` waits no longer."""
    connect, read = settings.BFF["CONNECT_TIMEOUT_SECONDS"], settings.BFF["READ_TIMEOUT_SECONDS"]
    one_send = 2 * connect + reconnect_pause(0) + read  # a connect that failed, then a slow one
    return 2 * one_send + READ_RESEND_PAUSE  # and once more after a 503


def gather(
    reads: dict[str, Read], failures: dict[str, ServiceUnavailable] | None = None
) -> tuple[dict[str, Answer], list[str]]:
    """Send ``reads`` in parallel; returns their answers and the services that failed.

    A read that raises :class:`ServiceUnavailable`, or has not been answered once any read
    could have been (it waited for a thread behind a service that stopped answering),
    leaves its key out of the answers and names its service in the degraded list; any
    other exception propagates. ``failures``, if given, gets each failed read's
    :class:`ServiceUnavailable` by key (one of its own for a read not answered in time),
    for a caller that answers with it or says why.
    """
    context_id = current_correlation_id()

    def send(read: Read) -> Answer:
        from servicekit import context

        token = context.correlation_id.set(context_id)
        try:
            return get(read.service, read.path, **read.params)
        finally:
            context.correlation_id.reset(token)

    futures = {key: _pool(read.service).submit(send, read) for key, read in reads.items()}
    give_up_at = time.monotonic() + longest_read()
    results, degraded = {}, []
    for key, future in futures.items():
        service = reads[key].service
        try:
            results[key] = future.result(timeout=max(0.0, give_up_at - time.monotonic()))
        except ServiceUnavailable as exc:
            if failures is not None:
                failures[key] = exc
        except TimeoutError:
            future.cancel()  # if it is still queued, it is not sent at all
            logger.warning("%s %s: no answer in time; its threads are busy", service, key)
            if failures is not None:
                failures[key] = ServiceUnavailable(
                    f"{service} did not answer in time", service=service
                )
        else:
            continue
        if service not in degraded:
            degraded.append(service)
    return results, degraded
