"""The BFF in front of the whole system: every service a real process on PostgreSQL, a
private Redis, relays and workers running, and a service token required on commands.
"""

import asyncio
import json
import threading
import time
import uuid

import pytest
import requests
import websockets

from bff_service.config.workers import REQUEST_SECONDS
from tests import slow_clients
from tests.live import System

pytestmark = pytest.mark.system

LAPTOP = "a1111111-1111-1111-1111-111111111111"
MONITOR = "d4444444-4444-4444-4444-444444444444"
TIMEOUT = (3.05, 60)
TOKEN = "live-test-token"


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    system = System(
        tmp_path_factory.mktemp("bff"), env={"SERVICE_TOKEN": TOKEN, "SAGA_FAULTS": "1"}
    )
    try:
        system.start()
        bff = system["bff"]
        bff.ws_url = bff.url.replace("http://", "ws://")
        bff.origin = bff.url
        yield system
    finally:
        system.stop()


def api(system, method, path, **kwargs):
    return requests.request(method, f"{system['bff'].url}/api{path}", timeout=TIMEOUT, **kwargs)


def order(system, product=LAPTOP, quantity=1, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    body = {"customer_name": "Sato", "product_id": product, "quantity": quantity}
    return api(system, "POST", "/orders", json=body, headers=headers)


async def collect(url, origin, until, timeout=20.0):
    """Messages from a websocket until ``until(messages)`` holds (or the timeout)."""
    messages = []
    async with websockets.connect(url, origin=origin, open_timeout=10) as ws:
        deadline = time.monotonic() + timeout
        while not until(messages) and time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            decoded = json.loads(raw)  # changes come in arrays, the snapshot alone
            messages += decoded if isinstance(decoded, list) else [decoded]
    return messages


def watch_all_orders_while(system, action, until):
    """Connect to /ws/orders/, run ``action`` once the snapshot arrived, collect messages."""
    bff = system["bff"]
    result = {}
    connected = threading.Event()

    def stop_when(messages):
        if messages and not connected.is_set():
            connected.set()
        return "order_id" in result and until(messages, result["order_id"])

    def act():
        if not connected.wait(20):
            return
        response = action()
        result["response"] = response
        result["order_id"] = response.json()["order_id"]

    actor = threading.Thread(target=act)
    actor.start()
    messages = asyncio.run(collect(f"{bff.ws_url}/ws/orders/", bff.origin, stop_when, 40))
    actor.join(60)
    return result, messages


def is_heartbeat(frame) -> bool:
    return isinstance(frame, list) and any(m.get("type") == "heartbeat" for m in frame)


def for_order(messages, order_id):
    return [m for m in messages if m.get("order_id") == order_id]


def seen(messages, order_id, order_status, saga_status):
    """Both ends have arrived: order and saga events travel on separate streams."""
    mine = for_order(messages, order_id)
    return any(m["type"] == "order.status" and m["status"] == order_status for m in mine) and any(
        m["type"] == "saga.status" and m["status"] == saga_status for m in mine
    )


def test_products_and_one_product(system):
    response = api(system, "GET", "/products")
    assert response.status_code == 200 and response.headers["X-Total-Count"] == "5"
    product = response.json()[0]
    assert {"id", "product_name", "price", "quantity", "reserved", "available"} <= set(product)
    one = api(system, "GET", f"/products/{LAPTOP}").json()
    assert one["product_name"] == "Laptop" and one["price"] == 120_000
    assert api(system, "GET", f"/products/{uuid.uuid4()}").status_code == 404


def test_an_order_turns_confirmed_live_over_the_websocket(system):
    result, messages = watch_all_orders_while(
        system,
        lambda: order(system, LAPTOP, 1),
        lambda ms, oid: seen(ms, oid, "CONFIRMED", "COMPLETED"),
    )
    body = result["response"].json()
    assert body["success"] is True and body["status"] == "COMPLETED"
    assert body["message"].startswith("Order confirmed")
    assert [s["action"] for s in body["saga_log"]] == [
        "CreateOrder",
        "ReserveInventory",
        "ConfirmOrder",
    ]
    assert messages[0]["type"] == "snapshot"
    statuses = [
        m["status"] for m in for_order(messages, body["order_id"]) if m["type"] == "order.status"
    ]
    assert statuses == ["PENDING", "CONFIRMED"]
    # the saga's start names what it places: a saga followed live needs no read to show it
    [started] = [
        m
        for m in for_order(messages, body["order_id"])
        if m["type"] == "saga.status" and m["event_type"] == "SagaStarted"
    ]
    assert started["about"] == {"customer_name": "Sato", "product_name": "Laptop", "quantity": 1}
    # times are written alike everywhere: UTC with a Z
    pushed = [m["at"] for m in for_order(messages, body["order_id"])]
    logged = [s["timestamp"] for s in body["saga_log"]]
    assert pushed and all(t.endswith("Z") for t in [*pushed, *logged, body["created_at"]])


def test_a_socket_ignores_frames_that_are_not_json_text(system):
    bff = system["bff"]

    async def talk():
        async with websockets.connect(f"{bff.ws_url}/ws/orders/", origin=bff.origin) as ws:
            await asyncio.wait_for(ws.recv(), 10)  # the snapshot
            deep = "[" * 100_000  # json.loads raises RecursionError, not ValueError
            for frame in ("hello", b"\x00\x01", "[1, 2]", deep, json.dumps({"type": "ping"})):
                await ws.send(frame)
            while True:
                answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if not is_heartbeat(answer):  # the feed's, which may come at any time
                    return answer

    assert asyncio.run(talk()) == {"type": "pong"}  # still open, and only the ping answered


def test_an_order_sent_chunked_is_read_whole(system):
    body = {"customer_name": "Chunked", "product_id": LAPTOP, "quantity": 1}
    json_type = {"Content-Type": "application/json"}
    sent = api(system, "POST", "/orders", data=iter([json.dumps(body).encode()]), headers=json_type)
    assert sent.status_code == 200 and sent.json()["success"] is True


def test_a_short_stock_order_shows_cancelled_and_its_compensation_live(system):
    result, messages = watch_all_orders_while(
        system,
        lambda: order(system, MONITOR, 31),
        lambda ms, oid: seen(ms, oid, "CANCELLED", "COMPENSATED"),
    )
    body = result["response"].json()
    assert body["success"] is False and body["status"] == "COMPENSATED"
    mine = for_order(messages, body["order_id"])
    assert [m["status"] for m in mine if m["type"] == "order.status"] == ["PENDING", "CANCELLED"]
    steps = [(m["action"], m["status"]) for m in mine if m["type"] == "saga.step"]
    assert ("ReserveInventory", "FAILED") in steps
    assert ("CancelOrder (COMPENSATING)", "COMPLETED") in steps


def test_reconnecting_to_one_order_gets_its_current_state_first(system):
    body = order(system, LAPTOP, 1).json()
    bff = system["bff"]
    messages = asyncio.run(
        collect(f"{bff.ws_url}/ws/orders/{body['order_id']}/", bff.origin, lambda ms: ms)
    )
    snapshot = messages[0]
    assert snapshot["type"] == "snapshot"
    assert snapshot["order"]["status"] == "CONFIRMED"
    assert len(snapshot["order"]["saga_log"]) == 3
    assert [e["event_type"] for e in snapshot["order"]["events"]] == [
        "OrderCreated",
        "OrderConfirmed",
    ]


def test_pushes_are_not_compressed(system):
    """The client offers permessage-deflate; the BFF declines (config.workers.PushWorker),
    since compressing every push once per client costs more than it saves."""
    bff = system["bff"]

    async def extensions():
        async with websockets.connect(f"{bff.ws_url}/ws/orders/", origin=bff.origin) as ws:
            offered = ws.request.headers.get("Sec-WebSocket-Extensions", "")
            return offered, ws.response.headers.get("Sec-WebSocket-Extensions")

    offered, accepted = asyncio.run(extensions())
    assert "permessage-deflate" in offered
    assert accepted is None


def test_a_foreign_origin_is_refused(system):
    bff = system["bff"]
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        asyncio.run(collect(f"{bff.ws_url}/ws/orders/", "http://evil.example", lambda ms: ms))
    assert refused.value.response.status_code == 403


def test_the_same_idempotency_key_places_one_order(system):
    key = f"key-{uuid.uuid4()}"
    barrier = threading.Barrier(5)
    responses = [None] * 5

    def client(i):
        barrier.wait()
        responses[i] = order(system, LAPTOP, 2, key=key)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = {r.json()["order_id"] for r in responses}
    assert len(ids) == 1 and {r.status_code for r in responses} == {200}
    (order_id,) = ids
    events = requests.get(f"{system['order'].url}/events/{order_id}", timeout=TIMEOUT).json()
    assert [e["event_type"] for e in events] == ["OrderCreated", "OrderConfirmed"]
    clash = order(system, LAPTOP, 3, key=key)
    assert clash.status_code == 409


def test_an_unknown_product_is_a_404_json(system):
    response = order(system, str(uuid.uuid4()), 1)
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_orders_events_and_one_order_with_its_history(system):
    body = order(system, LAPTOP, 1).json()
    listing = api(system, "GET", "/orders", params={"limit": 2})
    assert listing.status_code == 200 and int(listing.headers["X-Total-Count"]) >= 1
    detail = api(system, "GET", f"/orders/{body['order_id']}").json()
    assert detail["status"] == "CONFIRMED" and detail["degraded"] == []
    assert [s["action"] for s in detail["saga_log"]][-1] == "ConfirmOrder"
    timeline = api(system, "GET", "/events", params={"aggregate": body["order_id"]}).json()
    assert {e["service"] for e in timeline} == {"order-service"}
    # a product's stream grows with every order: the services page it, newest first here
    stock = api(system, "GET", "/events", params={"aggregate": LAPTOP, "limit": 2})
    assert int(stock.headers["X-Total-Count"]) > 2
    assert [e["version"] for e in stock.json()] == sorted(
        (e["version"] for e in stock.json()), reverse=True
    )
    assert len(stock.json()) == 2
    merged = api(system, "GET", "/events", params={"limit": 30}).json()
    assert {"order-service", "inventory-service", "saga-service"} <= {e["service"] for e in merged}
    for service in {e["service"] for e in merged}:  # each source newest first, as committed
        positions = [e["position"] for e in merged if e["service"] == service]
        assert positions == sorted(positions, reverse=True)
    only_saga = api(system, "GET", "/events", params={"service": "saga-service"}).json()
    assert {e["service"] for e in only_saga} == {"saga-service"}


def test_sagas_are_listed_with_their_logs_those_of_orders_never_created_too(system):
    body = {"customer_name": "Sato", "product_id": LAPTOP, "quantity": 1}
    refused = api(system, "POST", "/orders", json={**body, "faults": {"CreateOrder": "fail"}})
    assert refused.status_code == 200 and refused.json()["status"] == "COMPENSATED"
    order_id = refused.json()["order_id"]
    assert api(system, "GET", f"/orders/{order_id}").status_code == 404
    saga = api(system, "GET", f"/sagas/{order_id}")
    assert saga.status_code == 200 and saga.json()["saga_log"] == refused.json()["saga_log"]
    confirmed = order(system).json()
    listing = api(system, "GET", "/sagas", params={"limit": 2})
    assert listing.status_code == 200 and int(listing.headers["X-Total-Count"]) >= 2
    assert [s["order_id"] for s in listing.json()] == [confirmed["order_id"], order_id]
    assert listing.json()[0]["saga_log"] == confirmed["saga_log"]
    only = api(system, "GET", "/sagas", params={"status": "COMPENSATED"}).json()
    assert {s["status"] for s in only} == {"COMPENSATED"}
    assert api(system, "GET", f"/sagas/{uuid.uuid4()}").status_code == 404


def test_marketing_passthrough_and_a_dashboard_that_survives_marketing_going_down(system):
    overview = api(system, "GET", "/marketing/overview").json()
    assert {"summary", "top_customers", "top_products", "recent_daily_sales"} <= set(overview)
    for kind in ("customers", "products", "daily"):
        response = api(system, "GET", f"/marketing/{kind}")
        assert response.status_code == 200 and isinstance(response.json(), list)
    by_name = {"ordering": "-customer_name"}

    def direct():
        url = f"{system['marketing'].url}/queries/marketing/customers"
        return requests.get(url, params=by_name, timeout=TIMEOUT).json()

    # Marketing may still be applying the orders of the tests before (seen in CI on a busy
    # machine): the BFF's answer must equal marketing's own, read before and after it.
    deadline = time.monotonic() + 30
    while True:
        before = direct()
        through = api(system, "GET", "/marketing/customers", params=by_name).json()
        if before == direct() or time.monotonic() > deadline:
            break
    assert through == before
    refused = api(system, "GET", "/marketing/customers", params={"ordering": "password"})
    assert refused.status_code == 400 and "ordering" in refused.json()["errors"]
    healthy = api(system, "GET", "/dashboard").json()
    assert healthy["degraded"] == [] and healthy["marketing"]["summary"]
    assert set(healthy["order_counts"]) == {"PENDING", "CONFIRMED", "CANCELLED", "TOTAL"}
    marketing = system["marketing"]
    marketing.stop()
    try:
        degraded = api(system, "GET", "/dashboard")
        assert degraded.status_code == 200
        assert degraded.json()["degraded"] == ["marketing-service"]
        assert degraded.json()["products"]
        assert api(system, "GET", "/marketing/overview").status_code == 503
    finally:
        marketing.start(prepare=False)


def test_commands_behind_the_bff_refuse_callers_without_the_token(system):
    body = {
        "customer_name": "Mallory",
        "product_id": LAPTOP,
        "product_name": "Laptop",
        "quantity": 1,
        "total_price": 1,
    }
    direct = requests.post(f"{system['order'].url}/commands/orders", json=body, timeout=TIMEOUT)
    assert direct.status_code == 403
    saga = requests.post(f"{system['saga'].url}/saga/place-order", json=body, timeout=TIMEOUT)
    assert saga.status_code == 403


def test_a_socket_connected_through_a_redis_outage_is_told_it_may_have_missed_pushes(system):
    """Found from outside: a socket connected while Redis was down for a while missed every
    push of that time, and nothing told it: it was never dropped, so never sent a snapshot.
    Now the feed's heartbeat shows a gap (or stops): a client that reconnects on it gets the
    orders it missed. Either way, an order is pushed to the socket or the loss is told."""
    bff, interval = system["bff"], 5.0  # BFF_HEARTBEAT_SECONDS's default

    async def next_frame(ws, timeout):
        return json.loads(await asyncio.wait_for(ws.recv(), timeout))

    async def through_an_outage():
        url = f"{bff.ws_url}/ws/orders/"
        async with websockets.connect(url, origin=bff.origin, open_timeout=10) as ws:
            assert (await next_frame(ws, 10))["type"] == "snapshot"
            while not is_heartbeat(frame := await next_frame(ws, 3 * interval)):
                pass
            last = frame[0]
            await asyncio.to_thread(system.redis.stop)
            try:
                placed = await asyncio.to_thread(lambda: [order(system).json() for _ in range(3)])
            finally:
                await asyncio.to_thread(system.redis.start)
            ids = {body["order_id"] for body in placed}
            assert all(body["success"] for body in placed)
            confirmed, told = set(), None
            deadline = time.monotonic() + 60
            while told is None and confirmed != ids and time.monotonic() < deadline:
                try:
                    frame = await next_frame(ws, 3 * interval)
                except TimeoutError:
                    told = "silence"
                    break
                except websockets.exceptions.ConnectionClosed:
                    told = "closed"
                    break
                for message in frame if isinstance(frame, list) else [frame]:
                    if message["type"] == "heartbeat":
                        if (message["feed"], message["seq"]) != (last["feed"], last["seq"] + 1):
                            told = "gap"
                        last = message
                    elif message["type"] == "order.status" and message["status"] == "CONFIRMED":
                        confirmed.add(message["order_id"])
        return ids, confirmed, told

    ids, confirmed, told = asyncio.run(through_an_outage())
    assert told in ("gap", "silence", "closed") or confirmed == ids, (told, confirmed, ids)

    async def snapshot():  # what the client that was told gets: the orders it missed
        url = f"{bff.ws_url}/ws/orders/"
        deadline = time.monotonic() + 30
        while True:  # Redis is back, but the BFF may take a moment to reach it again
            try:
                async with websockets.connect(url, origin=bff.origin, open_timeout=10) as ws:
                    return await next_frame(ws, 10)
            except (OSError, websockets.exceptions.WebSocketException):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)  # retrying a refused handshake, bounded

    orders = {o["id"]: o["status"] for o in asyncio.run(snapshot())["orders"]}
    assert {orders.get(i) for i in ids} == {"CONFIRMED"}


