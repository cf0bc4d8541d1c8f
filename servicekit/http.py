"""How a service calls its peers: HTTP/1.1 from the standard library, requests' answers and errors.

The services call each other on a private network, in plain HTTP/1.1 with JSON bodies, many
times per order. Through requests a call went through a ``Session`` (cookie jar, hooks, the
environment's proxy and TLS settings, redirects) and urllib3's pool (retries, its own
``HTTPResponse`` wrapped again in requests'). None of that is needed between peers, and on a
small machine it was most of a call's client CPU: about twice what ``http.client`` alone
costs (docs/performance.md has the measurements). So :class:`PeerClient` speaks through
``http.client`` and hands back what callers already know: a ``requests.Response`` and
requests' exceptions.

A read timeout bounds each wait for the peer, not the call: a peer that sends a byte now and
then, or a wrong URL that serves a huge file, would hold a worker for ever and fill its
memory. So each call also has a deadline for its whole answer (``deadline``, by default
``DEADLINE_FACTOR`` read timeouts) and a size limit (``max_answer_bytes``).
"""

import http.client
import io
import json as jsonlib
import select
import threading
import time
import weakref
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

DEADLINE_FACTOR = 3  # a whole answer may take this many read timeouts, not more
MAX_ANSWER_BYTES = 8 * 1024 * 1024  # far above any answer of ours (a feed page: 1,000 events)


class AnswerTooLarge(requests.RequestException):
    """The peer's answer is longer than the client takes: a wrong URL, most likely."""


class PeerClient:
    """Calls to the other services of the system, with a kept-alive connection per peer.

    Each thread keeps one connection per peer (``http.client`` connections are not shared
    between threads); it is reused while the peer keeps it open, and opened again when the
    peer closed it (gunicorn closes one idle for 2 s; the saga's web, every one after its
    answer). A connection the peer closed while it was idle is noticed before it is used,
    so a call is never sent into a dead connection.

    Errors are requests' own, as callers expect: ``requests.ConnectTimeout`` and
    ``requests.ConnectionError`` when no connection could be made, ``requests.ReadTimeout``
    when the answer did not come in time, ``requests.ConnectionError`` when the peer hung up
    before answering and ``requests.exceptions.ChunkedEncodingError`` when the answer broke
    off midway; ``requests.ReadTimeout`` too when the whole answer did not come by the
    call's deadline, and :class:`AnswerTooLarge` when it is longer than ``max_answer_bytes``.
    Nothing is retried underneath, and no redirect is followed: each caller decides what is
    safe to send again. Timeouts (connect, read) are per call and required.
    """

    def __init__(
        self, *, headers: dict[str, str] | None = None, max_answer_bytes: int = MAX_ANSWER_BYTES
    ):
        self.headers = dict(headers or {})
        self.max_answer_bytes = max_answer_bytes
        self._local = threading.local()
        # Every thread's connections, for close(). Weak: a thread that ends (a resumer
        # round's pool) takes its connections with it.
        self._opened: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: tuple[float, float],
        deadline: float | None = None,
        params: dict | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """``deadline``: seconds from sending to the answer's last byte (by default
        ``DEADLINE_FACTOR`` read timeouts)."""
        host, port, target = _split(url)
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        sent = {**self.headers, **headers} if headers else dict(self.headers)
        body = None
        if json is not None:
            try:
                body = jsonlib.dumps(json, allow_nan=False).encode()
            except ValueError as exc:  # NaN or infinity, which JSON cannot say
                raise requests.exceptions.InvalidJSONError(str(exc)) from exc
            sent["Content-Type"] = "application/json"
        connect_timeout, read_timeout = timeout
        if deadline is None:
            deadline = read_timeout * DEADLINE_FACTOR
        conn = self._connection(host, port, connect_timeout)
        conn.read_timeout, conn.deadline = read_timeout, time.monotonic() + deadline
        try:
            conn.sock.settimeout(read_timeout)
            conn.request(method, target, body=body, headers=sent)
            answer = conn.getresponse()
        except TimeoutError as exc:
            conn.close()
            late = f"no answer in {read_timeout} s"
            if time.monotonic() >= conn.deadline:
                late = f"no whole answer in {deadline:g} s"  # its head came too slowly
            raise requests.ReadTimeout(f"{method} {url}: {late}") from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()  # no answer began: the peer hung up, or was never there
            raise requests.ConnectionError(f"{method} {url}: {exc!r}") from exc
        try:
            content = self._body(answer)
        except AnswerTooLarge as exc:
            conn.close()  # the rest of it is still coming
            raise AnswerTooLarge(f"{method} {url}: {exc}") from None
        except TimeoutError as exc:
            conn.close()
            late = "answer stalled midway"
            if time.monotonic() >= conn.deadline:
                late = f"no whole answer in {deadline:g} s"
            raise requests.ReadTimeout(f"{method} {url}: {late}") from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()  # the answer began and broke off (its server died while sending)
            raise requests.exceptions.ChunkedEncodingError(f"{method} {url}: {exc!r}") from exc
        return _response(url, answer, content)

    def _body(self, answer: http.client.HTTPResponse) -> bytes:
        limit = self.max_answer_bytes
        if answer.length is not None:  # a Content-Length: refused before reading any of it
            if answer.length > limit:
                raise AnswerTooLarge(f"an answer of {answer.length} bytes (at most {limit})")
            return answer.read()
        content = answer.read(limit + 1)  # chunked, or until the peer closes
        if len(content) > limit:
            raise AnswerTooLarge(f"an answer of more than {limit} bytes")
        return content

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def close(self) -> None:
        with self._lock:
            opened, self._opened = list(self._opened), weakref.WeakSet()
        for conn in opened:
            conn.close()
        self._local = threading.local()

    def _connection(self, host: str, port: int, timeout: float) -> "_Connection":
        """This thread's connection to the peer, connected."""
        mine = getattr(self._local, "connections", None)
        if mine is None:
            mine = self._local.connections = {}
        conn = mine.get((host, port))
        if conn is None:
            conn = mine[host, port] = _Connection(host, port)
            with self._lock:
                self._opened.add(conn)
        elif conn.sock is not None and _closed_by_peer(conn.sock):
            conn.close()
        if conn.sock is None:
            conn.timeout = timeout
            try:
                conn.connect()
            except TimeoutError as exc:
                conn.close()
                raise requests.ConnectTimeout(
                    f"{host}:{port}: no connection in {timeout} s"
                ) from exc
            except OSError as exc:
                conn.close()
                raise requests.ConnectionError(f"{host}:{port}: {exc!r}") from exc
        return conn


