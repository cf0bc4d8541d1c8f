"""A fault drill: orders keep coming while processes are killed, Redis loses its data and
database connections are cut. Afterwards the system must be exactly consistent.

Bounded: 500 orders from 8 clients through the BFF (more if the storm is still going), one
crash of each kind, each at a random point of the run (when a randomly chosen number of
orders has been answered), a few minutes at most. Clients behave as a
real client should: a failed request is retried with the same Idempotency-Key, so retries
cannot place an order twice.
"""

import random
import threading
import time
import uuid
from collections import Counter

import psycopg
import pytest
import redis
import requests

from tests.live import SYSTEM, System

pytestmark = pytest.mark.system

PRODUCTS = {
    "a1111111-1111-1111-1111-111111111111": 50,
    "b2222222-2222-2222-2222-222222222222": 200,
    "d4444444-4444-4444-4444-444444444444": 30,
}
ORDERS, CLIENTS = 500, 8
TIMEOUT = (3.05, 60)


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    system = System(
        tmp_path_factory.mktemp("drill"),
        env={
            "SAGA_LEASE_SECONDS": "2",
            "SAGA_RESUME_INTERVAL_SECONDS": "0.5",
            "SAGA_DEADLINE_SECONDS": "5",
            "SAGA_COMPENSATION_SECONDS": "3",
            "CONSUMER_CLAIM_IDLE_MS": "2000",
        },
    )
    try:
        yield system.start()
    finally:
        system.stop()


def client(system, orders: list, results: dict, stop, storm_over):
    """Place each order until it gets a final answer, always with the same key; then keep
    ordering until every crash of the storm has happened, so all of them hit live traffic."""
    session = requests.Session()
    rng = random.Random(len(orders))

    def more():
        yield from orders
        while not storm_over.is_set() and not stop.is_set():
            yield str(uuid.uuid4()), rng.choice(list(PRODUCTS)), rng.randint(1, 3)

    for key, product, quantity in more():
        body = {"customer_name": f"drill-{key[:4]}", "product_id": product, "quantity": quantity}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not stop.is_set():
            try:
                response = session.post(
                    f"{system['bff'].url}/api/orders",
                    json=body,
                    headers={"Idempotency-Key": key},
                    timeout=TIMEOUT,
                )
            except requests.RequestException:
                response = None
            if response is not None and response.status_code in (200, 202, 409):
                results[key] = response.json()
                break
            time.sleep(0.2)  # a client's pause before retrying, not a wait on the system


def chaos(system, stop: threading.Event, log: list, answered):
    """One of each failure, in a random order, each once a random number of orders has been
    answered, so that every one of them hits live traffic at a different point of the run."""
    crashes = [
        ("saga web", lambda: _crash(system["saga"], "web")),
        ("order web", lambda: _crash(system["order"], "web")),
        ("inventory web", lambda: _crash(system["inventory"], "web")),
        ("order relay", lambda: _crash(system["order"], "relay")),
        ("saga relay", lambda: _crash(system["saga"], "relay")),
        ("marketing worker", lambda: _crash(system["marketing"], "worker")),
        ("bff feed", lambda: _crash(system["bff"], "feed")),
        ("saga resumer", lambda: _crash(system["saga"], "resumer")),
        ("redis", system.redis.crash_and_restart),
        ("order db connections", lambda: _cut_connections(system["order"].database)),
        ("inventory db connections", lambda: _cut_connections(system["inventory"].database)),
        ("marketing db connections", lambda: _cut_connections(system["marketing"].database)),
        ("bff db connections", lambda: _cut_connections(system["bff"].database)),
    ]
    rng = random.Random(7)
    rng.shuffle(crashes)
    points = sorted(rng.sample(range(10, ORDERS - 20), len(crashes)))
    for (name, crash), point in zip(crashes, points, strict=True):
        while answered() < point:
            if stop.wait(0.05):  # polling the clients' progress
                return
        crash()
        log.append(name)


def _crash(service, role):
    service.kill(role)
    service.restart(role)


def _cut_connections(database):
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def get(service, path, **params):
    response = requests.get(f"{service.url}{path}", params=params, timeout=TIMEOUT)
    response.raise_for_status()
    return response


def wait_for(condition, timeout, what):
    """Poll ``condition`` until it holds. A 503 or a refused connection on the way is the
    answer to try again later: a service's pooled connections the drill cut fail once each."""
    deadline, error = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except requests.HTTPError as exc:
            if exc.response.status_code != 503:
                raise  # any other error is a fault, not a service coming back
            error = exc
        except requests.ConnectionError as exc:
            error = exc
        time.sleep(0.25)  # polling a condition, bounded by the deadline
    raise AssertionError(f"timed out waiting for {what} (last error: {error!r})")


def last_published(system, name: str) -> int:
    """The position of the last event on the service's Redis stream (0 if it has none)."""
    client = redis.Redis.from_url(system.redis.url, socket_timeout=5)
    try:
        last = client.xrevrange(f"events.{name}", count=1)
    finally:
        client.close()
    return int(last[0][1][b"position"]) if last else 0


