"""Shared plumbing: log lines, correlation ids, input bounds (run under eventkit's settings)."""

import asyncio
import contextlib
import io
import json
import logging
import logging.config
import os
import re
import uuid

import pytest
from rest_framework import serializers

from servicekit import context
from servicekit.fields import IdField, NameField, QuantityField, YenField
from servicekit.logging import logging_config


def capture(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    config = logging_config(service="test-service", fmt=fmt)
    stream = io.StringIO()
    config["handlers"]["console"]["stream"] = stream
    config["loggers"]["probe"] = {"handlers": ["console"], "level": "INFO", "propagate": False}
    logging.config.dictConfig(config)
    return logging.getLogger("probe"), stream


@pytest.fixture(autouse=True)
def restore_logging():
    yield
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def test_json_log_lines_carry_service_and_correlation_id():
    logger, stream = capture("json")
    token = context.correlation_id.set("abc-123")
    try:
        logger.info("reserved %s", 3)
    finally:
        context.correlation_id.reset(token)
    line = json.loads(stream.getvalue())
    assert line["message"] == "reserved 3"
    assert line["service"] == "test-service"
    assert line["correlation_id"] == "abc-123"
    assert line["level"] == "INFO"


def test_text_log_lines_show_the_correlation_id():
    logger, stream = capture("text")
    token = context.correlation_id.set("xyz")
    try:
        logger.info("hello")
    finally:
        context.correlation_id.reset(token)
    assert "[xyz] hello" in stream.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sent", "kept"),
    [("trace-1", True), ("a" * 129, False), ("bad id\nINFO forged", False), ("", False)],
)
def test_incoming_correlation_ids_are_kept_only_when_safe(client, sent, kept):
    response = client.get("/health", headers={"X-Correlation-ID": sent} if sent else {})
    assert (response["X-Correlation-ID"] == sent) is kept
    assert response["X-Correlation-ID"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "level"),
    [
        ("/health", "DEBUG"),
        ("/events?after=0&limit=1", "DEBUG"),
        ("/events", "INFO"),  # the log, read by a person
        ("/events?after=-1", "INFO"),  # refused
        ("/nowhere", "INFO"),
    ],
)
def test_health_checks_and_feed_polls_are_logged_at_debug(client, caplog, path, level):
    caplog.set_level(logging.DEBUG, logger="servicekit.request")
    client.get(path)
    [record] = [r for r in caplog.records if r.name == "servicekit.request"]
    assert record.levelname == level


@pytest.mark.django_db
def test_an_errors_log_line_ends_with_its_code(client, caplog):
    """Found from outside: an operator reading `-> 503 in 3016.2 ms` could not tell a lock
    held on the data from a database that was down."""
    caplog.set_level(logging.INFO, logger="servicekit.request")
    client.get("/events?after=-1")  # DRF's answer
    client.get("/nowhere")  # Django's handler404
    lines = [r.getMessage() for r in caplog.records if r.name == "servicekit.request"]
    assert re.fullmatch(r"GET /events\?after=-1 -> 400 in [\d.]+ ms \(invalid\)", lines[0])
    assert re.fullmatch(r"GET /nowhere -> 404 in [\d.]+ ms \(not_found\)", lines[1])
    assert [r.code for r in caplog.records if r.name == "servicekit.request"] == [
        "invalid",
        "not_found",
    ]


class Probe(serializers.Serializer):
    quantity = QuantityField()
    name = NameField()
    price = YenField()
    id = IdField(required=False)


