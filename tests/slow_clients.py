"""Clients that open a connection, send part of a request (or nothing) and stop: what a
slowloris attack does, and what a client on a dead link looks like to a server."""

import selectors
import socket
import time
from urllib.parse import urlsplit

HALF_A_REQUEST_LINE = b"GET /health HTT"
HEADERS_WITHOUT_THEIR_END = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def half_a_body(path: str) -> bytes:
    """Whole headers announcing 100 bytes of JSON, then the first five of them."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
        '{"a":'
    ).encode()


def hold(url: str, sent: bytes, count: int) -> list[socket.socket]:
    """``count`` connections to ``url``'s server, each having sent ``sent`` and no more."""
    parts = urlsplit(url)
    held = []
    for _ in range(count):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
        if sent:
            sock.sendall(sent)
        held.append(sock)
    return held


def seconds_until_closed(held: list[socket.socket], timeout: float) -> dict[socket.socket, float]:
    """Wait until the server has closed every one of ``held`` (a read gives EOF or a reset),
    and say after how many seconds each was; fail naming those still open at ``timeout``.
    Whatever the server answers first (a 400, say) is read and dropped on the way."""
    start = time.monotonic()
    closed = {}
    with selectors.DefaultSelector() as waiting:
        for sock in held:
            sock.setblocking(False)
            waiting.register(sock, selectors.EVENT_READ)
        while len(closed) < len(held):
            left = start + timeout - time.monotonic()
            open_ones = len(held) - len(closed)
            assert left > 0, f"{open_ones} of {len(held)} connections still open after {timeout} s"
            for key, _ in waiting.select(left):
                try:
                    if key.fileobj.recv(65536):
                        continue
                except ConnectionResetError:
                    pass
                except BlockingIOError:
                    continue
                closed[key.fileobj] = time.monotonic() - start
                waiting.unregister(key.fileobj)
    for sock in held:
        sock.close()
    return closed
