"""Websocket push latency: from an order event's commit to 200 browsers being told.

    python3 bench/ws.py [--bff http://127.0.0.1:8000] [--inventory http://127.0.0.1:8002]
                        [--clients 200] [--rate 10] [--seconds 20]

Opens ``--clients`` websockets on ``/ws/orders/`` against a running system
(``manage_all.py up``), then places orders through ``POST /api/orders`` at a steady
``--rate`` for ``--seconds``. Every ``order.status`` message carries the time its event was
recorded (``at``); latency is the moment a client receives it minus that time, over every
client and every message (same machine, same clock). Prints JSON.
"""

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from datetime import datetime

import requests
import websockets
from stats import percentile, restock

PRODUCT = "b2222222-2222-2222-2222-222222222222"


async def client(url: str, origin: str, latencies: list, ready: asyncio.Event, stop: asyncio.Event):
    async with websockets.connect(url, origin=origin, open_timeout=30, max_queue=None) as ws:
        await ws.recv()  # the snapshot
        ready.set()
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            received = time.time()
            decoded = json.loads(raw)  # changes come in arrays of messages
            for message in decoded if isinstance(decoded, list) else [decoded]:
                if message.get("type") == "order.status":
                    at = datetime.fromisoformat(message["at"]).timestamp()
                    latencies.append((received - at) * 1000)


def place_orders(bff: str, rate: float, seconds: float, placed: list) -> None:
    session = requests.Session()
    start = time.monotonic()
    n = 0
    while (now := time.monotonic() - start) < seconds:
        due = n / rate
        if due > now:
            time.sleep(due - now)  # pacing to a fixed timetable, not waiting on a condition
        body = {"customer_name": f"ws-bench-{n % 20}", "product_id": PRODUCT, "quantity": 1}
        response = session.post(f"{bff}/api/orders", json=body, timeout=(3, 60))
        placed.append(response.status_code)
        n += 1


async def measure(
    bff: str,
    inventory: str,
    *,
    clients: int,
    rate: float,
    seconds: float,
    service_token: str = "",
    drain_seconds: float = 2.0,
) -> dict:
    """Restock, open ``clients`` websockets, place orders at ``rate`` for ``seconds``.

    After the last order, waits up to ``drain_seconds`` for the messages still on their way
    (a message that comes later is counted as missing and has no latency).
    """
    restock(inventory, PRODUCT, int(rate * seconds) + 10, token=service_token, timeout=(3, 30))
    url = bff.replace("http", "ws", 1) + "/ws/orders/"
    latencies: list[float] = []
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in range(clients)]
    tasks = [asyncio.create_task(client(url, bff, latencies, ready, stop)) for ready in readies]
    connect_started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
    connect_seconds = time.monotonic() - connect_started
    placed: list[int] = []
    orders = threading.Thread(target=place_orders, args=(bff, rate, seconds, placed))
    orders.start()
    while orders.is_alive():
        await asyncio.sleep(0.2)
    expected = len(placed) * 2 * clients  # PENDING and CONFIRMED, to every client
    drain_deadline = time.monotonic() + drain_seconds
    while len(latencies) < expected and time.monotonic() < drain_deadline:
        await asyncio.sleep(0.1)  # let the last pushes arrive before closing
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    ordered = sorted(latencies)
    return {
        "benchmark": "ws",
        "clients": clients,
        "connect_seconds": round(connect_seconds, 2),
        "orders": len(placed),
        "order_statuses": {str(s): placed.count(s) for s in set(placed)},
        "messages": len(ordered),
        "messages_expected": expected,
        "p50_ms": round(percentile(ordered, 50), 1),
        "p95_ms": round(percentile(ordered, 95), 1),
        "p99_ms": round(percentile(ordered, 99), 1),
        "max_ms": round(ordered[-1], 1) if ordered else None,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bff", default="http://127.0.0.1:8000")
    parser.add_argument("--inventory", default="http://127.0.0.1:8002", help="for the restock")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="orders per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--drain", type=float, default=2.0, help="seconds to wait for late messages at the end"
    )
    args = parser.parse_args()

    result = await measure(
        args.bff,
        args.inventory,
        clients=args.clients,
        rate=args.rate,
        seconds=args.seconds,
        service_token=os.environ.get("SERVICE_TOKEN", ""),
        drain_seconds=args.drain,
    )
    print(json.dumps(result))
    return 0 if result["messages"] == result["messages_expected"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
