"""Helpers shared by the benchmarks: closed-loop load, latency percentiles, restocking."""

import argparse
import os
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def summary(latencies_ms: list[float], elapsed_s: float, statuses: Counter) -> dict:
    ordered = sorted(latencies_ms)
    return {
        "requests": len(ordered),
        "seconds": round(elapsed_s, 3),
        "per_second": round(len(ordered) / elapsed_s, 1) if elapsed_s else None,
        "p50_ms": round(percentile(ordered, 50), 2),
        "p95_ms": round(percentile(ordered, 95), 2),
        "p99_ms": round(percentile(ordered, 99), 2),
        "mean_ms": round(statistics.fmean(ordered), 2) if ordered else None,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def add_service_token(parser: argparse.ArgumentParser) -> None:
    """``--service-token``: what the system's command endpoints ask of their callers."""
    parser.add_argument(
        "--service-token",
        default=os.environ.get("SERVICE_TOKEN", ""),
        help="the system's SERVICE_TOKEN, for the commands it guards (default: $SERVICE_TOKEN)",
    )


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def closed_loop(
    call: Callable[[requests.Session, int], int],
    *,
    total: int,
    concurrency: int,
    headers: dict[str, str] | None = None,
) -> dict:
    """Run ``total`` calls with ``concurrency`` clients, each with its own pooled session
    that sends ``headers`` with every request.

    ``call(session, i)`` performs request ``i`` and returns its HTTP status.
    """
    local = threading.local()
    latencies: list[float] = []
    statuses: Counter = Counter()
    lock = threading.Lock()

    def one(i: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers.update(headers or {})
        started = time.perf_counter()
        try:
            status = call(local.session, i)
        except requests.RequestException as exc:
            status = type(exc).__name__
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)
            statuses[status] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(total)))
    return summary(latencies, time.perf_counter() - started, statuses)


def restock(
    inventory_url: str, product: str, quantity: int, *, token: str = "", timeout=(3.05, 60)
) -> None:
    """Add ``quantity`` units of ``product``, so that a benchmark's orders or reserves can
    all succeed; raises if the inventory service refuses."""
    response = requests.post(
        f"{inventory_url}/commands/inventory/{product}/restock",
        json={"quantity": quantity},
        headers={"Idempotency-Key": f"bench-{uuid.uuid4()}", **auth(token)},
        timeout=timeout,
    )
    if response.status_code == 403:
        raise SystemExit(
            "the inventory service refused the restock (403): give the system's token with "
            "--service-token or SERVICE_TOKEN"
        )
    response.raise_for_status()