def test_connections_without_a_whole_request_are_closed_and_a_websocket_is_not(system):
    """A connection that sends nothing, half its headers or half its body is closed within
    REQUEST_SECONDS (uvicorn alone kept each open for good, until the process ran out of
    file descriptors); a websocket, a request that arrived whole, stays open past it."""
    bff = system["bff"]

    async def past_the_deadline():
        async with websockets.connect(f"{bff.ws_url}/ws/orders/", origin=bff.origin) as ws:
            opened = time.monotonic()
            await asyncio.wait_for(ws.recv(), 10)  # the snapshot
            held = [
                *slow_clients.hold(bff.url, b"", 3),
                *slow_clients.hold(bff.url, slow_clients.HEADERS_WITHOUT_THEIR_END, 3),
                *slow_clients.hold(bff.url, slow_clients.half_a_body("/api/orders"), 3),
            ]
            closed = await asyncio.to_thread(
                slow_clients.seconds_until_closed, held, REQUEST_SECONDS + 30
            )
            assert max(closed.values()) < REQUEST_SECONDS + 5
            assert time.monotonic() - opened > REQUEST_SECONDS
            await ws.send(json.dumps({"type": "ping"}))
            while True:
                answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if not is_heartbeat(answer):
                    return answer

    assert asyncio.run(past_the_deadline()) == {"type": "pong"}
    assert api(system, "GET", "/products").status_code == 200


