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
``max_body`` is refused with 413 before Django sees it.
"""

import asyncio
import contextvars
import io
import json
import sys
from concurrent.futures import ThreadPoolExecutor

from servicekit import errors

TOO_LARGE = json.dumps(errors.TOO_LARGE).encode()


class ThreadedWsgi:
    """An ASGI ``http`` application that serves ``wsgi_app`` from a pool of threads.

    ``threads`` bounds the requests in progress at once per process; a sync view holds its
    thread while it waits on the saga (about a second under load, longer while the saga is
    retrying), so the bound is generous and further requests wait for a thread.
    """

    def __init__(self, wsgi_app, *, threads: int, max_body: int | None):
        self.wsgi_app = wsgi_app
        self.max_body = max_body
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="http")

    async def __call__(self, scope, receive, send) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before it had sent its request
            body += message.get("body", b"")
            if self.max_body is not None and len(body) > self.max_body:
                await _answer(send, 413, [(b"content-type", b"application/json")], TOO_LARGE)
                return
            if not message.get("more_body", False):
                break
        environ = wsgi_environ(scope, bytes(body))
        loop = asyncio.get_running_loop()
        # a fresh copy of the context per request: a pool thread keeps its own between tasks
        run = contextvars.copy_context().run
        status, headers, content = await loop.run_in_executor(self.pool, run, self.serve, environ)
        await _answer(send, status, headers, content)

    def serve(self, environ: dict) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """One request through the WSGI application, in this thread, to the end."""
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