@pytest.mark.parametrize(
    ("data", "error_fields"),
    [
        ({"quantity": 1, "name": "a", "price": 0}, set()),
        ({"quantity": 10_000, "name": "a" * 200, "price": 10**12}, set()),
        ({"quantity": 10_001, "name": "a", "price": 1}, {"quantity"}),
        ({"quantity": True, "name": "a", "price": 1}, {"quantity"}),
        ({"quantity": "5", "name": "a", "price": 1}, {"quantity"}),
        ({"quantity": 1, "name": " ", "price": 1}, {"name"}),
        ({"quantity": 1, "name": "a" * 201, "price": 1}, {"name"}),
        ({"quantity": 1, "name": "a", "price": -1}, {"price"}),
        ({"quantity": 1, "name": "a", "price": "1"}, {"price"}),
        ({"quantity": 1, "name": "山田 太郎 👨‍👩‍👧", "price": 1}, set()),
        ({"quantity": 1, "name": 123, "price": 1}, {"name"}),
        ({"quantity": 1, "name": "a\x07b", "price": 1}, {"name"}),
        ({"quantity": 1, "name": "a\nb", "price": 1}, {"name"}),
        ({"quantity": 1, "name": "evil\u202etxt.exe", "price": 1}, {"name"}),
        ({"quantity": 1, "name": "Yamada\u200b", "price": 1}, {"name"}),
        ({"quantity": 1, "name": "A\u2028B", "price": 1}, {"name"}),
        ({"quantity": 1, "name": "A\u200fB", "price": 1}, {"name"}),
        ({"quantity": 1, "name": "\u3164", "price": 1}, {"name"}),
        # nothing but joiners, marks, format characters or blank patterns: shows as blank
        *(
            ({"quantity": 1, "name": blank, "price": 1}, {"name"})
            for blank in ("\u200d", "\u200c", "\u034f", "\u180e", "\u2800", "\ufe0f")
        ),
        ({"quantity": 1, "name": "\U000e0020\u200d ", "price": 1}, {"name"}),
        ({"quantity": 1, "name": "e\u0301", "price": 1}, set()),  # a mark on a letter
        # more that hide inside a name (found from outside: five "alice"s that look alike)
        *(
            ({"quantity": 1, "name": f"alice{hidden}", "price": 1}, {"name"})
            for hidden in (
                "\u206a",
                "\u206f",
                "\u180e",
                "\u17b4",
                "\u17b5",
                "\U0001d173",
                "\U0001d17a",
                "\U000e0041",
                "\U000e0001",
            )
        ),
        ({"quantity": 1, "name": "ali\u034fce", "price": 1}, {"name"}),
        # a subdivision flag is spelt with tags, and stays
        (
            {
                "quantity": 1,
                "name": "Ann \U0001f3f4"
                + "".join(chr(0xE0000 + ord(c)) for c in "gbeng")
                + "\U000e007f",
                "price": 1,
            },
            set(),
        ),
        ({"quantity": 1, "name": "\u2800a", "price": 1}, set()),
        ({"quantity": 1, "name": "a", "price": 1, "id": str(uuid.UUID(int=7))}, set()),
        ({"quantity": 1, "name": "a", "price": 1, "id": 7}, {"id"}),
    ],
)
def test_shared_fields_bound_their_input(data, error_fields):
    probe = Probe(data=data)
    probe.is_valid()
    assert set(probe.errors) == error_fields


def test_mongolian_variation_selectors_are_spelling_not_hiding():
    probe = Probe(data={"quantity": 1, "name": "\u182d\u180b\u1820", "price": 1})
    assert probe.is_valid(), probe.errors


def test_a_name_is_kept_in_one_spelling_of_its_characters():
    """ "é" as one character and as "e" with a combining accent are one customer (NFC)."""
    composed, decomposed = (
        Probe(data={"quantity": 1, "name": "Jos\u00e9", "price": 1}),
        Probe(data={"quantity": 1, "name": "Jose\u0301", "price": 1}),
    )
    assert composed.is_valid() and decomposed.is_valid()
    assert decomposed.validated_data["name"] == composed.validated_data["name"] == "Jos\u00e9"


def test_a_quantity_stays_within_its_columns_however_high_the_setting(settings):
    """Quantities are 32-bit columns and a total price (at most MAX_PRICE a unit) 64-bit:
    a MAX_QUANTITY above them would let valid input fail as a 500 (found in review)."""
    from servicekit.fields import MAX_PRICE, QuantityField

    settings.MAX_QUANTITY = 10**12
    field = QuantityField()
    largest = field.max_value
    assert largest <= 2**31 - 1 and largest * MAX_PRICE <= 2**63 - 1
    assert field.run_validation(largest) == largest
    with pytest.raises(serializers.ValidationError):
        field.run_validation(largest + 1)


def test_a_loaded_worker_freezes_its_start_up_objects_after_importing_its_views():
    import gc
    import sys

    from django.conf import settings
    from django.urls import clear_url_caches

    from servicekit.runtime import freeze_startup_objects

    sys.modules.pop(settings.ROOT_URLCONF, None)
    clear_url_caches()
    try:
        freeze_startup_objects()
        assert settings.ROOT_URLCONF in sys.modules  # the views are loaded before the freeze
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()


def test_a_database_that_cannot_be_reached_is_a_503_to_come_back_to():
    from django.db import OperationalError

    from servicekit.errors import api_exception_handler

    response = api_exception_handler(OperationalError("connection refused"), {})
    assert response.status_code == 503 and response.data["code"] == "unavailable"
    assert response["Retry-After"] == "2"


def test_a_command_that_lost_every_race_is_a_503_to_come_back_to_not_a_refusal():
    """Found in review: a 409 here read as a final refusal to the saga, which then
    cancelled an order with stock on the shelf; nothing was changed, and a retry may pass."""
    from eventkit.errors import ConcurrencyError
    from servicekit.errors import api_exception_handler

    response = api_exception_handler(ConcurrencyError("lost 5 races; retry later"), {})
    assert response.status_code == 503 and response.data["code"] == "concurrency_conflict"
    assert response["Retry-After"] == "2"


