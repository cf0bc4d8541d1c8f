"""gunicorn's threaded worker, with a deadline on each request's headers and a bound on each
read of its body: a client that stops sending part-way through a request loses its
connection, and the thread that was reading it goes back to serving others.

gthread waits up to 5 s in a thread for a new connection's first byte (then puts it aside
until one comes), but once a byte has come a thread reads the rest of the request with a
blocking ``recv()`` and no timeout: a few dozen
sockets that sent ``GET /health HTTP/1.1\\r\\n`` and nothing more held every thread of a
service for good. gunicorn 27 has no setting for it (``--timeout`` watches the worker
process, not a request).

Run it as ``--worker-class servicekit.workers.DeadlineWorker`` with ``--threads`` as for
gthread. It speaks plain HTTP/1.1 only (no TLS, no HTTP/2, no uwsgi), as the services do.

Cost per request: one ``setsockopt(SO_RCVTIMEO)`` and one clock read as the request starts;
the kernel then ends any ``recv()`` that waits longer. Only headers that need a second
``recv()`` (a slow client) cost a clock read and a ``setsockopt`` more per read.
"""

import logging
import socket
import struct
import time

from gunicorn.http.errors import NoMoreData
from gunicorn.http.message import Request
from gunicorn.http.parser import RequestParser
from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers.gthread import TConn, ThreadWorker

logger = logging.getLogger("gunicorn.error")

# Seconds a request's headers may take in all, from its first byte, and seconds any one read
# of its body may wait. A peer sends a whole request in one packet; 10 s leaves room for a
# congested network and still frees the thread well before its callers give up (30 s).
HEADERS_SECONDS = 10.0
BODY_READ_SECONDS = 10.0


def timeval(seconds: float) -> bytes:
    """A C ``struct timeval`` (two longs: seconds, microseconds), as SO_RCVTIMEO takes it."""
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1_000_000))


HEADERS_WAIT = timeval(HEADERS_SECONDS)
BODY_READ_WAIT = timeval(BODY_READ_SECONDS)


class SlowClient(NoMoreData):
    """The headers did not arrive in time. A NoMoreData, so gunicorn gives up on the
    connection as it does on a client that hangs up mid-request: no answer, no traceback."""


class DeadlineUnreader(SocketUnreader):
    """Reads a request's headers by a deadline, then its body a bounded wait at a time.

    SO_RCVTIMEO on the (blocking) socket makes a ``recv()`` that waits too long fail with
    EAGAIN, which Python raises as BlockingIOError.
    """

    def __init__(self, sock):
        super().__init__(sock)
        self.headers_due: float | None = None  # monotonic time; None once they are in
        self.header_reads = 0
        self.timed_out = False

    def expect_headers(self) -> None:
        self.headers_due = time.monotonic() + HEADERS_SECONDS
        self.header_reads = 0
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, HEADERS_WAIT)

    def headers_received(self) -> None:
        self.headers_due = None
        if self.header_reads > 1:  # the wait was cut to what was left of the deadline
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, BODY_READ_WAIT)

    def chunk(self, size_hint=None):
        if self.timed_out:
            return b""  # a body cut short stays cut short, for gunicorn's drain too
        if self.headers_due is not None:
            self.header_reads += 1
            if self.header_reads > 1:
                self._wait_at_most(self.headers_due - time.monotonic())
        try:
            return super().chunk(size_hint)
        except BlockingIOError:
            return self._give_up()

    def _wait_at_most(self, seconds: float) -> None:
        if seconds <= 0:
            self._give_up()
        # A zero timeval means no timeout at all: a microsecond at least.
        wait = timeval(max(seconds, 1e-6))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, wait)

    def _give_up(self) -> bytes:
        self.timed_out = True
        if self.headers_due is not None:
            logger.info("closed %s: no complete headers in %g s", peer(self.sock), HEADERS_SECONDS)
            raise SlowClient()
        # The application is reading the body: it gets it cut short, as when a client hangs
        # up (the JSON does not parse: 400), and DeadlineRequest has the connection closed.
        logger.info("closed %s: its body stalled for %g s", peer(self.sock), BODY_READ_SECONDS)
        return b""


class DeadlineRequest(Request):
    """A request whose headers are read under the unreader's deadline."""

    def __init__(self, cfg, unreader, peer_addr, req_number=1):
        unreader.expect_headers()
        super().__init__(cfg, unreader, peer_addr, req_number)
        unreader.headers_received()

    def should_close(self):
        return self.unreader.timed_out or super().should_close()


class DeadlineParser(RequestParser):
    mesg_class = DeadlineRequest

    def __init__(self, cfg, source, source_addr):
        super().__init__(cfg, source, source_addr)
        self.unreader = DeadlineUnreader(source)


class DeadlineConnection(TConn):
    def init(self):
        if self.parser is None:  # gthread would make a RequestParser: make ours instead
            self.parser = DeadlineParser(self.cfg, self.sock, self.client)
        super().init()

    def close(self, graceful=False):
        # A graceful close lingers up to 2 s on gthread's main loop for the client to hang
        # up; one that stalled would not, and a few dozen would stall accepting for minutes.
        stalled = self.parser is not None and self.parser.unreader.timed_out
        super().close(graceful=graceful and not stalled)


class DeadlineWorker(ThreadWorker):
    """gthread, whose connections are :class:`DeadlineConnection`."""

    @classmethod
    def check_config(cls, cfg, log):
        super().check_config(cfg, log)
        if cfg.is_ssl or cfg.protocol != "http" or cfg.http2_cleartext != "off":
            raise RuntimeError(f"{cls.__name__} serves plain HTTP/1.1 only")

    def accept(self, listener):
        # gthread's accept(), making a DeadlineConnection.
        try:
            client_sock, client_addr = listener.accept()
        except BlockingIOError:
            return  # another worker took it
        except ConnectionAbortedError:
            return
        self.nr_conns += 1
        client_sock.setblocking(True)
        conn = DeadlineConnection(self.cfg, client_sock, client_addr, listener.getsockname())
        self.enqueue_req(conn)


def peer(sock) -> str:
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return "a client"
    return f"{host}:{port}"
