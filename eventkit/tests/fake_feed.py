"""A stand-in for another service's event feed: one HTTP server answering every page with
the body and headers a test gives it. Used by the event store's tests and by services that
fold another service's feed."""

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeFeed:
    def __init__(self, server: ThreadingHTTPServer, answer: dict):
        self.url = f"http://127.0.0.1:{server.server_port}"
        self._answer = answer

    def answer(self, body, headers: dict | None = None) -> None:
        """What every ``GET`` answers from now on: ``body`` as JSON, and ``headers``."""
        self._answer.update(body=body, headers=headers or {})


@contextmanager
def fake_feed(body=(), headers: dict | None = None):
    answer = {"body": list(body), "headers": headers or {}}

    class Feed(BaseHTTPRequestHandler):
        def do_GET(self):
            data = json.dumps(answer["body"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in answer["headers"].items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield FakeFeed(server, answer)
    finally:
        server.shutdown()
        server.server_close()