@pytest.mark.parametrize(
    ("full", "answer"),
    [
        # every connection held for the whole wait: the database may be fine
        (True, {"detail": "The service is busy; retry later.", "code": "busy"}),
        # found from outside: with PostgreSQL stopped, commands said "busy"
        (False, {"detail": "The database is unavailable; retry later.", "code": "unavailable"}),
    ],
)
def test_a_pool_with_no_free_connection_is_a_503_that_says_why(monkeypatch, caplog, full, answer):
    from django.db import OperationalError
    from psycopg_pool import PoolTimeout

    from servicekit import errors

    monkeypatch.setattr(errors, "pool_shortage", lambda: (full, "the pool's counts"))
    try:  # as Django's wrapper hands it on: the pool's error as the cause
        try:
            raise PoolTimeout("couldn't get a connection after 10.00 sec")
        except PoolTimeout as exc:
            raise OperationalError(*exc.args) from exc
    except OperationalError as exc:
        response = errors.api_exception_handler(exc, {})
    assert response.status_code == 503 and response["Retry-After"] == "2"
    assert response.data == answer
    assert "no free database connection" in caplog.text and "the pool's counts" in caplog.text


@pytest.mark.django_db
def test_a_pool_out_of_time_tells_all_in_use_from_could_not_open_more():
    """Found from outside: with the database refusing connections, every request logged
    "every one in use" while the pool held none."""
    from django.db import connection
    from psycopg.conninfo import make_conninfo
    from psycopg_pool import ConnectionPool, PoolTimeout

    from servicekit.pool import pool_shortage

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL pool")
    params = connection.get_connection_params()
    url = make_conninfo(
        **{k: params[k] for k in ("host", "port", "user", "dbname") if params.get(k)}
    )
    with ConnectionPool(url, min_size=0, max_size=1) as full, full.connection():
        with pytest.raises(PoolTimeout):
            full.getconn(timeout=0.2)
        assert pool_shortage(full) == (True, "all 1 of the pool's connections in use")
    nowhere = "postgresql://postgres@127.0.0.1:1/none"  # nothing listens on port 1
    with ConnectionPool(nowhere, min_size=0, max_size=2) as refused:
        with pytest.raises(PoolTimeout):
            refused.getconn(timeout=0.2)
        at_capacity, why = pool_shortage(refused)
        assert not at_capacity and "of up to 2 and could not open more" in why


@pytest.mark.parametrize(
    ("headers", "sent", "read"),
    [
        ({"HTTP_TRANSFER_ENCODING": "chunked"}, b'{"a": 1}', b'{"a": 1}'),
        ({"HTTP_TRANSFER_ENCODING": "gzip, Chunked"}, b"x" * 20, b"x" * 11),  # limit + 1
        ({"CONTENT_LENGTH": "3"}, b"abcdef", b"abc"),  # a length given is what is read
        ({}, b"abc", b""),  # neither: no body, as WSGI says
    ],
)
def test_a_chunked_body_reaches_django_whole_with_its_length(headers, sent, read):
    from django.core.handlers.wsgi import LimitedStream

    from servicekit.wsgi import WholeChunkedBodies

    seen = {}

    def django(environ, start_response):  # reads as Django's WSGIRequest does
        length = int(environ.get("CONTENT_LENGTH") or 0)
        seen["body"] = LimitedStream(environ["wsgi.input"], length).read()
        return []

    environ = {"REQUEST_METHOD": "POST", "wsgi.input": io.BytesIO(sent), **headers}
    WholeChunkedBodies(django, limit=10)(environ, lambda *_: None)
    assert seen["body"] == read


