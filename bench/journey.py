"""Where an order's time goes: each hop's own time against its waiting, from the request logs.

    python3 bench/journey.py [--bff-url http://127.0.0.1:8000] [--logs var/logs]
                             [--orders 500] [--warm-up 100] [--concurrency 32]

Against a running ``manage_all.py up`` (whose services write ``var/logs/<service>.log``),
places orders through ``POST /api/orders``, each with its own ``X-Correlation-ID``. Every
service logs each request it served with that id and the time its Django handler took, and
the saga answers with the time each step took as the saga saw it. Together they split each
order's latency into:

* before the BFF: the client's time minus the BFF's handler (connecting, waiting for a BFF
  worker);
* BFF to saga: the BFF's handler minus the saga's (the BFF's own work, and the call's wait
  for a free saga thread);
* saga's own: the saga's handler minus its steps (its two transactions, and waiting for a
  core);
* per step: the participant's handler, and the rest of the step as the saga saw it (the
  call waiting for a free worker of that service, and the HTTP round trip).

Orders are grouped by the client's latency (fastest half, 50-95 %, slowest 5 %). Prints a
table and a JSON line. The Wireless Mouse is restocked first, so every order can succeed.
"""

import argparse
import json
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

import requests
from stats import add_service_token, closed_loop, restock

TIMEOUT = (3.05, 60)
PRODUCT = "b2222222-2222-2222-2222-222222222222"  # Wireless Mouse
STEPS = ("CreateOrder", "ReserveInventory", "ConfirmOrder")
# servicekit.middleware's line: "... [<correlation id>] POST /path -> 201 in 2.8 ms"
TEXT_LINE = re.compile(
    r"\[(?P<cid>[^\]]+)\] (?P<method>[A-Z]+) (?P<path>\S+) -> \d+ in (?P<ms>[\d.]+) ms"
)


def served(line: str) -> tuple[str, str, float] | None:
    """(correlation id, path, handler ms) of one request line, text or JSON format."""
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if "duration_ms" not in record or record.get("method") != "POST":
            return None
        return record.get("correlation_id", ""), record.get("path", ""), record["duration_ms"]
    match = TEXT_LINE.search(line)
    if match is None or match["method"] != "POST":
        return None
    return match["cid"], match["path"], float(match["ms"])


def step_of(service: str, path: str) -> str | None:
    if service == "order":
        return "ConfirmOrder" if path.endswith("/confirm") else "CreateOrder"
    if service == "inventory" and path.endswith("/reserve"):
        return "ReserveInventory"
    return {"bff": "bff", "saga": "saga"}.get(service)


def read_logs(logs: Path, ids: set[str]) -> dict[str, dict[str, float]]:
    """Handler ms per correlation id and hop (bff, saga, CreateOrder, ...), summed over
    retries of one step."""
    found: dict[str, dict[str, float]] = {}
    for service in ("bff", "saga", "order", "inventory"):
        with open(logs / f"{service}.log", encoding="utf-8", errors="replace") as log:
            for line in log:
                request = served(line)
                if request is None or request[0] not in ids:
                    continue
                hop = step_of(service, request[1])
                if hop is not None:
                    times = found.setdefault(request[0], {})
                    times[hop] = times.get(hop, 0.0) + request[2]
    return found


def wait_for_logs(logs: Path, ids: set[str], timeout: float = 10.0) -> dict:
    """The logs' view of ``ids``, once every order's BFF line is there (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        found = read_logs(logs, ids)
        complete = sum(1 for t in found.values() if "bff" in t)
        if complete == len(ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)  # polling a condition (log lines flushed), bounded by the timeout


def split(order: dict) -> dict[str, float]:
    """One order's latency as parts that add up to the client's time."""
    logged, steps = order["logged"], order["steps"]
    parts = {
        "before BFF": order["client_ms"] - logged["bff"],
        "BFF to saga": logged["bff"] - logged["saga"],
        "saga's own": logged["saga"] - sum(steps.values()),
    }
    for step in STEPS:
        parts[f"{step} served"] = logged[step]
        parts[f"{step} waiting"] = steps[step] - logged[step]
    return parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bff-url", default="http://127.0.0.1:8000")
    parser.add_argument("--inventory-url", default="http://127.0.0.1:8002")
    add_service_token(parser)
    parser.add_argument("--logs", type=Path, default=Path(__file__).parent.parent / "var/logs")
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--warm-up", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    restock(args.inventory_url, PRODUCT, args.orders + args.warm_up, token=args.service_token)
    run = uuid.uuid4().hex[:8]
    orders: dict[str, dict] = {}

    def place(session: requests.Session, i: int) -> int:
        cid = f"journey-{run}-{i}"
        started = time.perf_counter()
        response = session.post(
            f"{args.bff_url}/api/orders",
            json={"customer_name": f"bench-{i % 50}", "product_id": PRODUCT, "quantity": 1},
            headers={"X-Correlation-ID": cid},
            timeout=TIMEOUT,
        )
        elapsed = (time.perf_counter() - started) * 1000
        answer = response.json() if response.ok else {}
        if i >= args.warm_up and answer.get("success"):
            steps = {s["action"]: s["duration_ms"] or 0.0 for s in answer.get("saga_log", [])}
            orders[cid] = {"client_ms": elapsed, "steps": steps}
        return response.status_code

    load = closed_loop(place, total=args.warm_up + args.orders, concurrency=args.concurrency)
    logged = wait_for_logs(args.logs, set(orders))
    complete = []
    for cid, order in orders.items():
        times = logged.get(cid, {})
        if all(hop in times for hop in ("bff", "saga", *STEPS)) and set(STEPS) <= set(
            order["steps"]
        ):
            complete.append({**order, "logged": times})
    if not complete:
        print("no order could be followed through the logs; is --logs right?", file=sys.stderr)
        return 1
    complete.sort(key=lambda o: o["client_ms"])
    n = len(complete)
    bands = {
        "fastest half": complete[: n // 2],
        "50-95 %": complete[n // 2 : int(n * 0.95)],
        "slowest 5 %": complete[int(n * 0.95) :],
    }
    rows = {}
    for band, members in bands.items():
        if not members:
            continue
        parts = [split(o) for o in members]
        rows[band] = {
            "orders": len(members),
            "client ms": round(statistics.fmean(o["client_ms"] for o in members), 1),
            **{k: round(statistics.fmean(p[k] for p in parts), 1) for k in parts[0]},
        }
    columns = list(next(iter(rows.values())))
    width = max(len(c) for c in columns)
    print(
        f"{args.orders} orders at c = {args.concurrency}: {load['per_second']} orders/s, "
        f"{n} followed through the logs; mean ms per order"
    )
    print(" " * width + "".join(f"{band:>15}" for band in rows))
    for column in columns:
        print(f"{column:<{width}}" + "".join(f"{rows[b][column]:>15}" for b in rows))
    print(
        json.dumps(
            {"benchmark": "journey", "concurrency": args.concurrency, "load": load, "bands": rows}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
