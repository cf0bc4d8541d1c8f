"""The BFF in-process: validation before any call, and answers when services are down.

Everything that needs the services running is tested with live processes in
tests/test_bff_live.py; here the services' URLs point at a closed port.
"""

import json
import socket
import uuid

import pytest

pytestmark = pytest.mark.django_db

LAPTOP = "a1111111-1111-1111-1111-111111111111"


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture(autouse=True)
def nobody_home(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    for name in ("ORDER", "INVENTORY", "SAGA", "MARKETING"):
        setattr(settings, f"{name}_SERVICE_URL", url)
    settings.BFF = {**settings.BFF, "CONNECT_TIMEOUT_SECONDS": 0.2}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"customer_name": "", "product_id": LAPTOP, "quantity": 1},
        {"customer_name": "x" * 201, "product_id": LAPTOP, "quantity": 1},
        {"customer_name": "A", "product_id": "not-a-uuid", "quantity": 1},
        {"customer_name": "A", "product_id": 123, "quantity": 1},
        {"customer_name": 123, "product_id": LAPTOP, "quantity": 1},
        {"customer_name": "A\u202eB", "product_id": LAPTOP, "quantity": 1},
        {"customer_name": "A\x1b[31m", "product_id": LAPTOP, "quantity": 1},
        {"customer_name": "A", "product_id": LAPTOP, "quantity": 0},
        {"customer_name": "A", "product_id": LAPTOP, "quantity": -2},
        {"customer_name": "A", "product_id": LAPTOP, "quantity": 100_000},
        {"customer_name": "A", "product_id": LAPTOP, "quantity": "3"},
        {"customer_name": "A", "product_id": LAPTOP, "quantity": 1.5},
        {"customer_name": "A", "product_id": LAPTOP, "quantity": 1, "faults": {"X": "fail"}},
        [],
        "text",
    ],
)
def test_bad_order_bodies_are_400_json_before_any_call(api, body):
    response = api.post("/api/orders", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_an_idempotency_key_too_long_is_400_before_any_call(api):
    body = {"customer_name": "A", "product_id": LAPTOP, "quantity": 1}
    response = api.post("/api/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="k" * 201)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["errors"]


def test_a_command_id_in_the_body_names_the_order_as_the_key_does(api, monkeypatch):
    from gateway import api as views
    from gateway.downstream import Answer

    placed = []
    monkeypatch.setattr(
        views.services, "place_order", lambda **kw: placed.append(kw) or Answer(200, {}, {})
    )
    body = {"customer_name": "A", "product_id": LAPTOP, "quantity": 1}
    api.post("/api/orders", {**body, "command_id": "k-1"}, format="json")
    api.post("/api/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert [p["idempotency_key"] for p in placed] == ["k-1", "k-1"]
    too_long = api.post("/api/orders", {**body, "command_id": "k" * 201}, format="json")
    assert too_long.status_code == 400 and len(placed) == 2
    # two keys that disagree name no one order: the body's silently won (found from outside)
    both = api.post(
        "/api/orders", {**body, "command_id": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="b"
    )
    assert both.status_code == 400 and "command_id" in both.json()["errors"]
    same = api.post(
        "/api/orders", {**body, "command_id": "k-1"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert same.status_code == 200 and len(placed) == 3


def test_broken_json_is_400(api):
    response = api.post("/api/orders", "{oops", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"


def test_a_service_that_does_not_answer_is_a_503_json(api):
    response = api.get("/api/products")
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert response["Retry-After"] == "2"  # temporary: come back, with the same key
    body = {"customer_name": "A", "product_id": LAPTOP, "quantity": 1}
    assert api.post("/api/orders", body, format="json").status_code == 503


def test_the_dashboard_answers_with_what_it_has_and_names_what_is_missing(api):
    response = api.get("/api/dashboard")
    assert response.status_code == 200
    body = response.json()
    assert set(body["degraded"]) == {
        "inventory-service",
        "marketing-service",
        "order-service",
        "saga-service",
    }
    assert body["products"] == [] and body["marketing"] is None


def test_events_timeline_with_its_sources_down_is_empty_and_says_why(api):
    response = api.get("/api/events")
    assert response.status_code == 200 and response.json() == []
    assert set(response["X-Degraded"].split(",")) == {
        "order-service",
        "inventory-service",
        "saga-service",
    }


def test_a_503_is_logged_once_with_its_correlation_id(api, settings):
    """Found in review: Django logs every 5xx answer again on django.request, as an ERROR
    and after the middleware has let go of the correlation id: each 503 of a service down
    was a second line, at the level of a crash, that named no request."""
    import io
    import logging.config

    from servicekit.logging import logging_config

    config = logging_config(service="bff")
    config["handlers"]["console"]["stream"] = stream = io.StringIO()
    logging.config.dictConfig(config)
    try:
        response = api.get("/api/products", HTTP_X_CORRELATION_ID="c-503")
    finally:
        logging.config.dictConfig(settings.LOGGING)
    assert response.status_code == 503
    lines = stream.getvalue().splitlines()
    assert [line for line in lines if "django.request" in line] == []
    assert [line for line in lines if "servicekit.request" in line] == [
        line for line in lines if "[c-503] GET /api/products -> 503" in line
    ]


@pytest.mark.parametrize(
    "url",
    [
        "/api/events?limit=0",
        "/api/events?service=nope",
        "/api/events?aggregate=xyz",
        "/api/orders?status=SHIPPED",
        "/api/marketing/daily?days=0",
    ],
)
def test_bad_query_parameters_are_400(api, url):
    assert api.get(url).status_code == 400


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        # the marketing service's own defaults apply (a page of 100, of 366 for the days)
        ("/api/marketing/daily", {}),
        ("/api/marketing/daily?days=7&limit=5", {"days": 7, "limit": 5}),
        ("/api/marketing/customers?offset=10", {"offset": 10}),
        ("/api/marketing/customers?ordering=-total_orders", {"ordering": "-total_orders"}),
        # what a view does not take is not checked, as the marketing service does not
        ("/api/marketing/overview?limit=abc&days=0", {}),
        ("/api/marketing/products?days=3", {}),
    ],
)
def test_marketing_queries_pass_on_only_what_the_client_gave(api, monkeypatch, url, sent):
    from gateway import api as views
    from gateway.downstream import Answer

    calls = []

    def marketing(service, path, **params):
        calls.append({k: v for k, v in params.items() if v is not None})
        return Answer(200, [], {"X-Total-Count": "0"})

    monkeypatch.setattr(views, "get", marketing)
    assert api.get(url).status_code == 200
    assert calls == [sent]


def test_the_schema_documents_each_marketing_view_with_what_it_takes(api):
    paths = api.get("/api/schema/", {"format": "json"}).json()["paths"]
    taken = {
        kind: {p["name"] for p in paths[f"/api/marketing/{kind}"]["get"].get("parameters", ())}
        for kind in ("overview", "customers", "products", "daily")
    }
    assert taken == {
        "overview": set(),
        "customers": {"limit", "offset", "ordering"},
        "products": {"limit", "offset"},
        "daily": {"limit", "offset", "days"},
    }


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("/api/sagas", {"limit": 100, "offset": 0}),
        ("/api/sagas?limit=20&offset=40", {"limit": 20, "offset": 40}),
        ("/api/sagas?status=COMPENSATED", {"limit": 100, "offset": 0, "status": "COMPENSATED"}),
    ],
)
def test_saga_queries_are_checked_and_passed_on(api, monkeypatch, url, sent):
    from gateway import api as views
    from gateway.downstream import Answer

    calls = []

    def sagas(service, path, **params):
        calls.append((service, path, {k: v for k, v in params.items() if v is not None}))
        return Answer(200, [], {"X-Total-Count": "7"})

    monkeypatch.setattr(views, "get", sagas)
    response = api.get(url)
    assert response.status_code == 200 and response["X-Total-Count"] == "7"
    assert calls == [("saga-service", "/sagas", sent)]


@pytest.mark.parametrize("query", ["status=DONE", "limit=0", "limit=x", "offset=-1"])
def test_bad_saga_queries_are_400_before_any_call(api, query):
    response = api.get(f"/api/sagas?{query}")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_unknown_paths_are_json_404(api):
    for url in ("/api/nope", f"/api/orders/{'x' * 5}", "/api/sagas/x", "/api/marketing/secrets"):
        response = api.get(url)
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"


def test_root_serves_the_ui_or_says_how_to_build_it(client, settings, tmp_path):
    settings.FRONTEND_DIST = tmp_path
    page = client.get("/")
    assert page.status_code == 200 and b"npm" in page.content
    (tmp_path / "index.html").write_text("<!doctype html><title>shop</title>")
    assert b"<title>shop</title>" in b"".join(client.get("/").streaming_content)


def test_cors_allows_only_the_dev_server(client):
    allowed = client.get("/health", headers={"Origin": "http://localhost:3000"})
    assert allowed["Access-Control-Allow-Origin"] == "http://localhost:3000"
    foreign = client.get("/health", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign


def test_idempotency_keys_name_one_order_for_good():
    from gateway.services import KEYED_ORDERS
    from servicekit.ids import order_id_for

    first, again = (order_id_for("k", namespace=KEYED_ORDERS) for _ in range(2))
    assert first == again != order_id_for("k2", namespace=KEYED_ORDERS)
    assert order_id_for(None, namespace=KEYED_ORDERS) != order_id_for(None, namespace=KEYED_ORDERS)


def test_a_repeatable_call_is_sent_again_when_the_connection_fails(caplog):
    from gateway.downstream import Persistence, ServiceUnavailable, call, reconnect_pause

    with (
        caplog.at_level("INFO", logger="gateway.downstream"),
        pytest.raises(ServiceUnavailable),
    ):
        call(
            "saga-service",
            "POST",
            "/saga/place-order",
            json={},
            persistence=Persistence(reconnects=2),
        )
    assert sum("sending again" in r.getMessage() for r in caplog.records) == 2
    # place_order's reconnects wait long enough for a crashed gunicorn to restart twice
    from gateway.services import PLACE_ORDER

    pauses = [reconnect_pause(attempt) for attempt in range(PLACE_ORDER.reconnects)]
    assert pauses[0] == 0.05 and max(pauses) == 1.0 and 6.0 < sum(pauses) < 7.0


def test_an_answer_cut_off_midway_is_asked_for_again(settings):
    """A saga worker killed while it sends its answer leaves the BFF half a body."""
    import threading

    from gateway.downstream import Persistence, call

    answered = json.dumps({"order_id": "o", "success": True}).encode()
    listener = socket.create_server(("127.0.0.1", 0))
    settings.SAGA_SERVICE_URL = f"http://127.0.0.1:{listener.getsockname()[1]}"

    def serve(times: int) -> None:
        for n in range(times):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(answered)}\r\n\r\n"
                conn.sendall(head.encode() + (answered[:5] if n == 0 else answered))

    server = threading.Thread(target=serve, args=(2,), daemon=True)
    server.start()
    try:
        once_more = Persistence(reconnects=1)
        answer = call("saga-service", "POST", "/saga/place-order", json={}, persistence=once_more)
    finally:
        server.join(5)
        listener.close()
    assert answer.status == 200 and answer.body == {"order_id": "o", "success": True}


def _service_answering(settings, name: str, answers: list[tuple[int, object]]):
    """Service ``name`` (ORDER, SAGA, ...) gives ``answers`` in turn, one connection each;
    returns its thread."""
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    setattr(settings, f"{name}_SERVICE_URL", f"http://127.0.0.1:{listener.getsockname()[1]}")

    def serve() -> None:
        with listener:
            for status, body in answers:
                conn, _ = listener.accept()
                with conn:
                    conn.recv(65536)
                    data = json.dumps(body).encode()
                    conn.sendall(
                        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                        f"Retry-After: 0\r\nConnection: close\r\n"
                        f"Content-Length: {len(data)}\r\n\r\n".encode()
                        + data
                    )

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    return server


ORDER = {"customer_name": "A", "product_id": LAPTOP, "quantity": 1}
BUSY = (503, {"detail": "The database is unavailable; retry later.", "code": "unavailable"})


@pytest.fixture
def priced(monkeypatch):
    from gateway import services

    monkeypatch.setattr(services, "product_terms", lambda product_id: ("Laptop", 120000))


def test_an_order_the_saga_answered_503_is_sent_again(api, settings, priced):
    """Its database failed under the first call (a connection dropped by a failover): the
    same order id again joins that saga, or the resumer's (found from outside: the client
    got the 503 while the order was confirmed)."""
    placed = {"order_id": "o", "success": True, "quantity": 1, "product_name": "Laptop"}
    done = (200, {**placed, "status": "COMPLETED", "saga_log": []})
    server = _service_answering(settings, "SAGA", [BUSY, BUSY, done])
    response = api.post("/api/orders", ORDER, format="json")
    server.join(5)
    assert response.status_code == 200 and response.json()["success"] is True


def test_an_order_the_saga_keeps_refusing_is_a_503_that_names_the_order(api, settings, priced):
    server = _service_answering(settings, "SAGA", [BUSY, BUSY, BUSY])
    response = api.post("/api/orders", ORDER, format="json", HTTP_IDEMPOTENCY_KEY="k-503")
    server.join(5)
    from gateway.services import KEYED_ORDERS
    from servicekit.ids import order_id_for

    assert response.status_code == 503 and response["Retry-After"]
    assert response.json()["order_id"] == str(order_id_for("k-503", namespace=KEYED_ORDERS))
    assert "send again with the same Idempotency-Key" in response.json()["detail"]


def test_an_order_sent_without_a_key_is_not_told_to_send_it_again_with_one(api, settings, priced):
    """Found from outside: the advice could not be followed, and a resend is a new order."""
    server = _service_answering(settings, "SAGA", [BUSY, BUSY, BUSY])
    response = api.post("/api/orders", ORDER, format="json")
    server.join(5)
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "Idempotency-Key" in detail and "same Idempotency-Key" not in detail
    assert response.json()["order_id"] in detail


def test_placing_an_order_gives_up_sending_again_at_its_time_limit(api, settings, priced):
    """Found in review: three sends of up to 35 s each, with reconnects and pauses between,
    could hold a request for two minutes, long after the UI had given up at 60 s."""
    import threading
    import time

    listener = socket.create_server(("127.0.0.1", 0))
    settings.SAGA_SERVICE_URL = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings.BFF = {**settings.BFF, "PLACE_ORDER_SECONDS": 0.5}
    sends = []

    def slow_503s() -> None:
        with listener:
            listener.settimeout(5)
            for _ in range(3):
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    return
                with conn:
                    conn.recv(65536)
                    sends.append(time.monotonic())
                    time.sleep(0.3)  # the saga's database is failing slowly
                    data = json.dumps(BUSY[1]).encode()
                    conn.sendall(
                        b"HTTP/1.1 503 X\r\nContent-Type: application/json\r\nRetry-After: 0\r\n"
                        + f"Connection: close\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                        + data
                    )

    server = threading.Thread(target=slow_503s, daemon=True)
    server.start()
    response = api.post("/api/orders", ORDER, format="json", HTTP_IDEMPOTENCY_KEY="k-late")
    server.join(10)
    assert response.status_code == 503 and response.json()["order_id"]
    assert len(sends) == 2  # the third would have started past the limit


def test_a_read_the_service_answered_503_once_is_sent_again(api, settings):
    """A database blip (found from outside): the first request on a dropped pooled connection
    is a 503, the next one is served; the BFF's client should not see that 503."""
    laptop = {"id": LAPTOP, "product_name": "Laptop", "available": 50}
    server = _service_answering(settings, "INVENTORY", [BUSY, (200, laptop)])
    response = api.get(f"/api/products/{LAPTOP}")
    server.join(5)
    assert response.status_code == 200 and response.json() == laptop


def test_a_read_the_service_answered_locked_is_not_sent_again(api, settings):
    """It had waited the service's DB_LOCK_TIMEOUT_MS for a lock held there: sent again, it
    waited as long again (found from outside: 10 s for a 5 s answer)."""
    locked = (503, {"detail": "Another session holds a lock on this data.", "code": "locked"})
    laptop = {"id": LAPTOP, "product_name": "Laptop", "available": 50}
    server = _service_answering(settings, "INVENTORY", [locked, (200, laptop)])
    response = api.get(f"/api/products/{LAPTOP}")
    assert response.status_code == 503
    assert response.json()["code"] == "locked"  # not a service that is down
    assert response.json()["service"] == "inventory-service"
    assert server.is_alive()  # the second answer was never asked for


LOCKED = (503, {"detail": "Another session holds a lock on this data.", "code": "locked"})


def test_an_order_whose_service_answered_locked_is_a_locked_503(api, settings):
    """The order's detail is read beside its events and saga: a lock met by the order's own
    read is passed on as such (found from outside: the BFF said 'service_unavailable')."""
    _service_answering(settings, "ORDER", [LOCKED, LOCKED])
    _service_answering(settings, "SAGA", [(404, {"detail": "Not found.", "code": "not_found"})])
    response = api.get(f"/api/orders/{uuid.uuid4()}")
    assert response.status_code == 503
    assert response.json()["code"] == "locked"
    assert response.json()["service"] == "order-service"


def test_the_dashboard_says_why_each_service_it_misses_is_missing(api, settings):
    """Found from outside: it said `degraded` and no more, though a service that holds a
    lock (wait it out) and one that is down (restart it) want different remedies."""
    _service_answering(settings, "MARKETING", [LOCKED])
    body = api.get("/api/dashboard").json()
    reasons = body["degraded_reasons"]
    assert [r["service"] for r in reasons] == body["degraded"]
    by_service = {r["service"]: r for r in reasons}
    assert by_service["marketing-service"]["code"] == "locked"
    assert "holds a lock on this data" in by_service["marketing-service"]["detail"]
    assert by_service["order-service"] == {
        "service": "order-service",
        "code": "service_unavailable",
        "detail": "order-service did not answer",
    }


def test_an_order_whose_saga_kept_its_stream_locked_says_so(api, settings, priced):
    """Found from outside: with the saga's table locked, its 503s said `stream_busy` and the
    BFF answered `service_unavailable`, as for a saga that is down."""
    busy = (503, {"detail": "The stream is held by another transaction.", "code": "stream_busy"})
    server = _service_answering(settings, "SAGA", [busy, busy, busy])
    response = api.post("/api/orders", ORDER, format="json")
    server.join(5)
    assert response.status_code == 503 and response.json()["code"] == "stream_busy"
    assert response.json()["service"] == "saga-service" and response.json()["order_id"]
    assert "held by another transaction" in response.json()["detail"]


def test_an_order_the_saga_answered_locked_is_a_locked_503_naming_it(api, settings, priced):
    _service_answering(settings, "SAGA", [LOCKED])
    response = api.post("/api/orders", ORDER, format="json", HTTP_IDEMPOTENCY_KEY="k-locked")
    assert response.status_code == 503
    assert response.json()["code"] == "locked" and response.json()["order_id"]


def test_a_read_the_service_keeps_refusing_is_a_503(api, settings):
    server = _service_answering(settings, "INVENTORY", [BUSY, BUSY, (200, {})])
    response = api.get(f"/api/products/{LAPTOP}")
    assert response.status_code == 503 and response.json()["code"] == "service_unavailable"
    assert server.is_alive()  # the third answer was never asked for


def test_the_catalogue_terms_of_a_product_are_read_once(settings, monkeypatch):
    from gateway import services
    from gateway.downstream import Answer

    calls = []

    def inventory(service, path, **params):
        calls.append(path)
        return Answer(200, {"product_name": "Laptop", "price": 120000}, {})

    monkeypatch.setattr(services, "get", inventory)
    monkeypatch.setattr(services, "_terms", {})
    product = uuid.UUID(LAPTOP)
    assert services.product_terms(product) == ("Laptop", 120000)
    assert services.product_terms(product) == ("Laptop", 120000)
    assert calls == [f"/queries/products/{product}"]


def test_the_events_timeline_pages_alike_whatever_the_page_size(monkeypatch):
    """A service numbers its events at commit but stamps them before (ADR 0001), so its
    newest by position are not its newest by time. Sorting each window by time made a page
    depend on its size: an event stamped later but committed earlier fell outside a small
    window and inside a large one (found from outside: pages of 5 through the newest 1,000
    skipped 10 events and showed others twice). The sources are merged instead, each in
    its commit order, so each page is a slice of one timeline."""
    from gateway import downstream, services
    from gateway.downstream import Answer

    def event(position, second):
        return {"position": position, "created_at": f"2026-01-01T10:00:{second:06.3f}Z"}

    logs = {  # order-service's 6 was stamped before its 5 but committed after it
        "order-service": [event(6, 1.0), event(5, 1.005), event(4, 0.9), event(3, 0.8)],
        "inventory-service": [event(2, 1.002), event(1, 0.65)],
        "saga-service": [event(2, 0.96), event(1, 0.95)],
    }

    def newest(service, path, limit, **params):  # as the services page: newest by position
        return Answer(200, logs[service][:limit], {"X-Total-Count": str(len(logs[service]))})

    monkeypatch.setattr(downstream, "get", newest)
    whole, total, degraded = services.events_timeline(limit=10)
    assert total == 8 and degraded == [] and len(whole) == 8
    for service, log in logs.items():  # each source in its commit order
        assert [e["position"] for e in whole if e["service"] == service] == [
            e["position"] for e in log
        ]
    for size in range(1, 8):
        paged = [
            e
            for offset in range(0, 8, size)
            for e in services.events_timeline(limit=size, offset=offset)[0]
        ]
        assert paged == whole, size


def test_an_events_page_ends_at_the_window_of_the_newest(monkeypatch):
    """Each source gives its newest 1,000, so the merge is right only that far: past it a
    source's newer events were missing and older ones of another shown (found from
    outside: offset=999&limit=200 gave 200 rows, 199 of them wrong)."""
    from gateway import downstream, services
    from gateway.downstream import Answer

    def newest(service, path, limit, **params):
        events = [
            {"position": p, "created_at": f"2026-01-01T10:{p // 60:02d}:{p % 60:02d}Z"}
            for p in range(1500, 1500 - limit, -1)
        ]
        return Answer(200, events, {"X-Total-Count": "1500"})

    monkeypatch.setattr(downstream, "get", newest)
    timeline, total, _ = services.events_timeline(offset=999, limit=200)  # three sources
    assert len(timeline) == 1 and total == 3 * 1500


def test_many_dashboards_at_once_all_finish(monkeypatch):
    """A dashboard's reads run on the BFF's downstream threads. When one of them (the events
    timeline) gathered its own three on those threads again, as many dashboards in flight
    as there were threads could wait on each other for good (found in review)."""
    import threading
    import time

    from gateway import downstream, services
    from gateway.downstream import Answer

    def slow_service(service, path, **params):
        time.sleep(0.05)
        return Answer(200, [], {"X-Total-Count": "0"})

    monkeypatch.setattr(downstream, "get", slow_service)
    finished = []
    dashboards = [
        threading.Thread(target=lambda: finished.append(services.dashboard()), daemon=True)
        for _ in range(40)
    ]
    for dashboard in dashboards:
        dashboard.start()
    deadline = time.monotonic() + 30
    for dashboard in dashboards:
        dashboard.join(max(0.0, deadline - time.monotonic()))
    assert len(finished) == 40
    assert all(degraded == [] for _, degraded in finished)


def test_a_service_that_stops_answering_holds_only_its_own_threads(monkeypatch):
    """Found in review: every read of every page shared one pool of 16 threads, so twenty
    dashboards waiting on a hung marketing service held them all, and an order's detail
    (order and saga services, both well) waited behind them."""
    import threading

    from gateway import downstream, services
    from gateway.downstream import Answer

    hung = threading.Event()

    def services_but_marketing(service, path, **params):
        if service == "marketing-service":
            hung.wait(30)
            raise downstream.ServiceUnavailable("marketing did not answer", service=service)
        if path.startswith("/queries/orders/"):
            return Answer(200, {"id": path.rsplit("/", 1)[1]}, {})
        return Answer(200, [], {"X-Total-Count": "0"})

    monkeypatch.setattr(downstream, "get", services_but_marketing)
    dashboards = [threading.Thread(target=services.dashboard, daemon=True) for _ in range(20)]
    try:
        for dashboard in dashboards:
            dashboard.start()
        detail = []
        reader = threading.Thread(
            target=lambda: detail.append(services.order_detail(uuid.UUID(LAPTOP))), daemon=True
        )
        reader.start()
        reader.join(20)
        assert not hung.is_set() and detail, "the order's detail waited for marketing"
        assert detail[0][1] == []
    finally:
        hung.set()
        for dashboard in dashboards:
            dashboard.join(30)


def test_a_read_that_found_no_thread_in_time_is_degraded_not_waited_for(monkeypatch):
    import threading

    from gateway import downstream, services
    from gateway.downstream import Answer

    hung = threading.Event()

    def marketing_hangs(service, path, **params):
        if service == "marketing-service":
            hung.wait(30)
        return Answer(200, [], {"X-Total-Count": "0"})

    monkeypatch.setattr(downstream, "get", marketing_hangs)
    monkeypatch.setattr(downstream, "longest_read", lambda: 0.2)
    try:
        body, degraded = services.dashboard()
    finally:
        hung.set()
    assert degraded == ["marketing-service"] and body["marketing"] is None
    assert body["degraded_reasons"] == [  # which service the dashboard misses, and why
        {
            "service": "marketing-service",
            "code": "service_unavailable",
            "detail": "marketing-service did not answer in time",
        }
    ]


@pytest.mark.parametrize(
    ("query", "status"), [("offset=900&limit=100", 200), ("offset=999", 200), ("offset=1000", 400)]
)
def test_an_events_page_may_start_anywhere_in_the_window_of_the_newest(api, query, status):
    assert api.get(f"/api/events?{query}").status_code == status


def test_an_orders_socket_group_is_the_same_however_its_id_is_written():
    from gateway.push import order_group

    order_id = uuid.uuid4()
    assert order_group(str(order_id).upper()) == order_group(order_id) == f"order.{order_id}"


@pytest.mark.django_db(transaction=True)
def test_a_long_catch_up_is_pushed_in_frames_of_bounded_size(monkeypatch):
    from django.db import transaction

    from gateway import push

    frames = []

    class Layer:
        async def group_send(self, group, message):
            frames.append((group, len(json.loads(message["frame"]))))

    monkeypatch.setattr(push, "get_channel_layer", lambda: Layer())
    order_id = str(uuid.uuid4())
    pushes = 2 * push.MAX_OUTBOX + 5
    for i in range(pushes):  # a poll catching up: one committed batch after another
        with transaction.atomic():
            push.push(order_id, {"type": "order.status", "n": i})
    push.send_pushes()  # the poll's end
    to_all = [size for group, size in frames if group == push.ALL_ORDERS]
    assert sum(to_all) == pushes and max(to_all) <= push.MAX_OUTBOX
    assert sum(size for group, size in frames if group == push.order_group(order_id)) == pushes


def test_an_unknown_websocket_path_is_refused_at_the_handshake_not_failed():
    from asgiref.sync import async_to_sync
    from asgiref.testing import ApplicationCommunicator
    from channels.routing import URLRouter

    from gateway.routing import websocket_urlpatterns

    async def handshake(path):
        scope = {"type": "websocket", "path": path, "headers": [], "subprotocols": []}
        communicator = ApplicationCommunicator(URLRouter(websocket_urlpatterns), scope)
        await communicator.send_input({"type": "websocket.connect"})
        answer = await communicator.receive_output(timeout=2)
        await communicator.send_input({"type": "websocket.disconnect", "code": 1006})
        await communicator.wait(timeout=2)
        return answer["type"]

    for path in ("/ws/bogus/", "/ws/orders/nope/", f"/ws/orders/{uuid.uuid4()}/x/"):
        assert async_to_sync(handshake)(path) == "websocket.close"


def test_a_forged_post_is_refused_in_json_but_for_the_admins_people():
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    page = browser.post("/")
    assert page.status_code == 403 and page.json()["code"] == "csrf_failed"
    login = browser.post("/admin/login/", {"username": "a", "password": "b"})
    assert login.status_code == 403 and login["Content-Type"].startswith("text/html")
    health = browser.post("/health")
    assert health.status_code == 405 and health["Allow"] == "GET, HEAD"
    assert health.json()["code"] == "method_not_allowed"


def test_the_dev_servers_origin_may_send_an_idempotency_key_and_read_the_headers(api):
    preflight = api.options(
        "/api/orders",
        HTTP_ORIGIN="http://127.0.0.1:3000",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type, idempotency-key",
    )
    assert "idempotency-key" in preflight["Access-Control-Allow-Headers"]
    listed = api.get("/api/orders", HTTP_ORIGIN="http://127.0.0.1:3000")
    exposed = listed["Access-Control-Expose-Headers"]
    assert "X-Degraded" in exposed and "Retry-After" in exposed


def test_a_compensation_left_for_the_resumer_is_pushed_with_its_attempts(monkeypatch):
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from contracts.sagas import StepPaused
    from gateway import push

    pushed = []
    monkeypatch.setattr(push, "push", lambda order_id, message: pushed.append(message))
    order_id = str(uuid.uuid4())
    event = StepPaused(
        seq=3, step="ReleaseInventory", compensating=True, attempts=6, error="timed out"
    )
    recorded = SimpleNamespace(
        metadata={"order_id": order_id},
        stream_id=uuid.uuid4(),
        event_type="StepPaused",
        position=9,
        recorded_at=datetime.now(UTC),
    )
    push.saga_step(event, recorded)
    [message] = pushed
    assert message["status"] == "STARTED" and message["attempts"] == 6
    assert message["message"] == "waiting for the resumer: timed out" and message["error"] is None
    assert message["action"] == "ReleaseInventory (COMPENSATING)"


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        ({"success": True, "quantity": 2, "product_name": "Laptop"}, "Order confirmed: 2 x Laptop"),
        ({"success": False, "status": "COMPENSATING"}, "The order is still being processed"),
        ({"success": False, "status": "COMPENSATED", "reason": "out of stock"}, "Order cancelled"),
        # found from outside: an order never created was called cancelled
        (
            {
                "success": False,
                "status": "COMPENSATED",
                "reason": "CreateOrder failed: injected failure",
                "saga_log": [{"step": 1, "action": "CreateOrder", "status": "FAILED"}],
            },
            "Order not placed: CreateOrder failed",
        ),
        # a compensation refused: the order may even be confirmed, and a person must look
        ({"success": False, "status": "FAILED", "reason": "cancel refused"}, "needs an operator"),
    ],
)
def test_the_message_says_how_the_saga_ended(outcome, message):
    from gateway.services import _message

    assert message in _message(outcome)
