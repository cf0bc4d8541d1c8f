"""Place-order saga throughput and latency against a running system.

    python3 bench/saga.py [--saga-url http://127.0.0.1:8003]
                          [--inventory-url http://127.0.0.1:8002]
                          [--requests 500] [--concurrency 1 8 32]

Each request runs the whole saga (create order, reserve one unit, confirm) for a new order.
The product is restocked before each level so every saga can succeed: the database grows
by one confirmed order per request, so use one you do not mind changing. Prints a JSON
object per level and a summary; run it on PostgreSQL for numbers that mean something.
"""

import argparse
import json
import sys

import requests
from stats import add_service_token, auth, closed_loop, restock

TIMEOUT = (3.05, 60)
PRODUCT = "b2222222-2222-2222-2222-222222222222"  # Wireless Mouse, 3,500 yen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saga-url", default="http://127.0.0.1:8003")
    parser.add_argument("--inventory-url", default="http://127.0.0.1:8002")
    parser.add_argument("--product", default=PRODUCT)
    parser.add_argument("--requests", type=int, default=500, help="sagas per level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    add_service_token(parser)
    args = parser.parse_args()

    results = []
    for concurrency in args.concurrency:
        restock(args.inventory_url, args.product, args.requests, token=args.service_token)
        completed = []

        def place(session: requests.Session, i: int, completed=completed) -> int:
            body = {
                "customer_name": f"bench-{i % 50}",
                "product_id": args.product,
                "product_name": "Wireless Mouse",
                "total_price": 3500,
                "quantity": 1,
            }
            response = session.post(f"{args.saga_url}/saga/place-order", json=body, timeout=TIMEOUT)
            if response.ok and response.json().get("success"):
                completed.append(1)
            return response.status_code

        result = closed_loop(
            place,
            total=args.requests,
            concurrency=concurrency,
            headers=auth(args.service_token),
        )
        result = {
            "benchmark": "saga",
            "concurrency": concurrency,
            **result,
            "confirmed": len(completed),
        }
        print(json.dumps(result), flush=True)
        results.append(result)
    summary = {
        "benchmark": "saga",
        "levels": {
            r["concurrency"]: {k: r[k] for k in ("per_second", "p50_ms", "p95_ms", "p99_ms")}
            for r in results
        },
    }
    print(json.dumps(summary))
    return 0 if all(r["confirmed"] == r["requests"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
