"""The BFF's gunicorn worker: uvicorn, with websocket compression off and a deadline for
each HTTP request to arrive whole."""

import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

# Seconds a connection may take to send its first request whole (from being opened), or a
# later one (from its first byte). Browsers send a request in one go; 10 s leaves room for a
# slow mobile link. uvicorn's own timer only starts once a response is sent (keep-alive):
# without this one a connection that sent nothing, or half a request, stayed open for good,
# and 20,000 of them used up the process's file descriptors.
REQUEST_SECONDS = 10.0


class RequestDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools, what "auto" picks), closing a connection whose
    request does not arrive whole within :data:`REQUEST_SECONDS`. A websocket is out of it
    once upgraded: it lives as long as its client wants. One timer per request: a
    ``call_later`` and its ``cancel``."""

    request_deadline = None  # the asyncio.TimerHandle, while a request is awaited
    request_begun = False

    def connection_made(self, transport):
        super().connection_made(transport)
        self._await_request()

    def data_received(self, data):
        # Bytes with no request in flight: the next one has begun, or only the blank lines a
        # parser skips between requests, which begin none (uvicorn's keep-alive timer stops
        # at any byte). Found in review: one "\r\n" after a response kept a connection open
        # for good.
        if self.cycle is None or self.cycle.response_complete:
            self._await_request()
        super().data_received(data)

    def on_message_begin(self):
        super().on_message_begin()
        self.request_begun = True
        self._await_request()  # no-op for the first request: the connection's timer runs

    def on_message_complete(self):
        self._request_arrived()
        super().on_message_complete()

    def handle_websocket_upgrade(self):
        self._request_arrived()
        super().handle_websocket_upgrade()

    def connection_lost(self, exc):
        self._request_arrived()
        super().connection_lost(exc)

    def _await_request(self):
        if self.request_deadline is None:
            self.request_deadline = self.loop.call_later(REQUEST_SECONDS, self._too_late)

    def _request_arrived(self):
        self.request_begun = False
        if self.request_deadline is not None:
            self.request_deadline.cancel()
            self.request_deadline = None

    def _too_late(self):
        self.request_deadline = None
        if self.request_begun:  # an idle connection (a browser's preconnect) closes quietly
            client = "{}:{}".format(*self.client) if self.client else "a client"
            self.logger.info("closed %s: no complete request in %g s", client, REQUEST_SECONDS)
        self.transport.close()


class ClientFramesLoggedPlainly(logging.Filter):
    """uvicorn logs a websocket text frame that is not UTF-8 as an ERROR with its traceback,
    and closes the socket (1007): the client's fault, which a line says, at WARNING, where a
    client opening socket after socket could fill the error log with tracebacks. Any other
    error (an application's UnicodeDecodeError too) keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Invalid UTF-8 sequence received from client"):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True


class PushWorker(UvicornWorker):
    CONFIG_KWARGS = {
        **UvicornWorker.CONFIG_KWARGS,
        # A push is a few hundred bytes of JSON sent to every watching client, and
        # permessage-deflate compresses it again for each of them (every connection has its
        # own compressor): CPU per client per message, for frames too small to gain from it.
        "ws_per_message_deflate": False,
        "http": RequestDeadlineProtocol,
        # Channels' router has no 'lifespan' protocol, and uvicorn said so at every start.
        "lifespan": "off",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)  # which points uvicorn's loggers at gunicorn's
        logging.getLogger("uvicorn.error").addFilter(ClientFramesLoggedPlainly())
