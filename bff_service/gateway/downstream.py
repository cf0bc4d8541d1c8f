"""Calls from the BFF to the services behind it.

One :class:`servicekit.http.PeerClient` per process, a connect and a read timeout on
every call, the service token on every call, and the correlation id passed along.
:func:`gather` runs independent calls in parallel and reports which services could not
answer instead of failing the whole page: the BFF answers with what it has and a ``degraded`` list.
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import requests
from django.conf import settings

from eventkit.errors import Unavailable
from servicekit.context import current_correlation_id
from servicekit.http import PeerClient

logger = logging.getLogger(__name__)

SERVICE_URL_SETTINGS = {
    "order-service": "ORDER_SERVICE_URL",
    "inventory-service": "INVENTORY_SERVICE_URL",
    "saga-service": "SAGA_SERVICE_URL",
    "marketing-service": "MARKETING_SERVICE_URL",
}

_client: PeerClient | None = None
_pool_thread = threading.local()  # .marked on the pool's own threads


def _mark_pool_thread() -> None:
    _pool_thread.marked = True


_pool = ThreadPoolExecutor(
    max_workers=16, thread_name_prefix="downstream", initializer=_mark_pool_thread
)


class ServiceUnavailable(Unavailable):
    code = "service_unavailable"


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


def call(
    service: str,
    method: str,
    path: str,
    *,
    params: dict | None = None,
    json: object = None,
    headers: dict | None = None,
    read_timeout: float | None = None,
    reconnects: int = 0,
    unavailable_resends: int = 0,
    longest_pause: float = MAX_RETRY_AFTER,
) -> Answer:
    """One call; 4xx answers are returned, 5xx and network failures raise ServiceUnavailable.

    ``reconnects``: for calls that are safe to repeat (the saga places an order id once), how
    often to send again when the connection failed before a whole answer came back (a reset
    of a pooled keep-alive connection, a refused connect while a worker restarts, an answer
    cut off by a worker killed while sending it). The pauses
    double from 50 ms up to a second: ten reconnects wait about 6.5 s in all, enough for a
    whole gunicorn to come back after a crash.

    ``unavailable_resends``: for such calls too, how often to send again when the service
    answered 503 (its database failed under that request, say), after its ``Retry-After``
    but never longer than ``longest_pause`` seconds.
    """
    url = getattr(settings, SERVICE_URL_SETTINGS[service]) + path
    sent = dict(headers or {})
    if settings.SERVICE_TOKEN:
        sent["Authorization"] = f"Bearer {settings.SERVICE_TOKEN}"
    if cid := current_correlation_id():
        sent["X-Correlation-ID"] = cid
    timeout = (
        settings.BFF["CONNECT_TIMEOUT_SECONDS"],
        read_timeout or settings.BFF["READ_TIMEOUT_SECONDS"],
    )
    for resend in range(unavailable_resends + 1):
        response = _send(service, method, url, path, reconnects, params, json, sent, timeout)
        if response.status_code != 503 or resend == unavailable_resends:
            break
        pause = _retry_after(response, longest_pause)
        logger.info("%s %s %s answered 503; sending again in %g s", service, method, path, pause)
        time.sleep(pause)
    if response.status_code >= 500:
        logger.warning("%s %s %s answered %s", service, method, path, response.status_code)
        raise ServiceUnavailable(f"{service} answered {response.status_code}", service=service)
    try:
        body = response.json()
    except ValueError:
        body = None
    return Answer(response.status_code, body, dict(response.headers))


def _retry_after(response, longest: float) -> float:
    try:
        return max(0.0, min(float(response.headers.get("Retry-After", 1)), longest))
    except ValueError:  # an HTTP date, which our services do not send
        return longest


def _send(service, method, url, path, reconnects, params, json, headers, timeout):
    """The request, sent again after a failed connection up to ``reconnects`` times."""
    attempt = 0
    try:
        while True:
            try:
                return client().request(
                    method, url, params=params, json=json, headers=headers, timeout=timeout
                )
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                # ChunkedEncodingError: the answer broke off (its server died while sending
                # it), which is no answer either
                if attempt == reconnects:
                    raise
                logger.info("%s %s %s: %s; sending again", service, method, path, exc)
                time.sleep(reconnect_pause(attempt))  # a moment for a restarting server
                attempt += 1
    except requests.RequestException as exc:
        logger.warning("%s %s %s failed: %s", service, method, path, exc)
        raise ServiceUnavailable(f"{service} did not answer", service=service) from exc


def reconnect_pause(attempt: int) -> float:
    """Seconds to wait before sending again after the ``attempt``-th failed connection."""
    return min(1.0, 0.05 * 2**attempt)


# How long a read waits before it is sent again after a 503. A service answers 503 when its
# database failed under the request; that failure also has it test its pooled connections
# and drop the dead ones (servicekit.errors), so a request moments later is usually served.
READ_RESEND_PAUSE = 0.1


def get(service: str, path: str, **params) -> Answer:
    # A read is safe to repeat: once is enough for a kept-alive connection the server had just
    # closed (its keep-alive timer ran out as we reused it), and for a 503 after a database
    # blip (a restart or failover dropped the connection the request drew from its pool).
    params = {k: v for k, v in params.items() if v is not None}
    return call(
        service,
        "GET",
        path,
        params=params,
        reconnects=1,
        unavailable_resends=1,
        longest_pause=READ_RESEND_PAUSE,
    )


def gather(calls: dict[str, Callable[[], object]]) -> tuple[dict[str, object], list[str]]:
    """Run ``calls`` in parallel; returns their results and the services that failed.

    A call that raises :class:`ServiceUnavailable` leaves its key out of the results and
    names its service in the degraded list; any other exception propagates.
    """
    context_id = current_correlation_id()

    def run(fn):
        from servicekit import context

        token = context.correlation_id.set(context_id)
        try:
            return fn()
        finally:
            context.correlation_id.reset(token)

    if getattr(_pool_thread, "marked", False):
        # A call of a gather gathering again: its calls would queue behind the pool's threads
        # that wait on them, and with every thread so waiting the BFF would hang for good.
        futures = {key: _run_here(run, fn) for key, fn in calls.items()}
    else:
        futures = {key: _pool.submit(run, fn) for key, fn in calls.items()}
    results, degraded = {}, []
    for key, future in futures.items():
        try:
            results[key] = future.result()
        except ServiceUnavailable as exc:
            service = exc.details.get("service", key)
            if service not in degraded:
                degraded.append(service)
    return results, degraded


def _run_here(run, fn) -> Future:
    """``run(fn)`` in this thread, as a future already settled."""
    future: Future = Future()
    try:
        future.set_result(run(fn))
    except BaseException as exc:  # handed on by future.result(), as a pool does
        future.set_exception(exc)
    return future
