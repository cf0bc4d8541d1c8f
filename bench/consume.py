"""The marketing read side on PostgreSQL: how fast it catches up, and how far it lags.

    .venv/bin/python bench/consume.py --events 100000
    .venv/bin/python bench/consume.py --events 2000 --seconds 5      # a quick run

Everything is set up here and torn down at the end: a private Redis, fresh PostgreSQL
databases for order and marketing (``TEST_DATABASE_URL``, as the system tests use), the
order service's web process and marketing, all started as ``manage_all.py up`` starts them.

1. Catch-up. ``--events`` order events (``OrderCreated`` then ``OrderConfirmed``, every
   fourth order ``OrderCancelled``; 500 customers, the five catalog products, spread over
   the last 30 days) are written straight into the order service's event table by one SQL
   statement. Then it times, each as events per second:

   - the relay: ``manage.py publish_events --once`` copies the log to the Redis stream;
   - catch-up from Redis: a marketing worker started on an empty marketing database, until
     its checkpoint reaches the last position (it looks at the order feed only when a poll
     of the stream finds nothing, so the backlog comes from Redis);
   - feed repair: Redis flushed and marketing's database replaced by an empty one, so a new
     worker finds nothing in the stream and reads everything from the order service's
     HTTP feed (``GET /events?after=``).

   ``events_per_s`` counts from the process's spawn, so it includes Django's start; the
   relay's cursor and the worker's checkpoint are polled every 50 ms, ``startup_s`` is until
   they first moved and ``steady_events_per_s`` counts from there. Marketing's totals are
   checked against the generated orders each time (``consistent``). Above the stream's
   ``MAXLEN`` (100,000) the oldest messages are trimmed and the worker reads them from the
   feed instead.

   Then, with the worker stopped, ``manage.py rebuild_projections`` in marketing: every
   event folded again from the order service's feed into the tables the worker filled.

2. End-to-end lag. With the order relay and a marketing worker running, paced clients POST
   ``--rate`` orders a second for ``--seconds`` to ``/commands/orders`` on a fixed timetable
   (open loop: a slow answer does not slow the schedule down). A watcher polls marketing's
   database every few milliseconds; an order's lag is from the moment its POST returned (its
   events are committed by then) to the moment its ``OrderFact`` row was first seen. It can
   be slightly negative: the row can appear before the HTTP answer reaches the client.

Prints one JSON object per measurement and a summary; the exit status is 1 if marketing's
totals were wrong or an order never appeared within ``--lag-timeout``.
"""

import argparse
import itertools
import json
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import redis
import requests
from stats import percentile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/, manage_all
import manage_all
from tests.live import VENV_BIN, Database, LiveService, RedisServer

TIMEOUT = (3.05, 30)
SOURCE = "order-service"
CUSTOMERS = 500
PRODUCTS = [  # the sample catalog (DESIGN.md): id, name, price in yen
    ("a1111111-1111-1111-1111-111111111111", "Laptop", 120_000),
    ("b2222222-2222-2222-2222-222222222222", "Wireless Mouse", 3_500),
    ("c3333333-3333-3333-3333-333333333333", "USB Keyboard", 5_800),
    ("d4444444-4444-4444-4444-444444444444", "4K Monitor", 65_000),
    ("e5555555-5555-5555-5555-555555555555", "Headset", 8_900),
]