class _Connection(http.client.HTTPConnection):
    """A connection whose answers are read against the call's deadline (:class:`_Timed`)."""

    # set by PeerClient.request for each call
    read_timeout: float
    deadline: float  # time.monotonic() by which the whole answer must be in

    def response_class(self, sock, *args, **kwargs):  # what getresponse() reads the answer with
        return http.client.HTTPResponse(
            _Timed(sock, self.read_timeout, self.deadline), *args, **kwargs
        )


class _Timed(io.RawIOBase):
    """A socket as an answer is read from it: each read waits at most ``timeout`` seconds,
    and none past ``deadline``. ``http.client`` reads through ``makefile()``, status line
    and headers included, so a peer trickling them is cut off too."""

    def __init__(self, sock, timeout: float, deadline: float):
        self._sock, self._timeout, self._deadline = sock, timeout, deadline
        # Read through the socket's own file: it keeps the socket open until the answer has
        # been read, when getresponse() closes the connection of an answer that ends it.
        self._file = sock.makefile("rb", buffering=0)

    def makefile(self, mode: str) -> io.BufferedReader:  # what HTTPResponse reads from
        return io.BufferedReader(self)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the deadline passed")
        self._sock.settimeout(min(self._timeout, left))
        return self._file.readinto(buffer)

    def close(self) -> None:
        self._file.close()
        super().close()


@lru_cache(maxsize=256)
def _split_base(scheme: str, netloc: str) -> tuple[str, int]:
    if scheme != "http":
        raise requests.exceptions.InvalidURL(f"peers are called over plain http, not {scheme!r}")
    parts = urlsplit(f"http://{netloc}")
    return parts.hostname or "", parts.port or 80


def _split(url: str) -> tuple[str, int, str]:
    """Host, port and request target (path and query) of ``url``."""
    parts = urlsplit(url)
    host, port = _split_base(parts.scheme, parts.netloc)
    target = parts.path or "/"
    return host, port, f"{target}?{parts.query}" if parts.query else target


def _closed_by_peer(sock) -> bool:
    """An idle kept-alive socket that is readable has been closed (or spoken to) by the peer.

    poll, not select: select cannot watch a descriptor numbered 1024 or more, which a BFF
    process with a few hundred websockets open soon hands out."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _response(url: str, answer: http.client.HTTPResponse, content: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = answer.status
    response.reason = answer.reason
    headers = CaseInsensitiveDict()
    for name, value in answer.getheaders():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    response.headers = headers
    response.encoding = get_encoding_from_headers(headers)
    response.url = url
    response._content = content
    return response
