"""The peer client against a real HTTP server: what it sends, and the errors it raises."""

import json
import os
import resource
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from servicekit.http import MAX_ANSWER_BYTES, AnswerTooLarge, PeerClient

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


def test_a_call_sends_its_method_query_json_and_headers_over_one_kept_alive_connection(server):
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
    assert post["port"] == get["port"]  # the peer kept the connection alive: it was reused
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


class ScriptedPeer:
    """A raw TCP peer: each accepted connection is handed to ``serve(conn)`` in turn."""

    def __init__(self, *serves):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.ports: list[int] = []
        self.thread = threading.Thread(target=self._run, args=(serves,), daemon=True)
        self.thread.start()

    def _run(self, serves):
        for serve in serves:
            conn, address = self.listener.accept()
            self.ports.append(address[1])
            with conn:
                serve(conn)

    def close(self):
        self.listener.close()


def read_request(conn) -> bytes:
    """The whole request, body too: a socket closed with unread data resets the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        body += conn.recv(65536)
    return data


def answer(body: bytes, *, length: int | None = None, close: bool = False) -> bytes:
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {length or len(body)}\r\n"
    return (head + ("Connection: close\r\n" if close else "") + "\r\n").encode() + body


def test_a_connection_the_peer_closes_is_opened_again_for_the_next_call():
    def closes_after_one(conn):
        read_request(conn)
        conn.sendall(answer(b'{"n": 1}', close=True))

    peer = ScriptedPeer(closes_after_one, closes_after_one)
    client = PeerClient()
    answers = [client.get(f"{peer.url}/x", timeout=TIMEOUT).json() for _ in range(2)]
    peer.thread.join(2)
    assert answers == [{"n": 1}, {"n": 1}]
    assert len(set(peer.ports)) == 2
    client.close()
    peer.close()


def test_an_answer_that_closes_the_connection_is_read_whole_after_its_head():
    def head_then_body(conn):
        read_request(conn)
        conn.sendall(answer(b"", length=8, close=True))
        threading.Event().wait(0.1)  # the body comes apart, after the client read the head
        conn.sendall(b'{"n": 1}')

    peer = ScriptedPeer(head_then_body)
    assert PeerClient().get(f"{peer.url}/x", timeout=TIMEOUT).json() == {"n": 1}
    peer.close()


def test_a_kept_alive_connection_the_peer_dropped_while_idle_is_not_used():
    dropped = threading.Event()

    def keeps_alive_then_drops(conn):
        read_request(conn)
        conn.sendall(answer(b'{"n": 1}'))  # no Connection: close, then hang up while idle
        conn.shutdown(socket.SHUT_RDWR)
        dropped.set()

    def answers_again(conn):
        read_request(conn)
        conn.sendall(answer(b'{"n": 2}', close=True))

    peer = ScriptedPeer(keeps_alive_then_drops, answers_again)
    client = PeerClient()
    first = client.get(f"{peer.url}/x", timeout=TIMEOUT).json()
    assert dropped.wait(2)
    second = client.request("POST", f"{peer.url}/x", json={}, timeout=TIMEOUT).json()
    assert (first, second) == ({"n": 1}, {"n": 2})
    client.close()
    peer.close()


def test_an_answer_cut_off_midway_is_a_chunked_encoding_error():
    def dies_while_answering(conn):
        read_request(conn)
        conn.sendall(answer(b'{"status": "COMP', length=40))

    peer = ScriptedPeer(dies_while_answering)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        PeerClient().request("POST", f"{peer.url}/saga", json={}, timeout=TIMEOUT)
    peer.close()


def test_a_peer_that_hangs_up_without_answering_is_a_connection_error():
    def hangs_up(conn):
        read_request(conn)

    peer = ScriptedPeer(hangs_up)
    with pytest.raises(requests.ConnectionError):
        PeerClient().request("POST", f"{peer.url}/saga", json={}, timeout=TIMEOUT)
    peer.close()


def test_only_plain_http_peers_and_only_json_bodies():
    with pytest.raises(requests.exceptions.InvalidURL):
        PeerClient().get("https://127.0.0.1:1/x", timeout=TIMEOUT)
    with pytest.raises(requests.exceptions.InvalidJSONError):
        PeerClient().request(
            "POST", "http://127.0.0.1:1/x", json={"n": float("nan")}, timeout=TIMEOUT
        )


def test_connections_of_a_thread_that_ended_are_not_kept(server):
    client = PeerClient()
    worker = threading.Thread(target=lambda: client.get(f"{server}/x", timeout=TIMEOUT))
    worker.start()
    worker.join()
    client.get(f"{server}/x", timeout=TIMEOUT)
    assert len(client._opened) == 1  # this thread's; the ended thread's went with it
    client.close()


def test_a_connection_on_a_descriptor_past_1024_is_checked_too(server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("cannot open 1,200 files here")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        client = PeerClient()
        client.get(f"{server}/x", timeout=TIMEOUT)
        (conn,) = client._opened
        assert conn.sock.fileno() >= 1024
        assert client.get(f"{server}/x", timeout=TIMEOUT).status_code == 201  # reuse check
        client.close()
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def trickling(data: bytes, pause: float):
    """A peer that answers ``data`` a byte at a time, each byte well within a read timeout."""

    def serve(conn):
        read_request(conn)
        try:
            for byte in data:
                conn.sendall(bytes([byte]))
                threading.Event().wait(pause)
        except OSError:
            pass  # the client gave up and hung up

    return serve


@pytest.mark.parametrize(
    "data",
    [
        answer(b" " * 40),  # the body a byte at a time
        b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b" " * 40 + b"\r\n\r\n",  # the head too
    ],
    ids=["body", "head"],
)
def test_a_peer_trickling_its_answer_is_cut_off_at_the_deadline(data):
    """Found in review: a read timeout bounds each wait, not the call, so a peer sending a
    byte now and then held its caller for as long as it liked."""
    peer = ScriptedPeer(trickling(data, 0.05), trickling(data, 0.05))
    client = PeerClient()
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout, match=r"no whole answer in 0\.6 s"):
        client.get(f"{peer.url}/x", timeout=(1.0, 0.2))  # 3 read timeouts: 0.6 s
    assert time.monotonic() - started < 1.2  # not the 2 s the whole answer would take
    with pytest.raises(requests.ReadTimeout, match=r"no whole answer in 0\.3 s"):
        client.get(f"{peer.url}/x", timeout=(1.0, 1.0), deadline=0.3)
    client.close()
    peer.close()


def test_an_answer_longer_than_the_client_takes_is_refused():
    """Found in review: a wrong URL serving a huge file was read whole into memory."""

    def declares_too_much(conn):
        read_request(conn)
        conn.sendall(answer(b"{}", length=MAX_ANSWER_BYTES + 1))

    def chunked(size, *, kept_alive=False):
        def serve(conn):
            read_request(conn)
            head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            half = b"%x\r\n%s\r\n" % (size // 2, b" " * (size // 2))
            conn.sendall(head + half + half + b"0\r\n\r\n")
            if kept_alive:  # the next call comes on this connection
                read_request(conn)
                conn.sendall(answer(b'{"n": 2}', close=True))

        return serve

    peer = ScriptedPeer(declares_too_much, chunked(2000), chunked(1000, kept_alive=True))
    with pytest.raises(AnswerTooLarge, match=f"of {MAX_ANSWER_BYTES + 1} bytes"):
        PeerClient().get(f"{peer.url}/x", timeout=TIMEOUT)  # refused before reading any
    small = PeerClient(max_answer_bytes=1000)
    with pytest.raises(AnswerTooLarge, match="more than 1000 bytes"):
        small.get(f"{peer.url}/x", timeout=TIMEOUT)  # no length said: read up to the limit
    assert len(small.get(f"{peer.url}/x", timeout=TIMEOUT).content) == 1000  # at the limit
    assert small.get(f"{peer.url}/x", timeout=TIMEOUT).json() == {"n": 2}  # connection reused
    assert isinstance(AnswerTooLarge(), requests.RequestException)  # a peer failing, to callers
    small.close()
    peer.close()