# Order i (from 0) has its OrderCreated at position 2i+1 and its confirm or cancel at 2i+2.
GENERATE_EVENTS = """
WITH orders AS MATERIALIZED (
    SELECT i,
           gen_random_uuid() AS stream_id,
           (%(ids)s::text[])[1 + i %% 5] AS product_id,
           (%(names)s::text[])[1 + i %% 5] AS product_name,
           (%(prices)s::bigint[])[1 + i %% 5] AS price,
           1 + i %% 3 AS quantity,
           now() - interval '30 days' + (i::float8 / %(orders)s) * interval '29 days' AS created
    FROM generate_series(0, %(orders)s - 1) AS i
)
INSERT INTO eventkit_event (position, event_id, stream_id, stream_type, version, event_type,
                            schema_version, data, metadata, recorded_at)
SELECT 2 * i + v,
       gen_random_uuid(),
       stream_id,
       'Order',
       v,
       CASE WHEN v = 1 THEN 'OrderCreated'
            WHEN i %% 4 = 0 THEN 'OrderCancelled'
            ELSE 'OrderConfirmed' END,
       1,
       CASE WHEN v = 1 THEN jsonb_build_object(
                'customer_name', 'customer-' || (i %% %(customers)s),
                'product_id', product_id,
                'product_name', product_name,
                'quantity', quantity,
                'total_price', price * quantity)
            WHEN i %% 4 = 0 THEN '{"reason": "bench"}'::jsonb
            ELSE '{}'::jsonb END,
       '{}'::jsonb,
       created + (v - 1) * interval '1 minute'
FROM orders CROSS JOIN (VALUES (1), (2)) AS versions (v)
WHERE 2 * i + v <= %(events)s
ORDER BY 2 * i + v
"""

MARKETING_TOTALS = """
SELECT count(*),
       count(*) FILTER (WHERE status = 'CONFIRMED'),
       count(*) FILTER (WHERE status = 'CANCELLED'),
       coalesce(sum(total_price) FILTER (WHERE status = 'CONFIRMED'), 0),
       (SELECT count(*) FROM eventkit_dead_letter)
FROM marketing_orderfact
"""


