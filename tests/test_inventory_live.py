"""Inventory under real concurrency: gunicorn workers, PostgreSQL, HTTP clients in threads.

The original demo checked stock and then wrote without a lock: 100 concurrent orders against
stock 30 confirmed 24, 30 or 31 depending on the run, and some crashed with a 500. Here
exactly 30 must win, every loser must get a 409 with a reason, and the read model and the
event log must agree afterwards.
"""

import threading
import uuid
from collections import Counter

import pytest
import requests

from tests.live import Database, LiveService

pytestmark = pytest.mark.system

MONITOR = "d4444444-4444-4444-4444-444444444444"  # stock 30
LAPTOP = "a1111111-1111-1111-1111-111111111111"  # stock 50
TIMEOUT = (3.05, 30)


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    database = Database("inventory")
    service = LiveService(
        "inventory",
        database,
        workers=3,
        log_dir=tmp_path_factory.mktemp("i"),
        env={"DB_LOCK_TIMEOUT_MS": "500"},  # the web processes' 5 s, shortened for a test
    )
    try:
        yield service.start()
    finally:
        service.stop()
        database.drop()


def burst(count, request):
    """Fire ``count`` requests at once (released together by a barrier); return responses."""
    barrier = threading.Barrier(count)
    responses = [None] * count

    def client(i):
        session = requests.Session()
        barrier.wait()
        try:
            responses[i] = request(session, i)
        except requests.RequestException as exc:
            responses[i] = exc

    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return responses


def test_100_concurrent_reserves_against_stock_30_confirm_exactly_30(inventory):
    url = f"{inventory.url}/commands/inventory/{MONITOR}/reserve"
    responses = burst(
        100,
        lambda s, i: s.post(
            url, json={"order_id": str(uuid.uuid4()), "quantity": 1}, timeout=TIMEOUT
        ),
    )
    statuses = Counter(getattr(r, "status_code", type(r).__name__) for r in responses)
    assert statuses == {200: 30, 409: 70}, statuses
    refusals = {r.json()["code"] for r in responses if r.status_code == 409}
    assert refusals == {"insufficient_stock"}

    product = requests.get(f"{inventory.url}/queries/products/{MONITOR}", timeout=TIMEOUT).json()
    assert (product["quantity"], product["reserved"], product["available"]) == (30, 30, 0)
    reserved_events = inventory.database.query(
        "SELECT count(*) FROM eventkit_event WHERE stream_id = %s AND event_type = %s",
        (MONITOR, "StockReserved"),
    )
    assert reserved_events == [(30,)]
    check = inventory.manage("rebuild_projections", "--check", "--no-progress", check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_one_order_reserved_by_many_clients_at_once_is_held_once(inventory):
    url = f"{inventory.url}/commands/inventory/{LAPTOP}/reserve"
    before = requests.get(f"{inventory.url}/queries/products/{LAPTOP}", timeout=TIMEOUT).json()
    order_id = str(uuid.uuid4())
    responses = burst(
        20, lambda s, i: s.post(url, json={"order_id": order_id, "quantity": 2}, timeout=TIMEOUT)
    )
    assert {r.status_code for r in responses} == {200}
    after = requests.get(f"{inventory.url}/queries/products/{LAPTOP}", timeout=TIMEOUT).json()
    assert after["reserved"] == before["reserved"] + 2


def test_positions_in_the_feed_have_no_holes_after_a_burst(inventory):
    feed = requests.get(
        f"{inventory.url}/events", params={"after": 0, "limit": 1000}, timeout=TIMEOUT
    )
    positions = [e["position"] for e in feed.json()]
    assert positions == list(range(1, len(positions) + 1))
    assert feed.headers["X-Last-Position"] == str(len(positions))


def test_events_cannot_be_changed_even_from_psql(inventory):
    import psycopg

    for sql in ("UPDATE eventkit_event SET event_type = 'X'", "DELETE FROM eventkit_event"):
        with (
            pytest.raises(psycopg.errors.RestrictViolation),
            psycopg.connect(inventory.database.url) as conn,
        ):
            conn.execute(sql)


def test_a_read_behind_a_table_lock_from_psql_is_a_503_and_health_still_answers(inventory):
    """Found from outside: a LOCK TABLE from a console held every read of that table, with
    its thread and pooled connection, for as long as it was held."""
    import psycopg

    url = f"{inventory.url}/queries/products"
    with psycopg.connect(inventory.database.url) as console:
        console.execute("LOCK TABLE inventory_product IN ACCESS EXCLUSIVE MODE")
        answers = burst(12, lambda session, i: session.get(url, timeout=TIMEOUT))
        assert {(a.status_code, a.json()["code"]) for a in answers} == {(503, "locked")}
        health = requests.get(f"{inventory.url}/health", timeout=TIMEOUT)
        assert health.status_code == 200
    assert requests.get(url, timeout=TIMEOUT).status_code == 200  # the lock let go
