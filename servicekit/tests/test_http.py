"""The peer client against a real HTTP server: what it sends, and the errors it raises."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from servicekit.http import PeerClient

TIMEOUT = (1.0, 2.0)


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict] = []

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Recorder.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "body": body,
                "port": self.client_address[1],
            }
        )
        if self.path.startswith("/slow"):
            threading.Event().wait(TIMEOUT[1] + 1)
        status = 302 if self.path.startswith("/moved") else 201
        reply = json.dumps({"ok": True}).encode()
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = answer

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    httpd.daemon_threads = True
    httpd.handle_error = lambda request, address: None  # the timed-out call hung up on /slow
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_call_sends_its_method_query_json_and_headers_over_one_pooled_connection(server):
    client = PeerClient(headers={"Authorization": "Bearer t"})
    first = client.request(
        "POST",
        f"{server}/commands/orders",
        params={"dry": "1"},
        json={"quantity": 2, "name": "Ünïcode"},
        headers={"Idempotency-Key": "saga:1:CreateOrder"},
        timeout=TIMEOUT,
    )
    second = client.get(f"{server}/queries/orders", timeout=TIMEOUT)
    assert (first.status_code, first.json(), second.status_code) == (201, {"ok": True}, 201)
    post, get = Recorder.seen
    assert (post["method"], post["path"]) == ("POST", "/commands/orders?dry=1")
    assert json.loads(post["body"]) == {"quantity": 2, "name": "Ünïcode"}
    assert post["headers"]["Content-Type"] == "application/json"
    assert post["headers"]["Authorization"] == "Bearer t"
    assert post["headers"]["Idempotency-Key"] == "saga:1:CreateOrder"
    assert (get["method"], get["path"], get["body"]) == ("GET", "/queries/orders", b"")
    assert get["headers"]["Authorization"] == "Bearer t"
    assert "Idempotency-Key" not in get["headers"]  # a call's own headers stay its own
    assert post["port"] == get["port"]  # the connection went back to the pool and was reused
    client.close()


def test_a_body_less_post_says_so_and_no_redirect_is_followed(server):
    client = PeerClient()
    response = client.request("POST", f"{server}/moved", timeout=TIMEOUT)
    assert response.status_code == 302  # a peer that redirects is a peer misconfigured
    assert [(s["method"], s["path"]) for s in Recorder.seen] == [("POST", "/moved")]
    assert Recorder.seen[0]["headers"]["Content-Length"] == "0"


def test_failures_raise_requests_own_exceptions(server):
    client = PeerClient()
    with pytest.raises(requests.ReadTimeout):
        client.get(f"{server}/slow", timeout=(1.0, 0.2))
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(requests.ConnectionError):
        client.get(f"http://127.0.0.1:{port}/health", timeout=TIMEOUT)