def test_a_browser_asking_for_the_sites_icon_gets_no_error(client):
    assert client.get("/favicon.ico").status_code == 204


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["options", "post", "put", "delete"])
def test_the_docs_page_refuses_what_it_does_not_serve_without_a_server_error(client, method):
    """The Swagger page renders only HTML from a template: DRF's answer to OPTIONS (its
    metadata) or to an unknown method had no template to render and became a 500."""
    response = getattr(client, method)("/api/docs/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD"
    assert client.head("/api/docs/").status_code == 200


@pytest.mark.parametrize(
    "name", ["django.security.RequestDataTooBig", "django.security.TooManyFieldsSent"]
)
def test_a_request_refused_as_suspicious_is_one_warning_line_without_a_traceback(name):
    """Django logs every SuspiciousOperation (a body over the limit, too many fields) as an
    ERROR with its traceback: any client could fill the error log with them. The client is
    answered 4xx; the log says so in one line."""
    _, stream = capture("text")
    try:
        raise ValueError("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
    except ValueError as exc:
        logging.getLogger(name).error("%s", exc, exc_info=exc)
    (line,) = stream.getvalue().splitlines()
    assert f"WARNING {name}" in line and "exceeded" in line


def test_other_errors_keep_their_level_and_traceback():
    _, stream = capture("text")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("django.request").exception("Internal Server Error: /x")
    text = stream.getvalue()
    assert "ERROR   django.request" in text and "Traceback" in text


@pytest.mark.parametrize(("method", "body"), [("HEAD", b""), ("GET", b"hello")])
def test_an_answer_to_head_leaves_without_its_body(method, body):
    """Django answers HEAD as GET, body included; gunicorn drops the body but logs a warning
    for every such answer (a monitor probing with HEAD would fill the log)."""
    from servicekit.wsgi import HeadWithoutBody

    closed = []

    class Answer(list):
        def close(self):  # Django's request_finished hangs on this
            closed.append(True)

    def django(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Answer([b"hel", b"lo"])

    answer = HeadWithoutBody(django)({"REQUEST_METHOD": method}, lambda *_: None)
    assert b"".join(answer) == body
    getattr(answer, "close", lambda: None)()
    assert closed == [True]


def _pool_of_dead_connections():
    """Fill this process's pool with connections, then have the server drop them all, as a
    restart or a failover does."""
    import psycopg
    from django.db import connection

    if connection.vendor != "postgresql" or connection.pool is None:
        pytest.skip("a PostgreSQL connection pool")
    connection.close()  # this thread's goes back to the pool, to be dropped with the rest
    pool = connection.pool
    held = [pool.getconn() for _ in range(4)]
    for conn in held:
        pool.putconn(conn)
    settings = connection.get_connection_params()
    params = {k: settings[k] for k in ("host", "port", "user", "dbname") if settings.get(k)}
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/events?after=0&limit=1", "/health"])
def test_reads_after_the_database_dropped_its_connections_are_answered(live_server, path):
    """A restarted or failed-over server leaves every idle pooled connection dead. Each was
    handed out in turn, a 503 each: up to the pool's size per process (found from outside).
    Then the first failure had the pool test the rest, but its own read was a 503, and so
    was the next (a connection out of the pool during the check), the health check's too
    (found from outside again). A read is now served again on a connection that answers."""
    import requests  # a served request: the test client keeps one connection throughout

    _pool_of_dead_connections()
    statuses = [requests.get(f"{live_server.url}{path}", timeout=10).status_code for _ in range(5)]
    assert statuses == [200] * 5


@pytest.mark.django_db(transaction=True)
def test_commands_after_the_database_dropped_its_connections_are_run():
    """Reads were served again, but the first command to meet a dead pooled connection was
    a 503 (the saga's retry hid it; a direct client saw it): it never reached its commit, so
    it simply runs again on a connection the pool has checked."""
    from eventkit.models import Event
    from eventkit.tests.helpers import add, open_tally

    _pool_of_dead_connections()
    tally = open_tally()  # no command id: it had not sent its COMMIT
    _pool_of_dead_connections()
    add(tally, 2, command_id=str(uuid.uuid4()))
    assert Event.objects.filter(stream_id=tally).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_command_run_again_while_another_request_checks_the_pool_finds_a_working_connection():
    """Found from outside: the pool's check runs in one request at a time, and a command run
    again meanwhile took another dead connection, and was a 503 after all."""
    from eventkit.tests.helpers import open_tally
    from servicekit import pool

    _pool_of_dead_connections()
    with pool._checking:  # as if another request were checking the pool
        open_tally()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("command_id", [None, "a8a7d0bb-3c57-4c1e-9b3e-4f0a0f4a1d2e"])
def test_a_command_that_lost_its_connection_at_commit_runs_again_only_with_its_id(
    monkeypatch, command_id
):
    """Whether that COMMIT went through is unknown: without an id, running the command again
    could apply it twice, so its client settles it; with one, the next run finds out."""
    from django.db import OperationalError

    from eventkit import store
    from eventkit.tests.helpers import open_tally

    commits = []

    def commit_lost(real=store.commit_with_queue):
        commits.append(True)
        if len(commits) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real()

    monkeypatch.setattr(store, "commit_with_queue", commit_lost)
    if command_id is None:
        with pytest.raises(OperationalError):
            open_tally()
        assert len(commits) == 1
    else:
        open_tally(command_id=command_id)
        assert len(commits) == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("command_id", [None, "3f0c1b9e-8d7a-4d8e-a1a4-6f2b0c9d5e71"])
def test_a_command_whose_commit_went_through_before_its_connection_was_lost_applies_once(
    monkeypatch, settings, command_id
):
    """The case the id is for: the COMMIT was kept, and only its answer lost. With an id,
    the run again finds the record and answers from it; without one, the client settles it.
    Running again is no lost race either: with one attempt allowed it still runs."""
    from django.db import OperationalError

    from eventkit import store
    from eventkit.models import Event
    from eventkit.tests.helpers import open_tally

    settings.EVENTKIT = {**settings.EVENTKIT, "APPEND_ATTEMPTS": 1}
    lost = []

    def committed_then_lost(real=store.commit_with_queue):
        if lost:
            return real()
        lost.append(True)
        real()
        from django.db import connection

        connection.connection.commit()  # kept by the server; the answer never arrives
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(store, "commit_with_queue", committed_then_lost)
    if command_id is None:
        with pytest.raises(OperationalError):
            open_tally()
    else:
        tally = open_tally(command_id=command_id)
        assert Event.objects.filter(stream_id=tally).count() == 1
    assert Event.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_command_that_gets_no_connection_at_all_is_not_run_again(monkeypatch):
    """A database that refuses connections, or a pool with none free, is not a connection
    lost midway: running again waited the pool's whole timeout a second time."""
    from django.db import OperationalError, connection, connections

    from eventkit.tests.helpers import open_tally

    connection.close()
    asked = []

    def refused(self, params):
        asked.append(True)
        raise OperationalError("connection refused")

    monkeypatch.setattr(type(connections["default"]), "get_new_connection", refused)
    with pytest.raises(OperationalError):
        open_tally()
    assert len(asked) == 1


@pytest.mark.parametrize(("method", "calls"), [("GET", 2), ("HEAD", 2), ("POST", 1)])
def test_only_a_read_that_met_a_failing_database_is_served_again(monkeypatch, method, calls):
    """A command's outcome after a lost connection is for its client to settle, with its
    key; and a 503 of another cause (a peer down) is not the database's to retry."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    from servicekit import middleware
    from servicekit.pool import database_failed

    monkeypatch.setattr(middleware, "take_a_working_connection", lambda: True)
    served = []

    def view(request, fails=True):
        served.append(request.method)
        if len(served) == 1 and fails:
            database_failed.set(True)
            return HttpResponse(status=503)
        return HttpResponse(status=200)

    request = RequestFactory().generic(method, "/things")
    answer = middleware.RetryReadMiddleware(view)(request)
    assert (len(served), answer.status_code) == (calls, 200 if calls == 2 else 503)
    # a 503 of another cause (a peer down), with the flag left over from an earlier request
    # of the thread: served once
    served.clear()
    database_failed.set(True)

    def peer_down(request):
        served.append(request.method)
        return HttpResponse(status=503)

    assert middleware.RetryReadMiddleware(peer_down)(RequestFactory().get("/")).status_code == 503
    assert served == ["GET"]


def test_only_a_lost_connection_has_a_read_served_again():
    """Found in review: a read cancelled for time, or a deadlock's loser, was run again at
    once, doubling the load on a database that had least room for it."""
    import psycopg.errors
    from django.db import InterfaceError, OperationalError

    from servicekit.dberrors import connection_lost
    from servicekit.pool import database_failed, forget_dead_connections

    def django_error(cause):
        error = OperationalError(str(cause))
        error.__cause__ = cause
        return error

    lost = [
        django_error(psycopg.errors.AdminShutdown("terminating connection")),  # 57P01
        django_error(psycopg.OperationalError("server closed the connection")),  # no SQLSTATE
        InterfaceError("connection already closed"),
        OperationalError("the connection is closed"),
    ]
    failed = [
        django_error(psycopg.errors.QueryCanceled("statement timeout")),  # 57014
        django_error(psycopg.errors.DeadlockDetected("deadlock detected")),  # 40P01
    ]
    assert [connection_lost(e) for e in lost] == [True] * 4
    assert [connection_lost(e) for e in failed] == [False] * 2
    for error, retried in [(failed[0], False), (lost[0], True)]:
        token = database_failed.set(False)
        try:
            forget_dead_connections(error)
            assert database_failed.get() is retried
        finally:
            database_failed.reset(token)


def test_a_view_outside_drf_that_meets_a_dead_connection_has_the_pool_checked(monkeypatch):
    from django.db import OperationalError

    from servicekit import middleware

    checked = []
    monkeypatch.setattr(middleware, "forget_dead_connections", lambda exc: checked.append(1))
    hook = middleware.CorrelationIdMiddleware(lambda request: None).process_exception
    assert hook(None, OperationalError("the connection is closed")) is None  # Django answers
    assert hook(None, ValueError("a bug")) is None
    assert checked == [1]


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("not a url", "names no database Django knows"),
        ("postgres://postgres:secret@127.0.0.1:5432/", "names no database"),
    ],
)
def test_a_database_url_that_names_no_database_is_refused_in_words(
    monkeypatch, tmp_path, given, said
):
    """It was a KeyError: 'ENGINE', or PostgreSQL's 'zero-length delimited identifier' at
    the first query (found from outside)."""
    import environ
    from django.core.exceptions import ImproperlyConfigured

    from servicekit.settings import database_config

    monkeypatch.setenv("DATABASE_URL", given)
    with pytest.raises(ImproperlyConfigured, match=said) as refused:
        database_config(environ.Env(), tmp_path / "default.sqlite3")
    assert "secret" not in str(refused.value)


@pytest.mark.parametrize("given", [None, ""])
def test_an_unset_or_empty_database_url_is_the_default_sqlite_file(monkeypatch, tmp_path, given):
    """`DATABASE_URL=$MARKETING_DATABASE_URL manage.py ...` with the variable unset, as the
    README's troubleshooting says, crashed with KeyError: 'ENGINE' (found in review)."""
    import environ

    from servicekit.settings import database_config

    if given is None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("DATABASE_URL", given)
    db = database_config(environ.Env(), tmp_path / "marketing.sqlite3")
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "marketing.sqlite3")


def test_a_lock_timeout_is_set_for_every_connection_only_when_asked(monkeypatch, tmp_path):
    """The web processes ask for it (servicekit.wsgi); libpq's PGOPTIONS is kept beside it,
    since an ``options`` of our own replaces it."""
    import environ

    from servicekit.settings import database_config

    monkeypatch.setenv("DATABASE_URL", "postgres://u@127.0.0.1:5432/db")
    monkeypatch.delenv("DB_LOCK_TIMEOUT_MS", raising=False)
    monkeypatch.setenv("PGOPTIONS", "-c eventkit.allow_truncate=on")
    assert "options" not in database_config(environ.Env(), tmp_path / "x")["OPTIONS"]
    monkeypatch.setenv("DB_LOCK_TIMEOUT_MS", "700")
    options = database_config(environ.Env(), tmp_path / "x")["OPTIONS"]["options"]
    assert options == "-c eventkit.allow_truncate=on -c lock_timeout=700"


def test_the_web_processes_bound_their_waits_for_locks(monkeypatch):
    import os

    from servicekit import wsgi

    monkeypatch.setenv("DB_LOCK_TIMEOUT_MS", "")  # so that the test's end takes it away
    monkeypatch.delenv("DB_LOCK_TIMEOUT_MS")
    monkeypatch.setattr(wsgi, "get_wsgi_application", lambda: object())
    monkeypatch.setattr(wsgi, "freeze_startup_objects", lambda: None)
    wsgi.service_application()
    assert os.environ["DB_LOCK_TIMEOUT_MS"] == str(wsgi.WEB_LOCK_TIMEOUT_MS)


@pytest.mark.parametrize(
    "content_type", ["text/plain; a*=nope''x", "application/json; charset*=nope''x"]
)
def test_a_content_type_in_a_charset_that_does_not_exist_is_a_400_not_a_crash(content_type):
    """Found in review: Django raises ValueError for it while it builds the request, before
    any handler, so every service answered 500 (its server's own page) with a traceback."""
    import gc

    from servicekit.wsgi import service_application

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/health",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "CONTENT_TYPE": content_type,
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
    }
    started = []
    try:
        application = service_application()
    finally:
        gc.unfreeze()
    answer = b"".join(application(environ, lambda status, headers: started.append(status)))
    assert started == ["400 Bad Request"]
    assert json.loads(answer)["code"] == "bad_request"


def _skip_unless_postgresql():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL server that refuses writes")


@pytest.mark.django_db
def test_a_database_that_refuses_writes_is_a_503_to_come_back_to(caplog):
    """Found from outside: a database turned read-only (a standby after a failover, or
    writes switched off) made every command a 500 with a traceback each time, which the
    saga's retries multiplied into thousands."""
    from django.db import DatabaseError, connection, transaction

    from servicekit.errors import api_exception_handler

    _skip_unless_postgresql()
    with (
        pytest.raises(DatabaseError) as refused,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET TRANSACTION READ ONLY")
        cursor.execute("SELECT 1 FROM eventkit_stream FOR UPDATE")
    with caplog.at_level(logging.WARNING, logger="servicekit.errors"):
        response = api_exception_handler(refused.value, {})
    assert response.status_code == 503 and response.data["code"] == "read_only"
    assert response["Retry-After"] == "2"
    assert "refuses writes" in caplog.text and not any(r.exc_info for r in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_health_is_503_while_the_database_refuses_writes(client):
    """It answered 200 "healthy" while every command failed: a read-only database still
    answers SELECT 1."""
    from django.db import connection

    _skip_unless_postgresql()
    if connection.pool is None:
        pytest.skip("a PostgreSQL connection pool")
    name = connection.settings_dict["NAME"]

    def new_connections_refuse_writes(refuse: bool) -> None:
        with connection.cursor() as cursor:
            value = "on" if refuse else "DEFAULT"
            cursor.execute("SET default_transaction_read_only = off")  # a pooled one may refuse
            cursor.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {value}')
        connection.close()
        connection.close_pool()  # the probe's connection is a new one, which reads the setting

    new_connections_refuse_writes(True)
    try:
        refused = client.get("/health")
    finally:
        new_connections_refuse_writes(False)
    assert refused.status_code == 503, refused.content
    assert refused.json()["status"] == "unhealthy" and "read-only" in refused.json()["database"]
    assert client.get("/health").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_health_waits_for_a_pooled_connection_only_as_long_as_a_health_check_does(client):
    """Found from outside: with PostgreSQL down, /health answered 503 only after the pool's
    whole wait (10 s, and 20 s from the second request on), while compose's health checks
    give up after 3 s: they saw their own timeout, never the 503 that says why."""
    import time

    from django.db import connection

    if connection.vendor != "postgresql" or connection.pool is None:
        pytest.skip("a PostgreSQL connection pool")
    from psycopg_pool import PoolTimeout

    connection.close()  # this thread's goes back to the pool, to be held with the rest
    pool, held = connection.pool, []
    with contextlib.suppress(PoolTimeout):  # every one it has or can open: none for /health
        while len(held) < pool.max_size:
            held.append(pool.getconn(timeout=1))
    try:
        started = time.monotonic()
        answer = client.get("/health")
        waited = time.monotonic() - started
    finally:
        for conn in held:
            pool.putconn(conn)
    assert answer.status_code == 503, answer.content
    assert waited < 3, waited  # the pool's own wait is 10 s
    assert client.get("/health").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_health_answers_in_time_while_the_database_hangs(client, monkeypatch):
    """Found from outside: with PostgreSQL stopped (SIGSTOP), /health never answered. Its
    connection waited for the server for good, and so did the health checks, each with one
    more connection. Now it answers 503 in time, and one probe at a time waits."""
    import time

    from django.db import connection

    from servicekit import health

    if connection.vendor != "postgresql" or connection.pool is None:
        pytest.skip("a PostgreSQL connection pool")
    hang = "SELECT current_setting('transaction_read_only') FROM pg_sleep(60)"
    monkeypatch.setitem(health._PROBE, "postgresql", hang)
    waits, answers = [], []
    try:
        for _ in range(3):
            started = time.monotonic()
            answers.append(client.get("/health"))
            waits.append(time.monotonic() - started)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE query = %s", [hang])
            hung = [pid for (pid,) in cursor.fetchall()]
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = %s", [hang]
            )
        with contextlib.suppress(Exception):
            health._probe.result(timeout=10)
    assert [a.status_code for a in answers] == [503] * 3
    assert {a.json()["database"] for a in answers} == {health.NOT_ANSWERING}
    assert max(waits) < 3, waits  # a container's health check gives up after 3 s
    assert len(hung) == 1, hung
    monkeypatch.undo()
    assert client.get("/health").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_health_names_no_host_nor_user_of_the_database(client, monkeypatch, caplog):
    """The BFF's /health is public, and it answered with the driver's error, which names
    the database's host, port, user and name. The log keeps it."""
    import psycopg

    from servicekit import health

    leak = 'connection to server at "10.9.8.7", port 5432 failed: role "shop_owner" does not exist'

    def unreachable():
        raise psycopg.OperationalError(leak)

    monkeypatch.setattr(health, "_database_refuses_writes", unreachable)
    answer = client.get("/health")
    assert answer.status_code == 503
    assert answer.json()["database"] == health.UNREACHABLE
    assert "10.9.8.7" not in answer.content.decode() and "shop_owner" not in answer.content.decode()
    assert leak in caplog.text


@pytest.mark.django_db(transaction=True)
def test_health_answers_in_time_while_the_database_is_down(live_server):
    """Found from outside: with PostgreSQL stopped, /health took 10 s. Its first try met a
    dead pooled connection and the request was served once more, which waited the pool's
    whole DB_POOL_TIMEOUT for a connection the server refused; a container's health check
    gives up after 3 s."""
    import time

    import psycopg
    import requests
    from django.db import connection

    from servicekit import health

    _pool_of_dead_connections()  # as a stop of the server leaves them
    params = connection.get_connection_params()
    admin = {k: params[k] for k in ("host", "port", "user") if params.get(k)}
    name = params["dbname"]
    with psycopg.connect(**admin, dbname="postgres", autocommit=True) as server:
        server.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')  # ... and refuses
        try:
            started = time.monotonic()
            answer = requests.get(f"{live_server.url}/health", timeout=30)
            waited = time.monotonic() - started
        finally:
            server.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert answer.status_code == 503, answer.content
    assert answer.json()["database"] in (health.NO_CONNECTION, health.UNREACHABLE)
    assert waited < 3, waited


@pytest.mark.django_db(transaction=True)
def test_health_first_in_a_new_process_leaves_the_pool_able_to_grow(client):
    """Found by an A/B run and a review: /health used a pool Django had not opened yet (it
    opens it at its first connection). The pool refused, and the check of its connections
    that followed marked it as growing for good, so it never grew past its first
    connection: the saga, bound by its pool, ran a quarter slower."""
    from django.db import connection

    if connection.vendor != "postgresql" or connection.pool is None:
        pytest.skip("a PostgreSQL connection pool")
    connection.close()
    connection.close_pool()  # as in a new process: a pool made, not opened
    assert connection.pool.closed
    assert client.get("/health").status_code == 200
    pool = connection.pool
    held = []
    try:
        for _ in range(pool.max_size):
            held.append(pool.getconn(timeout=5))
    finally:
        for conn in held:
            pool.putconn(conn)


class _ClosableProxy:
    """A TCP proxy to Redis that can be shut, so Redis seems to go away and stay away."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.pipes: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _pipe(self, reader, writer):
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.pipes |= {writer, up_writer}

        async def copy(src, dst):
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))

    async def shut(self):
        self.server.close()
        for writer in self.pipes:
            writer.transport.abort()


def test_redis_out_of_reach_is_one_line_not_a_traceback_a_second():
    """Found from outside: while Redis was down, the BFF's channel layer (channels-redis)
    logged a traceback every second."""
    from urllib.parse import urlsplit

    from channels_redis.pubsub import RedisPubSubChannelLayer

    _, stream = capture("text")
    seen = []
    counter = logging.Handler()
    # every record the library logs, as it logs it (the console's filters then change it)
    counter.emit = lambda record: seen.append(record.exc_info is not None)
    library = logging.getLogger("channels_redis")
    library.addHandler(counter)
    redis_at = urlsplit(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379"))

    async def lose_redis_while_subscribed():
        proxy = _ClosableProxy((redis_at.hostname, redis_at.port or 6379))
        port = await proxy.start()
        layer = RedisPubSubChannelLayer(hosts=[f"redis://127.0.0.1:{port}"])
        channel = await layer.new_channel()
        await layer.group_add("sockets", channel)
        await proxy.shut()
        for _ in range(100):  # the library retries once a second
            if len(seen) >= 3:
                break
            await asyncio.sleep(0.1)
        with contextlib.suppress(Exception):
            await layer.flush()

    try:
        asyncio.run(lose_redis_while_subscribed())
    finally:
        library.removeHandler(counter)
    assert len(seen) >= 3 and all(seen), seen  # each with its traceback
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert "WARNING" in lines[0] and "Redis unavailable to the channel layer" in lines[0]
    assert "Traceback" not in stream.getvalue()


@pytest.mark.django_db
def test_database_connections_find_a_silent_server_dead_in_about_a_minute():
    """Found in review: after a silent loss of the network (no reset, no answer), a
    connection waited for its answer for hours, by the kernel's defaults."""
    import socket

    from django.db import connection

    if connection.vendor != "postgresql" or connection.settings_dict.get("HOST", "").startswith(
        "/"
    ):
        pytest.skip("a PostgreSQL connection over TCP")
    connection.ensure_connection()
    sock = socket.socket(fileno=os.dup(connection.connection.fileno()))
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 10
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
    finally:
        sock.close()  # the duplicate only: the connection keeps its own


@pytest.mark.timeout(30)  # a deadlock, as it was, fails the test instead of hanging it
def test_a_stop_signal_while_the_main_thread_holds_the_events_lock_still_stops_the_worker():
    """Event.set() in the handler waited for ever for the lock the interrupted main thread
    held (entering or leaving stop.wait()): a relay or consumer that then ignored SIGTERM
    was seen still running 60 s after `up` was killed outright."""
    import os
    import signal
    import threading

    from servicekit.runtime import stop_on_signals

    stop = threading.Event()
    previous = signal.getsignal(signal.SIGUSR1)
    stop_on_signals(stop, signals=(signal.SIGUSR1,))
    try:
        with stop._cond:  # as the main thread holds it inside stop.wait()
            os.kill(os.getpid(), signal.SIGUSR1)  # handled here, at the next bytecode
            assert not stop.is_set()
        assert stop.wait(5)
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_a_lock_held_elsewhere_met_outside_the_api_is_a_503_locked_not_a_500():
    """Found from outside: a lock held on the sessions table met in the admin's session
    middleware, outside DRF's handler, was a 500 with a traceback."""
    import json

    from servicekit.errors import json_server_error

    class LockNotAvailable(Exception):
        sqlstate = "55P03"

    try:
        raise LockNotAvailable
    except LockNotAvailable:
        answer = json_server_error(None)
    assert answer.status_code == 503 and json.loads(answer.content)["code"] == "locked"
    assert answer["Retry-After"]
    assert json_server_error(None).status_code == 500  # anything else is ours