def all_orders(system):
    orders, offset = [], 0
    while True:
        page = get(system["order"], "/queries/orders", limit=500, offset=offset).json()
        orders += page
        offset += 500
        if len(page) < 500:
            return orders


def test_the_system_is_exactly_consistent_after_a_storm_of_failures(system):
    rng = random.Random(42)
    plan = [
        (str(uuid.uuid4()), rng.choice(list(PRODUCTS)), rng.randint(1, 3)) for _ in range(ORDERS)
    ]
    results: dict = {}
    stop, storm_over, crashed = threading.Event(), threading.Event(), []

    def run_storm():
        chaos(system, stop, crashed, answered=lambda: len(results))
        storm_over.set()

    clients = [
        threading.Thread(target=client, args=(system, plan[i::CLIENTS], results, stop, storm_over))
        for i in range(CLIENTS)
    ]
    storm = threading.Thread(target=run_storm)
    for t in [*clients, storm]:
        t.start()
    try:
        storm.join(300)
        for t in clients:
            t.join(300)
    finally:
        stop.set()  # also when the test times out: no client may outlive it
    assert len(crashed) == 13, f"only {crashed} happened"

    # 1. No order is left PENDING once the resumer has finished every saga.
    saga = system["saga"]
    wait_for(
        lambda: (
            not get(saga, "/sagas", status="RUNNING").json()
            and not get(saga, "/sagas", status="COMPENSATING").json()
        ),
        120,
        "every saga to finish",
    )
    orders = all_orders(system)
    statuses = Counter(o["status"] for o in orders)
    assert statuses["PENDING"] == 0, statuses
    unanswered = [key for key, _, _ in plan if key not in results]
    assert not unanswered, f"{len(unanswered)} planned orders never got an answer"

    # 2. One order per idempotency key, however often a client retried: the very orders
    #    the clients were answered with, not merely as many.
    answered = {r["order_id"] for r in results.values() if "order_id" in r}
    assert len(answered) == len(results)
    assert {o["id"] for o in orders} == answered

    # 3. Stock: reserved = confirmed quantities, per product.
    confirmed = Counter()
    for o in orders:
        if o["status"] == "CONFIRMED":
            confirmed[o["product_id"]] += o["quantity"]
    for product in get(system["inventory"], "/queries/products").json():
        assert product["reserved"] == confirmed[product["id"]], product["product_name"]
        assert product["available"] >= 0

    # 4. Marketing converges to exactly the order totals: each event applied once.
    expected = {
        "total_orders": len(orders),
        "confirmed_orders": statuses["CONFIRMED"],
        "cancelled_orders": statuses["CANCELLED"],
        "total_revenue": sum(o["total_price"] for o in orders if o["status"] == "CONFIRMED"),
    }

    def marketing_matches():
        summary = get(system["marketing"], "/queries/marketing/overview").json()["summary"]
        return all(summary[k] == v for k, v in expected.items())

    wait_for(marketing_matches, 90, f"marketing to reach {expected}")
    head = int(get(system["order"], "/events", limit=1).headers["X-Last-Position"])
    marketing_db = system["marketing"].database
    assert marketing_db.query("SELECT position FROM eventkit_checkpoint") == [(head,)]
    assert marketing_db.query("SELECT count(*) FROM eventkit_dead_letter") == [(0,)]
    # 5. Every relay published its log to the end, and the BFF's feed followed both of its
    #    logs to the end. Marketing and the feed also catch up from the services' feeds, so
    #    totals alone would not tell a relay or a feed that had stopped.
    heads = {}
    for name in ("order", "inventory", "saga"):
        heads[name] = int(get(system[name], "/events", limit=1).headers["X-Last-Position"])
        wait_for(
            lambda name=name: last_published(system, name) == heads[name],
            30,
            f"the {name} relay to publish up to {heads[name]}",
        )
    bff_db = system["bff"].database
    followed = {"order-service": heads["order"], "saga-service": heads["saga"]}
    wait_for(
        lambda: dict(bff_db.query("SELECT source, position FROM eventkit_checkpoint")) == followed,
        30,
        f"the BFF feed to reach {followed}",
    )
    assert bff_db.query("SELECT count(*) FROM eventkit_dead_letter") == [(0,)]

    # 6. Every process the storm killed was started again, and none has died since.
    for name in SYSTEM:
        service = system[name]
        for role, process in [("web", service.process), *service.workers_started.items()]:
            assert process.poll() is None, f"{name} {role} exited with {process.returncode}"

    check = system["marketing"].manage(
        "rebuild_projections", "--check", "--no-progress", check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    for name in ("order", "inventory", "saga"):
        check = system[name].manage("rebuild_projections", "--check", "--no-progress", check=False)
        assert check.returncode == 0, (name, check.stdout + check.stderr)
