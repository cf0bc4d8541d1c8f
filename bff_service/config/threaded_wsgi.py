"""The BFF's HTTP under its ASGI server: Django's WSGI handler, one thread hop per request.

The BFF is an ASGI service for its websockets, but every HTTP view it has is sync (DRF,
and the blocking calls to the saga and the other services). Django's ASGI handler runs such
a request in steps that cross between the event loop and a thread several times (the
middleware chain, the async core of the handler, the view, the response), each crossing a
future, a thread wake-up and a loop wake-up. Here the loop reads the request body, one
thread runs the whole request through Django's WSGI handler, and the loop sends what it
answered: a refused ``POST /api/orders`` went from 3.3 to 1.5 ms of BFF CPU.

The answer is collected before it is sent, so this is only for answers that fit in
memory: the BFF's JSON, its small static files and the built UI. A body longer than
``max_body`` is refused with 413 before Django sees it, and a request that finds
``max_waiting`` others already waiting for a thread with 503 (load shedding): under a flood,
or while the saga holds every order, the queue stays bounded and a client is told to come
back instead of waiting behind minutes of work.
"""

import asyncio
import contextvars
import io
import json
import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from servicekit import errors

logger = logging.getLogger(__name__)

TOO_LARGE = json.dumps(errors.TOO_LARGE).encode()
BUSY = json.dumps({"detail": "The BFF is busy; retry later.", "code": "busy"}).encode()
JSON = [(b"content-type", b"application/json")]


class ThreadedWsgi:
    """An ASGI ``http`` application that serves ``wsgi_app`` from a pool of threads.

    ``threads`` bounds the requests in progress at once per process; a sync view holds its
    thread while it waits on the saga (about a second under load, longer while the saga is
    retrying), so the bound is generous and further requests wait for a thread, up to
    ``max_waiting`` of them.
    """

    def __init__(self, wsgi_app, *, threads: int, max_body: int | None, max_waiting: int):
        self.wsgi_app = wsgi_app
        self.max_body = max_body
        self.max_waiting = max_waiting
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="http")
        self._waiting = 0  # requests handed to the pool that no thread has started yet
        self._waiting_lock = threading.Lock()  # the loop adds, the pool's threads take away
        self._shed, self._shed_logged = 0, float("-inf")  # refused since the last log line

    async def __call__(self, scope, receive, send) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before it had sent its request
            body += message.get("body", b"")
            if self.max_body is not None and len(body) > self.max_body:
                await _answer(send, 413, JSON, TOO_LARGE)
                return
            if not message.get("more_body", False):
                break
        environ = wsgi_environ(scope, bytes(body))
        with self._waiting_lock:
            shed = self._waiting >= self.max_waiting
            if not shed:
                self._waiting += 1
        if shed:
            self._note_shed()
            await _answer(send, 503, [*JSON, (b"retry-after", b"1")], BUSY)
            return
        # a fresh copy of the context per request: a pool thread keeps its own between tasks
        run = contextvars.copy_context().run
        try:
            job = self.pool.submit(run, self.serve, environ)
        except BaseException:
            self._stop_waiting()  # never queued (the pool shut down): its place goes back
            raise
        # cancelled before a thread took it (the server shutting down): it waits no more
        job.add_done_callback(lambda done: done.cancelled() and self._stop_waiting())
        status, headers, content = await asyncio.wrap_future(job)
        await _answer(send, status, headers, content)

    def _note_shed(self) -> None:
        """One log line a second at most, with how many were refused: under the flood that
        shedding is for, a line per request would cost the loop more than answering it."""
        self._shed += 1
        now = time.monotonic()
        if now - self._shed_logged >= 1.0:
            logger.warning(
                "shed %d requests: %d already wait for a thread", self._shed, self.max_waiting
            )
            self._shed, self._shed_logged = 0, now

    def _stop_waiting(self) -> None:
        with self._waiting_lock:
            self._waiting -= 1

    def serve(self, environ: dict) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """One request through the WSGI application, in this thread, to the end."""
        self._stop_waiting()
        started: list = []

        def start_response(status: str, headers: list, exc_info=None):
            started[:] = [int(status.split(" ", 1)[0]), headers]

        answer = self.wsgi_app(environ, start_response)
        try:
            content = b"".join(answer)
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()  # Django's request_finished: database connections go back
        status, headers = started
        return (
            status,
            [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            content,
        )


async def _answer(send, status: int, headers: list, content: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def wsgi_environ(scope: dict, body: bytes) -> dict:
    """The WSGI environ (PEP 3333) of an ASGI ``http`` scope and its whole body."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ = {
        "REQUEST_METHOD": scope["method"],
        # WSGI carries paths as bytes decoded as latin-1; ASGI gives them decoded as UTF-8
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"
        value = raw_value.decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    if body and "CONTENT_LENGTH" not in environ:
        # a chunked body (no Content-Length), here whole: Django reads no more than this says
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ
