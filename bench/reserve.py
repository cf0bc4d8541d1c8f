"""Reserve throughput and latency of a running inventory service.

    python3 bench/reserve.py [--url http://127.0.0.1:8002] [--requests 2000]
                             [--concurrency 1 8 32]

Each request reserves one unit for a new order. Before each level the product is
restocked by the number of requests, so every reserve can succeed, and afterwards every
reservation is released (untimed): the product ends with more stock than it began with,
so point it at a database you do not mind changing. Prints one JSON object per
concurrency level and a summary; run it against PostgreSQL (``INVENTORY_DATABASE_URL``)
for numbers that mean something.
"""

import argparse
import json
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from stats import add_service_token, auth, closed_loop, restock

TIMEOUT = (3.05, 30)
PRODUCT = "b2222222-2222-2222-2222-222222222222"  # Wireless Mouse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8002")
    parser.add_argument("--product", default=PRODUCT)
    parser.add_argument("--requests", type=int, default=2000, help="reserves per level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    add_service_token(parser)
    args = parser.parse_args()

    base = f"{args.url}/commands/inventory/{args.product}"
    health = requests.get(f"{args.url}/health", timeout=TIMEOUT).json()
    results = []
    for concurrency in args.concurrency:
        orders = [str(uuid.uuid4()) for _ in range(args.requests)]
        restock(args.url, args.product, args.requests, token=args.service_token, timeout=TIMEOUT)

        def reserve(session: requests.Session, i: int, orders=orders) -> int:
            body = {"order_id": orders[i], "quantity": 1}
            return session.post(f"{base}/reserve", json=body, timeout=TIMEOUT).status_code

        result = closed_loop(
            reserve,
            total=args.requests,
            concurrency=concurrency,
            headers=auth(args.service_token),
        )
        result = {"benchmark": "reserve", "concurrency": concurrency, **result}
        print(json.dumps(result), flush=True)
        results.append(result)
        _release_all(base, orders, args.service_token)
    print(
        json.dumps(
            {
                "benchmark": "reserve",
                "database": health.get("database"),
                "levels": {
                    r["concurrency"]: {
                        k: r[k] for k in ("per_second", "p50_ms", "p95_ms", "p99_ms")
                    }
                    for r in results
                },
            }
        )
    )
    return 0 if all(set(r["statuses"]) == {"200"} for r in results) else 1


def _release_all(base: str, orders: list[str], token: str) -> None:
    session = requests.Session()
    session.headers.update(auth(token))

    def release(order_id: str) -> None:
        session.post(f"{base}/release", json={"order_id": order_id}, timeout=TIMEOUT)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(release, orders))


if __name__ == "__main__":
    sys.exit(main())
