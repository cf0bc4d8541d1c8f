"""The BFF's HTTP under ASGI: Django's WSGI handler in a thread, the request and answer whole."""

import asyncio
import contextvars
import threading

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished

from config.threaded_wsgi import ThreadedWsgi


def scope(path="/", *, method="GET", query=b"", headers=()):
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": list(headers),
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50123),
    }


def call(app, request_scope, messages):
    """Run one request through ``app``; returns what it sent, in order."""
    incoming = list(messages)
    sent = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(request_scope, receive, send))
    return sent


def body(data=b"", more=False):
    return {"type": "http.request", "body": data, "more_body": more}


class Recorder:
    """A WSGI application that keeps what it was given and answers in two pieces."""

    def __init__(self):
        self.environ = None
        self.read = None
        self.thread = None
        self.closed = False

    def __call__(self, environ, start_response):
        self.environ, self.read = environ, environ["wsgi.input"].read()
        self.thread = threading.current_thread()
        start_response("201 Created", [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        recorder = self

        class Answer(list):
            def close(self):
                recorder.closed = True

        return Answer([b'{"ok":', b"true}"])


def test_a_request_reaches_the_wsgi_app_as_pep_3333_says_and_its_answer_comes_back_whole():
    app = Recorder()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"11"),
        (b"x-correlation-id", b"abc"),
        (b"x-many", b"a"),
        (b"x-many", b"b"),
    ]
    sent = call(
        ThreadedWsgi(app, threads=2, max_body=100, max_waiting=10),
        scope("/api/ördér", method="POST", query=b"q=%C3%A4&n=1", headers=headers),
        [body(b'{"a":', more=True), body(b' "b"}')],
    )
    env = app.environ
    assert env["REQUEST_METHOD"] == "POST"
    assert env["PATH_INFO"] == "/api/ördér".encode().decode("latin-1")  # as WSGI carries it
    assert env["QUERY_STRING"] == "q=%C3%A4&n=1"
    assert (env["CONTENT_TYPE"], env["CONTENT_LENGTH"]) == ("application/json", "11")
    assert (env["HTTP_X_CORRELATION_ID"], env["HTTP_X_MANY"]) == ("abc", "a,b")
    assert (env["SERVER_NAME"], env["SERVER_PORT"], env["REMOTE_ADDR"]) == (
        "127.0.0.1",
        "8000",
        "127.0.0.1",
    )
    assert app.read == b'{"a": "b"}'
    assert app.thread is not threading.main_thread()  # not on the event loop's thread
    assert app.closed  # Django's request_finished runs when the answer is closed
    assert sent == [
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")],
        },
        {"type": "http.response.body", "body": b'{"ok":true}'},
    ]


def test_a_client_that_leaves_before_its_body_is_in_gets_nothing_run():
    app = Recorder()
    sent = call(
        ThreadedWsgi(app, threads=1, max_body=100, max_waiting=10),
        scope(method="POST"),
        [body(b"{", True)],
    )
    assert (app.environ, sent) == (None, [])


def test_a_body_over_the_limit_is_refused_before_django_sees_it():
    app = Recorder()
    sent = call(
        ThreadedWsgi(app, threads=1, max_body=10, max_waiting=10),
        scope(method="POST"),
        [body(b"x" * 6, more=True), body(b"x" * 6)],
    )
    assert app.environ is None
    assert sent[0]["status"] == 413
    assert b"too_large" in sent[1]["body"]


def test_context_variables_set_by_one_request_do_not_reach_the_next():
    marker = contextvars.ContextVar("marker", default="unset")
    seen = []

    def app(environ, start_response):
        seen.append(marker.get())
        marker.set("set by a request")  # and never reset, as careless code might
        start_response("200 OK", [])
        return [b""]

    # one thread: the same both times
    threaded = ThreadedWsgi(app, threads=1, max_body=None, max_waiting=10)
    call(threaded, scope(), [body()])
    call(threaded, scope(), [body()])
    assert seen == ["unset", "unset"]


@pytest.mark.django_db
def test_the_bff_answers_through_it_and_finishes_the_request_in_the_same_thread():
    finished = []

    def on_finished(**kwargs):
        finished.append(threading.current_thread())

    request_finished.connect(on_finished)
    app = Recorder()
    wsgi = WSGIHandler()

    def django_app(environ, start_response):
        app.thread = threading.current_thread()
        return wsgi(environ, start_response)

    try:
        sent = call(
            ThreadedWsgi(django_app, threads=2, max_body=None, max_waiting=10),
            scope("/api/schema/", headers=[(b"accept", b"application/json")]),
            [body()],
        )
    finally:
        request_finished.disconnect(on_finished)
    assert sent[0]["status"] == 200
    assert b"/api/orders" in sent[1]["body"]
    assert finished == [app.thread]


