"""Order events to marketing through Redis Streams, with real processes and real failures.

Order service (web + relay) and marketing (web + worker) on PostgreSQL, with a private
Redis that the tests flush. Marketing's totals must always converge to exactly what the
order service says, whatever was killed, lost or poisoned on the way.
"""

import signal
import threading
import time
import uuid
from collections import Counter

import psycopg
import pytest
import redis
import requests

from tests.live import Database, LiveService, RedisServer

pytestmark = pytest.mark.system

TIMEOUT = (3.05, 30)
PRODUCTS = [
    ("a1111111-1111-1111-1111-111111111111", "Laptop", 120_000),
    ("b2222222-2222-2222-2222-222222222222", "Wireless Mouse", 3_500),
    ("c3333333-3333-3333-3333-333333333333", "USB Keyboard", 5_800),
]


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    logs = tmp_path_factory.mktemp("streams")
    redis_server = RedisServer(logs)
    databases = {n: Database(n) for n in ("order", "marketing")}
    common = {"REDIS_URL": redis_server.url}
    order = LiveService("order", databases["order"], log_dir=logs, workers=2, env=common)
    started = []
    try:
        started.append(order.start())
        order.start_worker("relay")
        marketing = LiveService(
            "marketing",
            databases["marketing"],
            log_dir=logs,
            workers=2,
            env={
                **common,
                "ORDER_SERVICE_URL": order.url,
                "CONSUMER_CLAIM_IDLE_MS": "1000",
                "CONSUMER_CATCH_UP_SECONDS": "1",
            },
        )
        started.append(marketing.start())
        marketing.start_worker("worker")
        yield {
            "order": order,
            "marketing": marketing,
            "redis": redis.Redis.from_url(redis_server.url),
            "databases": databases,
        }
    finally:
        for service in started:
            service.stop_all()
        redis_server.stop()
        for database in databases.values():
            database.drop()


def place_orders(system, count, *, cancel_every=4, customers=5):
    """Create ``count`` orders through the order service, confirming most, cancelling some."""
    url = system["order"].url
    session = requests.Session()
    for i in range(count):
        product_id, name, price = PRODUCTS[i % len(PRODUCTS)]
        quantity = 1 + i % 3
        order = session.post(
            f"{url}/commands/orders",
            json={
                "customer_name": f"customer-{i % customers}",
                "product_id": product_id,
                "product_name": name,
                "quantity": quantity,
                "total_price": price * quantity,
            },
            timeout=TIMEOUT,
        ).json()
        verb = "cancel" if i % cancel_every == 0 else "confirm"
        session.post(f"{url}/commands/orders/{order['id']}/{verb}", json={}, timeout=TIMEOUT)


def truth(system):
    """The totals marketing must reach, computed from the order service's own read model."""
    orders, offset = [], 0
    while True:
        page = requests.get(
            f"{system['order'].url}/queries/orders",
            params={"limit": 500, "offset": offset},
            timeout=TIMEOUT,
        ).json()
        orders += page
        offset += 500
        if len(page) < 500:
            break
    statuses = Counter(o["status"] for o in orders)
    return {
        "total_orders": len(orders),
        "confirmed_orders": statuses["CONFIRMED"],
        "cancelled_orders": statuses["CANCELLED"],
        "total_revenue": sum(o["total_price"] for o in orders if o["status"] == "CONFIRMED"),
        "total_customers": len({o["customer_name"] for o in orders}),
    }


def overview(system):
    response = requests.get(
        f"{system['marketing'].url}/queries/marketing/overview", timeout=TIMEOUT
    )
    response.raise_for_status()
    return response.json()["summary"]


def converged(system, timeout=60.0, expected=None):
    expected = expected or truth(system)
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = overview(system)
        if all(seen[k] == v for k, v in expected.items()):
            return seen
        time.sleep(0.1)  # polling a condition, bounded by the deadline
    raise AssertionError(f"marketing did not converge: expected {expected}, last saw {seen}")


def test_orders_show_up_exactly_in_marketing(system):
    place_orders(system, 24)
    summary = converged(system)
    assert summary["conversion_rate"] == pytest.approx(
        summary["confirmed_orders"] / summary["total_orders"], abs=1e-3
    )