def test_a_text_frame_that_is_not_utf8_is_a_line_in_the_log_not_a_traceback(system):
    """Found from outside: uvicorn logged each such frame as an ERROR with its traceback."""
    bff = system["bff"]

    async def send_bad_text():
        async with websockets.connect(f"{bff.ws_url}/ws/orders/", origin=bff.origin) as ws:
            await asyncio.wait_for(ws.recv(), 10)  # the snapshot
            await ws.send(b"\xff\xfe\xfd", text=True)  # sent as it is, in a text frame
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            return closed.value.rcvd.code

    assert asyncio.run(send_bad_text()) == 1007  # invalid frame payload data
    lines = bff.log_path.read_text().splitlines()
    said = [i for i, line in enumerate(lines) if "Invalid UTF-8 sequence" in line]
    assert said, "the frame is logged"
    for i in said:
        following = lines[i + 1] if i + 1 < len(lines) else ""
        assert "WARNING" in lines[i] and not following.startswith("Traceback"), lines[i : i + 2]


def test_a_connection_that_sends_a_blank_line_after_its_answer_is_closed_all_the_same(system):
    """Found in review: a parser skips blank lines between requests and begins none, and
    uvicorn's keep-alive timer stops at any byte: one "\\r\\n" after an answer kept the
    connection open for good."""
    bff = system["bff"]
    [sock] = slow_clients.hold(bff.url, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 1)
    answer = b""
    while b"\r\n\r\n" not in answer:  # the answer's head; its small body comes with it
        answer += sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200")
    sock.sendall(b"\r\n")
    closed = slow_clients.seconds_until_closed([sock], REQUEST_SECONDS + 30)
    assert max(closed.values()) < REQUEST_SECONDS + 5


def test_a_read_behind_a_lock_held_in_a_services_database_is_a_503_locked(system):
    """Found from outside: the services' lock bound was the BFF's read timeout (5 s), and the
    BFF gave up a few milliseconds before the answer came, saying the service was down."""
    import psycopg

    with psycopg.connect(system["order"].database.url) as console:
        console.execute("LOCK TABLE orders_order IN ACCESS EXCLUSIVE MODE")
        answer = api(system, "GET", "/orders")
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "locked" and answer.json()["service"] == "order-service"
    assert api(system, "GET", "/orders").status_code == 200  # the lock let go