def held_until(release: threading.Event, served: list | None = None):
    """A WSGI application that answers only once ``release`` is set (at most 5 s), noting
    the paths it served in ``served``."""

    def app(environ, start_response):
        release.wait(5)
        if served is not None:
            served.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b"{}"]

    return app


def test_requests_beyond_the_queue_are_answered_503_at_once_and_the_queue_drains():
    """Under a flood (or a saga that hangs every order) the queue for a thread stays bounded:
    what cannot even queue is told to come back, instead of waiting behind minutes of work."""
    release, served = threading.Event(), []
    slow_app = held_until(release, served)
    threaded = ThreadedWsgi(slow_app, threads=1, max_body=None, max_waiting=1)

    async def flood():
        async def one(path):
            incoming = [body()]
            sent = []

            async def receive():
                return incoming.pop(0) if incoming else {"type": "http.disconnect"}

            async def send(message):
                sent.append(message)

            await threaded(scope(path), receive, send)
            return sent

        running = asyncio.create_task(one("/running"))
        await asyncio.sleep(0.05)  # a thread has it
        waiting = asyncio.create_task(one("/waiting"))
        await asyncio.sleep(0.05)  # queued for the one thread
        shed = await asyncio.wait_for(one("/shed"), 2)  # answered while the others still wait
        assert not running.done() and not waiting.done()
        release.set()
        return await running, await waiting, shed

    running, waiting, shed = asyncio.run(flood())
    assert [running[0]["status"], waiting[0]["status"], shed[0]["status"]] == [200, 200, 503]
    assert (b"retry-after", b"1") in shed[0]["headers"]
    assert b'"code": "busy"' in shed[1]["body"]
    assert served == ["/running", "/waiting"]
    # the queue is free again: the next request is served
    release.set()
    assert call(threaded, scope("/after"), [body()])[0]["status"] == 200


def test_a_request_cancelled_while_it_waits_for_a_thread_leaves_the_queue():
    release = threading.Event()
    slow_app = held_until(release)
    threaded = ThreadedWsgi(slow_app, threads=1, max_body=None, max_waiting=1)

    async def cancel_one_waiting():
        async def receive():
            return body()

        async def send(message):
            pass

        running = asyncio.create_task(threaded(scope(), receive, send))
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(threaded(scope(), receive, send))
        await asyncio.sleep(0.05)
        waiting.cancel()  # as the server does when it shuts down
        await asyncio.sleep(0.05)
        release.set()
        await running

    asyncio.run(cancel_one_waiting())
    assert call(threaded, scope(), [body()])[0]["status"] == 200  # its place was given back


def test_a_request_the_pool_refused_gives_its_place_back():
    """Found in review: a place taken and never given back, 200 times, and every request
    after is refused until the process restarts."""
    from concurrent.futures import ThreadPoolExecutor

    threaded = ThreadedWsgi(Recorder(), threads=1, max_body=None, max_waiting=1)
    threaded.pool.shutdown()
    with pytest.raises(RuntimeError):
        call(threaded, scope(), [body()])
    threaded.pool = ThreadPoolExecutor(1)
    assert call(threaded, scope(), [body()])[0]["status"] == 201


def test_a_flood_of_refusals_is_one_log_line_a_second(caplog):
    release = threading.Event()
    slow_app = held_until(release)
    threaded = ThreadedWsgi(slow_app, threads=1, max_body=None, max_waiting=0)
    try:
        for _ in range(5):
            assert call(threaded, scope(), [body()])[0]["status"] == 503
    finally:
        release.set()
    lines = [r for r in caplog.records if "shed" in r.getMessage()]
    assert len(lines) == 1 and "shed 1 requests" in lines[0].getMessage()


def test_a_content_type_in_a_charset_that_does_not_exist_is_a_400_not_a_crash():
    """Found in review: Django raises ValueError for it while it builds the request, before
    any handler: the BFF's ASGI server answered 500 and logged a traceback."""
    import json

    from servicekit.wsgi import ReadableContentType

    sent = call(
        ThreadedWsgi(ReadableContentType(WSGIHandler()), threads=1, max_body=None, max_waiting=1),
        scope(
            "/api/orders",
            method="POST",
            headers=[(b"host", b"localhost"), (b"content-type", b"text/plain; a*=nope''x")],
        ),
        [body(b"{}")],
    )
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["code"] == "bad_request"