class Bench:
    def __init__(self, args):
        self.args = args
        self.logs = Path(tempfile.mkdtemp(prefix="bench-consume-"))
        self.redis_server: RedisServer | None = None
        self.databases: list[Database] = []
        self.services: list[LiveService] = []

    # -- the system ---------------------------------------------------------------------

    def start(self) -> None:
        self.redis_server = RedisServer(self.logs)
        self.redis = redis.Redis.from_url(self.redis_server.url)
        self.order_db = self._database("bench_order")
        self.order = LiveService(
            "order",
            self.order_db,
            log_dir=self.logs,
            workers=self.args.web_workers,
            env={"REDIS_URL": self.redis_server.url},
        )
        self.services.append(self.order)
        self.order.start()
        self.new_marketing()

    def new_marketing(self) -> None:
        """A marketing service on a fresh, migrated database (the old one is dropped)."""
        old = getattr(self, "marketing", None)
        if old is not None:
            old.stop_all()
            self.services.remove(old)
            old.database.drop()
            self.databases.remove(old.database)
        self.marketing = LiveService(
            "marketing",
            self._database("bench_marketing"),
            log_dir=self.logs,
            env={"ORDER_SERVICE_URL": self.order.url, "REDIS_URL": self.redis_server.url},
        )
        self.services.append(self.marketing)
        self.marketing.manage("migrate", "--noinput")

    def _database(self, label: str) -> Database:
        database = Database(label)
        self.databases.append(database)
        return database

    def stop(self) -> None:
        for service in self.services:
            service.stop_all()
        if self.redis_server is not None:
            self.redis_server.stop()
        for database in self.databases:
            database.drop()

    # -- 1. catch-up --------------------------------------------------------------------

    def catch_up(self) -> list[dict]:
        events = self.args.events
        results = [self.generate(events), self.publish(events)]
        results.append(self.run_worker("catch_up", events))
        # Feed repair: nothing in Redis, an empty marketing database, a new worker.
        self.marketing.stop_all()
        self.redis.flushall()
        self.new_marketing()
        results.append(self.run_worker("feed_repair", events))
        results.append(self.rebuild(events))
        return results

    def rebuild(self, events: int) -> dict:
        """Time marketing's ``rebuild_projections``: every order event folded again, from
        the order service's feed, into the tables the worker filled (stopped meanwhile)."""
        self.marketing.stop_all()
        started = time.perf_counter()
        done = subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", "rebuild_projections", "--no-progress"],
            cwd=self.marketing.cwd,
            env=self.marketing.env,
            capture_output=True,
            text=True,
            timeout=self.args.timeout,
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"rebuild_projections failed: {done.stdout}{done.stderr}")
        totals = tuple(self.marketing.database.query(MARKETING_TOTALS)[0])
        return self.emit(
            "rebuild",
            events=events,
            seconds=seconds,
            events_per_s=round(events / seconds, 1),
            writers_held_s=writers_held(done.stdout),
            consistent=totals == expected_totals(events),
        )

    def generate(self, events: int) -> dict:
        started = time.perf_counter()
        write_order_events(self.order_db.url, events)
        return self.emit("generate", events=events, seconds=time.perf_counter() - started)

    def publish(self, events: int) -> dict:
        """Time ``publish_events --once``, following the relay's cursor as it goes."""
        started = time.perf_counter()
        relay = subprocess.Popen(
            [str(VENV_BIN / "python"), "manage.py", "publish_events", "--once"],
            cwd=self.order.cwd,
            env=self.order.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            progress = self.follow(
                self.order_db.url,
                "SELECT position FROM eventkit_relay_cursor WHERE name = 'redis:events.order'",
                events,
                started,
                running=lambda: relay.poll() is None,
            )
            output, _ = relay.communicate(timeout=60)
        finally:
            if relay.poll() is None:
                relay.kill()
        if relay.returncode != 0:
            raise RuntimeError(f"publish_events --once failed: {output}")
        seconds = time.perf_counter() - started  # until the process has exited
        result = {
            **progress,
            "seconds": seconds,
            "stream_length": self.redis.xlen("events.order"),
            "events_per_s": round(progress["applied"] / seconds, 1),
        }
        return self.emit("relay", **result)

    def run_worker(self, name: str, events: int) -> dict:
        """Start a marketing worker and time it until its checkpoint reaches ``events``."""
        started = time.perf_counter()
        self.marketing.start_worker("worker")
        progress = self.follow(
            self.marketing.database.url,
            f"SELECT position FROM eventkit_checkpoint WHERE source = '{SOURCE}'",
            events,
            started,
        )
        seconds = progress["seconds"]
        result = {
            **progress,
            "events_per_s": round(progress["applied"] / seconds, 1),
        }
        totals = tuple(self.marketing.database.query(MARKETING_TOTALS)[0])
        result["consistent"] = progress["done"] and totals == expected_totals(events)
        if not result["consistent"]:
            result["totals"] = list(totals)
            result["expected"] = list(expected_totals(events))
        return self.emit(name, **result)

    def follow(self, url: str, sql: str, target: int, started: float, running=None) -> dict:
        """Poll a position (``sql``) every 50 ms until it reaches ``target``.

        Reports how long that took from ``started``, how long until the position first
        moved (``startup_s``: the process starting, its first query), and the rate from then
        on (``steady_events_per_s``).
        """
        first_move = None  # (time, position) when the position was first seen above 0
        position, now = 0, started
        deadline = started + self.args.timeout
        with psycopg.connect(url, autocommit=True) as conn:
            while now < deadline:
                alive = running is None or running()
                row = conn.execute(sql).fetchone()
                now = time.perf_counter()
                position = row[0] if row else 0
                if position and first_move is None:
                    first_move = (now, position)
                if position >= target or not alive:
                    break
                time.sleep(0.05)  # polling a condition, bounded by the deadline
        result = {
            "events": target,
            "applied": position,
            "done": position >= target,
            "seconds": now - started,
            "startup_s": round(first_move[0] - started, 3) if first_move else None,
        }
        if result["done"] and first_move and now > first_move[0]:
            steady = (position - first_move[1]) / (now - first_move[0])
            result["steady_events_per_s"] = round(steady, 1)
        return result

    # -- 2. lag -------------------------------------------------------------------------

    def lag(self) -> dict:
        self.order.start_worker("relay")
        if "worker" not in self.marketing.workers_started:
            self.marketing.start_worker("worker")
        watcher = Watcher(self.marketing.database.url)
        watcher.start()
        try:
            session = requests.Session()
            warm_up = [self._post(session, watcher, i) for i in range(5)]
            if any(status != 201 for _, status, _ in warm_up):
                raise RuntimeError(f"warm-up orders refused: {warm_up}; logs in {self.logs}")
            if not watcher.wait([order_id for order_id, _, _ in warm_up], timeout=120):
                raise RuntimeError(f"warm-up orders never reached marketing; logs in {self.logs}")
            return self._paced(watcher)
        finally:
            watcher.stop()

    def _paced(self, watcher: "Watcher") -> dict:
        """Send on a fixed timetable: order i is due at start + i / rate, whoever sends it."""
        rate, total = self.args.rate, round(self.args.rate * self.args.seconds)
        returned_at: dict[uuid.UUID, float] = {}
        statuses: Counter = Counter()
        late: list[float] = []  # how long after its due time each order was sent
        lock = threading.Lock()
        due_next = itertools.count()
        start = time.perf_counter() + 0.1

        def client() -> None:
            session = requests.Session()
            while (i := next(due_next)) < total:
                due = start + i / rate
                if (wait := due - time.perf_counter()) > 0:
                    time.sleep(wait)
                sent = time.perf_counter()
                try:
                    order_id, status, returned = self._post(session, watcher, i)
                except requests.RequestException as exc:
                    order_id, status, returned = None, type(exc).__name__, None
                with lock:
                    late.append(sent - due)
                    statuses[str(status)] += 1
                    if status == 201:
                        returned_at[order_id] = returned

        threads = [threading.Thread(target=client) for _ in range(self.args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = max(returned_at.values(), default=start) - start
        orders = list(returned_at)
        watcher.wait(orders, timeout=self.args.lag_timeout)
        seen = watcher.seen_at(orders)
        lags = sorted((seen[o] - returned_at[o]) * 1000 for o in orders if o in seen)
        late.sort()
        return self.emit(
            "lag",
            rate_target=rate,
            orders=len(orders),
            rate=round(len(orders) / elapsed, 1) if elapsed > 0 else None,
            seconds=elapsed,
            clients=self.args.clients,
            statuses=dict(sorted(statuses.items())),
            send_late_p99_ms=round(percentile(late, 99) * 1000, 2),
            lag_min_ms=round(lags[0], 2) if lags else None,
            lag_p50_ms=round(percentile(lags, 50), 2),
            lag_p95_ms=round(percentile(lags, 95), 2),
            lag_p99_ms=round(percentile(lags, 99), 2),
            lag_max_ms=round(lags[-1], 2) if lags else None,
            never_appeared=len(orders) - len(lags),
        )

    def _post(self, session: requests.Session, watcher: "Watcher", i: int):
        """POST order ``i``, its id chosen here so the watcher looks for it from the start.

        Returns (order id, HTTP status, when the answer came back).
        """
        order_id = uuid.uuid4()
        product_id, name, price = PRODUCTS[i % len(PRODUCTS)]
        quantity = 1 + i % 3
        watcher.expect(order_id)
        response = session.post(
            f"{self.order.url}/commands/orders",
            json={
                "order_id": str(order_id),
                "customer_name": f"lag-customer-{i % 50}",
                "product_id": product_id,
                "product_name": name,
                "quantity": quantity,
                "total_price": price * quantity,
            },
            timeout=TIMEOUT,
        )
        return order_id, response.status_code, time.perf_counter()

    # -- output -------------------------------------------------------------------------

    def emit(self, measurement: str, **fields) -> dict:
        if isinstance(fields.get("seconds"), float):
            fields["seconds"] = round(fields["seconds"], 3)
        result = {"benchmark": "consume", "measurement": measurement, **fields}
        print(json.dumps(result), flush=True)
        return result


class Watcher(threading.Thread):
    """Polls marketing's database for expected orders; remembers when each first appeared."""

    def __init__(self, database_url: str, interval: float = 0.005):
        super().__init__(daemon=True)
        self.database_url = database_url
        self.interval = interval
        self.pending: set[uuid.UUID] = set()
        self.appeared: dict[uuid.UUID, float] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def expect(self, order_id: uuid.UUID) -> None:
        with self.lock:
            self.pending.add(order_id)

    def run(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self.stopping.is_set():
                with self.lock:
                    wanted = list(self.pending)
                if wanted:
                    rows = conn.execute(
                        "SELECT id FROM marketing_orderfact WHERE id = ANY(%s)", (wanted,)
                    ).fetchall()
                    now = time.perf_counter()
                    with self.lock:
                        for (order_id,) in rows:
                            self.pending.discard(order_id)
                            self.appeared.setdefault(order_id, now)
                self.stopping.wait(self.interval)

    def seen_at(self, order_ids) -> dict[uuid.UUID, float]:
        with self.lock:
            return {o: self.appeared[o] for o in order_ids if o in self.appeared}

    def wait(self, order_ids, timeout: float) -> bool:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if len(self.seen_at(order_ids)) == len(order_ids):
                return True
            time.sleep(0.05)  # polling the watcher, bounded by the deadline
        return False

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)


def write_order_events(database_url: str, events: int) -> None:
    """Write ``events`` synthetic order events (``GENERATE_EVENTS``) into a migrated order
    database with no events yet, and move its position counter to the last one."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            GENERATE_EVENTS,
            {
                "ids": [p[0] for p in PRODUCTS],
                "names": [p[1] for p in PRODUCTS],
                "prices": [p[2] for p in PRODUCTS],
                "orders": (events + 1) // 2,
                "customers": CUSTOMERS,
                "events": events,
            },
        )
        conn.execute(
            "UPDATE eventkit_position_counter SET last_position = %s WHERE id = 1", (events,)
        )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE eventkit_event")


def writers_held(output: str) -> float | None:
    """How long ``rebuild_projections`` said it held the writers (or the worker) off; None
    if it folded in place."""
    held = re.search(r"writers held off ([\d.]+) s", output)
    return float(held.group(1)) if held else None


def expected_totals(events: int) -> tuple[int, int, int, int, int]:
    """(orders, confirmed, cancelled, revenue, dead letters) the generated events make."""
    orders = confirmed = cancelled = revenue = 0
    for i in range((events + 1) // 2):
        orders += 1
        if 2 * i + 2 > events:
            continue  # its second event was not generated: still PENDING
        if i % 4 == 0:
            cancelled += 1
        else:
            confirmed += 1
            revenue += PRODUCTS[i % 5][2] * (1 + i % 3)
    return orders, confirmed, cancelled, revenue, 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events to catch up on")
    parser.add_argument("--rate", type=float, default=100.0, help="orders a second (lag)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to send (lag)")
    parser.add_argument("--clients", type=int, default=8, help="sending threads (lag)")
    parser.add_argument(
        "--lag-timeout", type=float, default=60.0, help="wait this long for the last orders"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="bound of each catch-up, in seconds"
    )
    parser.add_argument(
        "--web-workers",
        type=int,
        default=manage_all.DEFAULT_WEB_CONCURRENCY,
        help="order's gunicorn workers",
    )
    parser.add_argument("--skip-catch-up", action="store_true")
    parser.add_argument("--skip-lag", action="store_true")
    args = parser.parse_args()

    bench = Bench(args)
    results: dict[str, dict] = {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # tear down on kill, too
    try:
        bench.start()
        if not args.skip_catch_up:
            for result in bench.catch_up():
                results[result["measurement"]] = result
        if not args.skip_lag:
            results["lag"] = bench.lag()
    finally:
        bench.stop()

    def pick(measurement: str, key: str):
        return results.get(measurement, {}).get(key)

    print(
        json.dumps(
            {
                "benchmark": "consume",
                "events": None if args.skip_catch_up else args.events,
                "relay_events_per_s": pick("relay", "events_per_s"),
                "catch_up_events_per_s": pick("catch_up", "events_per_s"),
                "feed_repair_events_per_s": pick("feed_repair", "events_per_s"),
                "rebuild_events_per_s": pick("rebuild", "events_per_s"),
                "lag_p50_ms": pick("lag", "lag_p50_ms"),
                "lag_p99_ms": pick("lag", "lag_p99_ms"),
                "rate": pick("lag", "rate"),
                "logs": str(bench.logs),
            }
        )
    )
    consistent = all(r.get("consistent", True) for r in results.values())
    return 0 if consistent and not pick("lag", "never_appeared") else 1


if __name__ == "__main__":
    sys.exit(main())
