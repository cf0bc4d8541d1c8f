"""Two versions of the system measured at the same time, so that the machine's drift falls
on both: the way to see a change of a few per cent.

    python3 bench/ab.py /path/to/before .                 # two checkouts, two pairs
    python3 bench/ab.py . . --env-b RELAY_LINGER_MS=15    # one checkout, a setting changed
    python3 bench/ab.py . .                               # the method itself (A/A)

Each side is a checkout with ``bench/run_all.py``. In every pair both sides start a fresh
system of their own at once (``run_all.py --target fresh``, the order level and the CPU and
commit counters only: each in its own ``.venv``, on ``TEST_DATABASE_URL``'s server with a
private Redis) and place the same number of orders at the same concurrency; then the next
pair. Two systems held about 86 connections (before the saga's pool grew from 8 to 12), so
the server needs ``max_connections`` of 100 or more, and nothing else should run on the
machine meanwhile.

Sequential runs of the same code on this 2-core machine differ by up to a fifth, since its
speed drifts by the minute; the two sides of a pair run under the same drift. On 2026-12-06
the same code on both sides differed by 0.3 % in CPU per order (docs/performance.md).
Prints each pair, then the mean difference B - A.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# what run_all measures besides the orders, none of it wanted here
SKIPPED = ("burst", "ws", "hop", "floor", "rebuild", "catch-up", "lag")
# the columns of the table: (heading, what it reads from a run's JSON)
COLUMNS = (
    ("confirmed/s", lambda r: level(r)["confirmed_per_second"]),
    ("p99 ms", lambda r: level(r)["p99_ms"]),
    ("CPU ms/order", lambda r: r["cost"]["cpu"]["server_ms_per_order"]),
    ("web", lambda r: r["cost"]["cpu"]["by_role_ms_per_order"].get("web")),
    ("relays", lambda r: r["cost"]["cpu"]["by_role_ms_per_order"].get("relay")),
    ("consumers", lambda r: consumers(r["cost"]["cpu"]["by_role_ms_per_order"])),
    ("PostgreSQL", lambda r: r["cost"]["cpu"].get("postgres_system_backends_ms_per_order")),
)


def level(result: dict) -> dict:
    """The one order level a side ran (results by concurrency)."""
    (only,) = result["orders"].values()
    return only


def consumers(by_role: dict) -> float:
    return (by_role.get("feed") or 0) + (by_role.get("worker") or 0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path, help="checkout A (before)")
    parser.add_argument("b", type=Path, help="checkout B (after)")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--orders", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16, help="per side")
    parser.add_argument("--env-a", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--env-b", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    sides = {"A": (args.a, environ(args.env_a)), "B": (args.b, environ(args.env_b))}
    for checkout, _ in sides.values():
        if not (checkout / "bench" / "run_all.py").is_file():
            parser.error(f"{checkout} has no bench/run_all.py")
    pairs = []
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as scratch:
        for n in range(1, args.pairs + 1):
            pair = run_pair(sides, Path(scratch) / f"pair{n}", args.orders, args.concurrency)
            pairs.append(pair)
            print_pair(n, pair)
    print_difference(pairs)
    return 0


def environ(assignments: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep:
            raise SystemExit(f"not NAME=VALUE: {assignment!r}")
        env[name] = value
    return env


def run_pair(sides: dict, scratch: Path, orders: int, concurrency: int) -> dict[str, dict]:
    """Both sides' ``run_all.py`` at once; their results."""
    scratch.mkdir(parents=True)
    running = {}
    for side, (checkout, env) in sides.items():
        argv = [
            sys.executable,
            str(checkout / "bench" / "run_all.py"),
            *("--target", "fresh", "--concurrency", str(concurrency), "--orders", str(orders)),
            *("--json", str(scratch / f"{side}.json")),
            *(f"--skip-{step}" for step in SKIPPED),
        ]
        log = open(scratch / f"{side}.log", "w")  # noqa: SIM115 - closed below
        running[side] = (subprocess.Popen(argv, cwd=checkout, env=env, stdout=log, stderr=log), log)
    results = {}
    for side, (process, log) in running.items():
        code = process.wait()
        log.close()
        if code != 0:
            tail = (scratch / f"{side}.log").read_text()[-2000:]
            raise SystemExit(f"side {side} failed ({code}):\n{tail}")
        results[side] = json.loads((scratch / f"{side}.json").read_text())["results"]
    return results


def row(result: dict) -> list[float | None]:
    return [read(result) for _, read in COLUMNS]


def print_pair(n: int, pair: dict[str, dict]) -> None:
    if n == 1:
        print("pair side " + " ".join(f"{heading:>14}" for heading, _ in COLUMNS))
    for side, result in pair.items():
        cells = " ".join(f"{'-' if v is None else f'{v:.2f}':>14}" for v in row(result))
        print(f"{n:>4} {side:>4} {cells}", flush=True)


def difference(pairs: list[dict[str, dict]]) -> list[tuple[float, float] | None]:
    """For each column, the mean of B - A over the pairs and that as a share of A's mean."""
    out = []
    columns_a = zip(*(row(p["A"]) for p in pairs), strict=True)
    columns_b = zip(*(row(p["B"]) for p in pairs), strict=True)
    for a, b in zip(columns_a, columns_b, strict=True):
        if None in a or None in b:
            out.append(None)
            continue
        delta = statistics.mean(y - x for x, y in zip(a, b, strict=True))
        base = statistics.mean(a)
        out.append((delta, delta / base if base else 0.0))
    return out


def print_difference(pairs: list[dict[str, dict]]) -> None:
    cells = " ".join(
        f"{'-' if d is None else f'{d[0]:+.2f} {d[1]:+.1%}':>14}" for d in difference(pairs)
    )
    print(f"mean  B-A {cells}")


if __name__ == "__main__":
    sys.exit(main())