def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(system):
    before = overview(system)["total_orders"]
    writers = [threading.Thread(target=place_orders, args=(system, 60)) for _ in range(3)]
    for w in writers:
        w.start()
    marketing = system["marketing"]
    worker = marketing.workers_started["worker"]
    # Kill it while it is applying: once marketing has moved, but before the writers are done.
    deadline = time.monotonic() + 30
    while overview(system)["total_orders"] == before and time.monotonic() < deadline:
        time.sleep(0.02)  # polling a condition, bounded
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    for w in writers:
        w.join(120)
    marketing.start_worker("worker")
    converged(system)


def order_log_head(system) -> int:
    with psycopg.connect(system["databases"]["order"].url) as conn:
        return conn.execute("SELECT coalesce(max(position), 0) FROM eventkit_event").fetchone()[0]


def published_positions(system, after: int) -> set[int]:
    messages = system["redis"].xrange("events.order")
    return {p for _, fields in messages if (p := int(fields[b"position"])) > after}


def test_events_committed_while_the_relay_was_dead_are_published_after_restart(system):
    """On the stream itself: marketing would converge from the feed alone (it catches up
    every second), so its totals cannot tell whether the relay published (found in review)."""
    order = system["order"]
    relay = order.workers_started["relay"]
    relay.send_signal(signal.SIGKILL)
    relay.wait(10)
    before = order_log_head(system)
    place_orders(system, 8)
    head = order_log_head(system)
    assert published_positions(system, before) == set()
    expected = truth(system)
    order.start_worker("relay")
    deadline = time.monotonic() + 30
    while published_positions(system, before) != set(range(before + 1, head + 1)):
        assert time.monotonic() < deadline, "the restarted relay did not publish the backlog"
        time.sleep(0.1)  # polling a condition, bounded by the deadline
    converged(system, expected=expected)


def test_redis_flushed_during_a_run_is_repaired_exactly(system):
    writer = threading.Thread(target=place_orders, args=(system, 40))
    writer.start()
    system["redis"].flushall()
    writer.join(120)
    system["redis"].flushall()
    place_orders(system, 4)
    converged(system)


def test_orders_placed_while_the_worker_is_stopped_and_redis_flushed_show_up(system):
    marketing = system["marketing"]
    worker = marketing.workers_started["worker"]
    worker.send_signal(signal.SIGTERM)
    worker.wait(15)
    place_orders(system, 12)
    system["redis"].flushall()
    marketing.start_worker("worker")
    converged(system)


def test_a_poison_event_is_dead_lettered_and_the_rest_is_processed(system):
    order_db = system["databases"]["order"]
    bad_order = str(uuid.uuid4())
    with psycopg.connect(order_db.url) as conn:
        # A malformed event in the source log: quantity is not a number.
        conn.execute(
            """
            WITH next AS (
                UPDATE eventkit_position_counter SET last_position = last_position + 1
                WHERE id = 1 RETURNING last_position
            )
            INSERT INTO eventkit_event (position, event_id, stream_id, stream_type, version,
                event_type, schema_version, data, metadata, recorded_at)
            SELECT last_position, %s, %s, 'Order', 1, 'OrderCreated', 1, %s::jsonb, '{}', now()
            FROM next
            """,
            (
                str(uuid.uuid4()),
                bad_order,
                '{"customer_name": "x", "product_id": "p", "product_name": "n", '
                '"quantity": "lots", "total_price": "free"}',
            ),
        )
        conn.execute("SELECT pg_notify('eventkit_events', '')")
    place_orders(system, 6)
    converged(system)
    marketing_db = system["databases"]["marketing"]
    letters = marketing_db.query("SELECT event_type, attempts FROM eventkit_dead_letter")
    assert letters == [("OrderCreated", 3)]
    assert system["redis"].xlen("deadletter.marketing") >= 1


def test_rebuild_equals_the_live_projection_and_check_catches_corruption(system):
    converged(system)
    marketing = system["marketing"]
    check = marketing.manage("rebuild_projections", "--check", "--no-progress", check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    with psycopg.connect(marketing.database.url) as conn:
        conn.execute("UPDATE marketing_customerstats SET total_revenue = total_revenue + 1")
    check = marketing.manage("rebuild_projections", "--check", "--no-progress", check=False)
    assert check.returncode != 0 and "drifted" in check.stdout + check.stderr
    rebuilt = marketing.manage("rebuild_projections", "--no-progress", check=False)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    check = marketing.manage("rebuild_projections", "--check", "--no-progress", check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    converged(system)
