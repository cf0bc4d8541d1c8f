"""The whole system on PostgreSQL in one command: one table, one JSON file.

    python3 bench/run_all.py                              # the running system, or one of its own
    python3 bench/run_all.py --orders 1000 --rebuild-events 100000 1000000   # the README's
    python3 bench/run_all.py --target fresh               # always a fresh system of its own

Any ``python3`` will do: the script goes on in the project's venv (``.venv``, created and
installed as ``manage_all.py`` does if it is missing).

``--target auto`` (the default) measures the system ``python3 manage_all.py up`` runs if
its BFF answers on the DESIGN port, and otherwise starts one of its own.
``--target fresh`` starts every service of the process table on fresh PostgreSQL databases
(``TEST_DATABASE_URL``) with a private Redis, as ``tests/live.py``'s ``System`` does, and
tears it all down at the end, on Ctrl-C and on SIGTERM too.
``--target running`` measures a system started with ``python3 manage_all.py up`` on
PostgreSQL: URLs are the DESIGN ports 8000-8004 (``--port-offset``), each service's database
is the ``DATABASE_URL`` its web process runs with (read from ``/proc``, as is the
``SERVICE_TOKEN``; ``ORDER_DATABASE_URL`` and friends where that cannot be read), and it
places real orders there (the 100-order burst only with ``--allow-burst``).

Measurements, each skippable (``--skip-orders`` ...) and bounded in count and time:

1. orders: ``POST /api/orders`` through the BFF (Wireless Mouse, quantity 1, restocked by
   ``--orders`` first) at each ``--concurrency``, closed loop, one session per client:
   orders/s, confirmed/s, p50/p95/p99, statuses; every ``success: false`` is an order
   cancelled although stock was available.
2. cpu: utime+stime from ``/proc/<pid>/stat`` of every process of the system (and its
   children, the gunicorn workers) around the ``--measure-level`` level (32), per service
   and role, and PostgreSQL's own processes separately (the backends serving the system's
   databases, in all and per database, and every process of the server's cluster: its
   postmaster and the postmaster's children, whatever databases they serve).
3. commits: ``xact_commit`` of the five databases in ``pg_stat_database`` around the same
   level. Both 2 and 3 wait ``--settle`` seconds after the level (PostgreSQL 15 flushes an
   idle backend's counters within 10 s) and subtract an idle baseline measured for
   ``--quiet`` seconds just before it: they are the cost of the orders alone.
4. hop: ``--hop-requests`` commands the order service refuses at validation (400), from 8
   clients: the CPU one HTTP hop costs server and client with no work behind it (an order
   makes five).
5. floor: one connection (then ``--floor-connections``) inserting one row and committing,
   in a loop, in a scratch database on the same server: the commits/s the disk allows.
6. burst: 100 simultaneous orders for the 4K Monitor (stock 30 on a fresh system):
   confirmed must equal min(100, available).
7. rebuild: ``--rebuild-events`` synthetic order events (bench/consume.py's SQL) in a fresh
   migrated order database, then ``manage.py rebuild_projections --no-progress``, timed;
   then once more, as on a running system whose tables match the log, for how long it held
   the writers off (as the command says).
8. catch-up, lag: bench/consume.py's relay + marketing catch-up and end-to-end lag, on its
   own order + marketing services; ws: bench/ws.py's websocket push latency to the BFF.

Progress goes to stderr, the table to stdout, everything to ``--json``. Exit status 1 if a
measurement failed or a correctness check did (an order cancelled with stock available, the
burst over- or under-selling, marketing's totals, lost websocket messages, rebuild counts);
the performance goals are only reported, as met or not met.
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/, manage_all
import manage_all

if __name__ == "__main__":
    # `python3 bench/run_all.py` from any Python: go on in the project's venv (as
    # manage_all.py does), where psycopg, requests and websockets are installed.
    manage_all.run_in_venv(__file__)

import consume
import psycopg
import requests
import stats
import ws

from servicekit.http import PeerClient
from tests import live

TIMEOUT = (3.05, 60)
MOUSE = "b2222222-2222-2222-2222-222222222222"  # Wireless Mouse
MONITOR = "d4444444-4444-4444-4444-444444444444"  # 4K Monitor, stock 30 when seeded
CLK_TCK = os.sysconf("SC_CLK_TCK")
SCRATCH_LABEL = "bench_all"


def log(message: str) -> None:
    print(f"[run_all {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Processes and their CPU time (/proc)
# --------------------------------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(comm, ppid, utime + stime in ticks) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()  # fields[0] is field 3 (state)
    return comm, int(fields[1]), int(fields[11]) + int(fields[12])


def all_procs() -> dict[int, tuple[str, int, int]]:
    procs = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))) is not None:
            procs[int(entry.name)] = stat
    return procs


def descendants(roots: dict[int, str], procs: dict[int, tuple[str, int, int]]) -> dict[int, str]:
    """``roots`` (pid -> label) and every live descendant, labelled as its root."""
    children = defaultdict(list)
    for pid, (_, ppid, _) in procs.items():
        children[ppid].append(pid)
    labels: dict[int, str] = {}
    stack = [(pid, label) for pid, label in roots.items() if pid in procs]
    while stack:
        pid, label = stack.pop()
        if pid in labels:
            continue
        labels[pid] = label
        stack.extend((child, label) for child in children[pid])
    return labels


def machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(values[:8])  # guest time is already in user
    idle = values[3] + values[4]  # idle + iowait
    return total - idle, total


def read_cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def read_cwd(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def read_environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def role_of(service: manage_all.Service, argv: list[str]) -> str:
    """The process-table role a command line plays (gunicorn is ``web``)."""
    names = [Path(a).name for a in argv[:2]]
    if "gunicorn" in names:
        return "web"
    if "manage.py" in argv:
        command = argv[argv.index("manage.py") + 1 :]
        for process in service.processes:
            if process.argv[:2] == ("python", "manage.py") and list(process.argv[2:]) == command:
                return process.role
        return command[0] if command else "manage.py"
    return names[0] if names else "?"


def bind_port(argv: list[str]) -> int | None:
    for i, arg in enumerate(argv[:-1]):
        if arg in ("--bind", "-b"):
            with contextlib.suppress(ValueError):
                return int(argv[i + 1].rpartition(":")[2])
    return None


def gunicorn_masters(procs: dict, ports: dict[str, int]) -> dict[int, str]:
    """pid -> service of the gunicorn masters bound to the services' ports (not their
    workers, whose command line is the same but whose parent is the master)."""
    by_port = {port: name for name, port in ports.items()}
    masters: dict[int, str] = {}
    for pid, (_, ppid, _) in procs.items():
        argv = read_cmdline(pid)
        if "gunicorn" not in [Path(a).name for a in argv[:2]]:
            continue
        port = bind_port(argv)
        parent = read_cmdline(ppid)
        if port in by_port and not ("gunicorn" in " ".join(parent[:2]) and bind_port(parent)):
            masters[pid] = by_port[port]
    return masters


def running_processes(ports: dict[str, int], database_urls: dict[str, str]) -> dict[int, str]:
    """pid -> "service/role" of a running ``manage_all.py up`` found by command line.

    The gunicorn masters bound to the services' ports; if their parent is ``manage_all.py``,
    every descendant of it (relays, workers, its Redis), classified by working directory and
    command line; otherwise the masters' trees plus the ``manage.py`` processes under the
    repository whose DATABASE_URL is the service's.
    """
    procs = all_procs()
    # by the name of its working directory: the system may run from another checkout
    by_dir = {s.dir: s for s in manage_all.SERVICES}

    def service_of(pid: int) -> manage_all.Service | None:
        cwd = read_cwd(pid)
        return by_dir.get(cwd.name) if cwd else None

    masters = gunicorn_masters(procs, ports)
    supervisors = {
        procs[pid][1]: "supervisor"
        for pid in masters
        if any(a.endswith("manage_all.py") for a in read_cmdline(procs[pid][1]))
    }
    if supervisors:
        members = descendants(supervisors, procs)
        for pid in supervisors:
            members.pop(pid)  # manage_all.py itself only supervises
    else:
        members = descendants({pid: "web" for pid in masters}, procs)
        for pid in procs:
            argv = read_cmdline(pid)
            service = service_of(pid)
            if service and "manage.py" in argv and pid not in members:
                wanted = database_urls.get(service.name)
                if wanted and read_environ(pid).get("DATABASE_URL") == wanted:
                    members[pid] = "manage.py"
    labels = {}
    for pid in members:
        argv = read_cmdline(pid)
        service = service_of(pid)
        if service is not None:
            labels[pid] = f"{service.name}/{role_of(service, argv)}"
        elif argv and Path(argv[0]).name.startswith("redis-server"):
            labels[pid] = "redis"
        elif argv:
            labels[pid] = f"other/{Path(argv[0]).name}"
    return labels


class CpuProbe:
    """Snapshots of CPU time: the system's processes by label, PostgreSQL, the machine."""

    def __init__(
        self,
        roots: Callable[[], dict[int, str]],
        pg_backends: Callable[[], dict[int, str]],
        postmaster: int | None,
    ):
        self.roots = roots  # pid -> label of the system's root processes (re-read each time)
        self.pg_backends = pg_backends  # pid -> database of the backends serving the system
        # The cluster's own processes only: another cluster on the machine (a second
        # PostgreSQL, someone's probe) made "all postgres" a share of other work.
        self.postmaster = postmaster

    def snapshot(self) -> dict:
        procs = all_procs()
        labels = descendants(self.roots(), procs)
        labels[os.getpid()] = "bench client"
        return {
            "at": time.perf_counter(),
            "system": {pid: (label, procs[pid][2]) for pid, label in labels.items()},
            "postgres": {
                pid: ticks
                for pid, (comm, ppid, ticks) in procs.items()
                if (
                    self.postmaster in (pid, ppid)
                    if self.postmaster
                    else comm.startswith("postgres")
                )
            },
            "backends": self.pg_backends(),
            "machine": machine_ticks(),
        }

    @staticmethod
    def spent(before: dict, after: dict) -> dict:
        """Milliseconds of CPU between two snapshots: per label, PostgreSQL, the machine."""
        per_label: Counter = Counter()
        for pid, (label, ticks) in after["system"].items():
            was = before["system"].get(pid)
            per_label[label] += ticks - (was[1] if was and was[0] == label else 0)
        vanished = [pid for pid in before["system"] if pid not in after["system"]]
        backends = before["backends"] | after["backends"]
        pg_all = pg_system = 0
        pg_by_database: Counter = Counter()
        for pid, ticks in after["postgres"].items():
            delta = ticks - before["postgres"].get(pid, 0)
            pg_all += delta
            if pid in backends:
                pg_system += delta
                pg_by_database[backends[pid]] += delta
        busy = after["machine"][0] - before["machine"][0]
        total = after["machine"][1] - before["machine"][1]
        ms = 1000 / CLK_TCK
        return {
            "seconds": after["at"] - before["at"],
            "labels": {k: v * ms for k, v in sorted(per_label.items())},
            "postgres_system_backends": pg_system * ms,
            "postgres_by_database": {k: v * ms for k, v in sorted(pg_by_database.items())},
            "postgres_all": pg_all * ms,
            "machine_busy": busy * ms,
            "machine_busy_share": round(busy / total, 3) if total else None,
            "processes_vanished": len(vanished),
        }


# --------------------------------------------------------------------------------------------
# The targets: a fresh System, or a running manage_all.py up
# --------------------------------------------------------------------------------------------


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


class FreshTarget:
    """Every service on fresh databases and a private Redis (tests/live.py's ``System``)."""

    fresh = True

    def __init__(self, args):
        self.log_dir = Path(tempfile.mkdtemp(prefix="bench-run-all-"))
        self.token = args.service_token
        self.workers = args.workers
        self.system: live.System | None = None

    def start(self) -> None:
        log(f"starting a fresh system (logs in {self.log_dir})")
        env = {"SERVICE_TOKEN": self.token} if self.token else {}
        with signals_blocked():  # a Ctrl-C inside would leak the Redis or a database
            self.system = live.System(self.log_dir, env=env, workers=self.workers)
        self.system.start()  # a Ctrl-C from here on is cleaned up by stop()
        self.urls = {name: service.url for name, service in self.system.services.items()}
        self.database_urls = {name: db.url for name, db in self.system.databases.items()}
        self.admin_url = live._admin_dsn()

    def roots(self) -> dict[int, str]:
        roots = {}
        if self.system is None:
            return roots
        for name, service in self.system.services.items():
            if service.process is not None:
                roots[service.process.pid] = f"{name}/web"
            for role, process in service.workers_started.items():
                roots[process.pid] = f"{name}/{role}"
        roots[self.system.redis.process.pid] = "redis"
        return roots

    def stop(self) -> None:
        if self.system is not None:
            log("stopping the fresh system")
            with signals_blocked():
                self.system.stop()
            self.system = None


def served_environ(ports: dict[str, int]) -> dict[str, dict[str, str]]:
    """service -> the environment of the gunicorn master listening on its port (its
    ``DATABASE_URL``, its ``SERVICE_TOKEN``), so a running system is measured whatever this
    shell's environment says."""
    return {
        service: read_environ(pid) for pid, service in gunicorn_masters(all_procs(), ports).items()
    }


def running_system_answers(port_offset: int) -> bool:
    """Whether a ``manage_all.py up`` answers: its BFF's ``/health`` on the DESIGN port."""
    bff = manage_all.find_service("bff")
    url = f"http://{manage_all.HOST}:{manage_all.web_port(bff, port_offset)}/health"
    try:
        return "database" in requests.get(url, timeout=(1, 3)).json()
    except (requests.RequestException, ValueError):  # nothing listening, or not our BFF
        return False


class RunningTarget:
    """A system already started by ``manage_all.py up`` on the DESIGN ports."""

    fresh = False

    def __init__(self, args):
        self.ports = {s.name: manage_all.web_port(s, args.port_offset) for s in manage_all.SERVICES}
        self.urls = {name: f"http://{manage_all.HOST}:{port}" for name, port in self.ports.items()}
        served = served_environ(self.ports)
        # the hop row sends commands to the order service, which want its token if it has one
        self.token = args.service_token or served.get("order", {}).get("SERVICE_TOKEN", "")
        self.database_urls = {
            s.name: url
            for s in manage_all.SERVICES
            if (
                url := served.get(s.name, {}).get("DATABASE_URL")
                or os.environ.get(f"{s.env_prefix}_DATABASE_URL", "")
            ).startswith("postgres")
        }
        base = self.database_urls.get("order") or live.TEST_DATABASE_URL
        self.admin_url = manage_all.db_url_with_name(base, "postgres")
        if "TEST_DATABASE_URL" not in os.environ:
            live.TEST_DATABASE_URL = base  # scratch databases on the system's server

    def start(self) -> None:
        for name, url in self.urls.items():
            health = requests.get(f"{url}/health", timeout=TIMEOUT).json()
            if health.get("database") != "postgresql":
                log(f"warning: {name} at {url} runs on {health.get('database')}, not PostgreSQL")
        missing = sorted(set(self.urls) - set(self.database_urls))
        if missing:
            log(f"no PostgreSQL *_DATABASE_URL for {', '.join(missing)}: not in the DB counters")
        found = Counter(self.roots().values())
        log(f"processes found: {dict(sorted(found.items()))}")

    def roots(self) -> dict[int, str]:
        return running_processes(self.ports, self.database_urls)

    def stop(self) -> None:
        pass


@contextlib.contextmanager
def signals_blocked():
    blocked = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)


def commit_counts(admin_url: str, names: list[str]) -> dict[str, int]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname, xact_commit FROM pg_stat_database WHERE datname = ANY(%s)", (names,)
        ).fetchall()
    return dict(rows)


def postmaster_pid(admin_url: str) -> int | None:
    """The pid of the postmaster serving ``admin_url``, if it runs on this machine."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        stat = proc_stat(backend)
    return stat[1] if stat else None


def backend_databases(admin_url: str, names: list[str]) -> dict[int, str]:
    """pid -> database of every backend connected to one of ``names``."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid, datname FROM pg_stat_activity WHERE datname = ANY(%s)", (names,)
        ).fetchall()
    return dict(rows)


class ConnectionSampler(threading.Thread):
    """Peak PostgreSQL connections while it runs: the system's databases and the server's."""

    def __init__(self, admin_url: str, names: list[str], interval: float = 0.2):
        super().__init__(daemon=True)
        self.admin_url, self.names, self.interval = admin_url, names, interval
        self.stopping = threading.Event()
        self.peak_system = self.peak_server = 0
        self.max_connections = None

    def run(self) -> None:
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(self.admin_url, autocommit=True) as conn,
        ):
            self.max_connections = int(conn.execute("SHOW max_connections").fetchone()[0])
            while not self.stopping.is_set():
                server, system = conn.execute(
                    "SELECT count(*), count(*) FILTER (WHERE datname = ANY(%s)) "
                    "FROM pg_stat_activity WHERE backend_type = 'client backend'",
                    (self.names,),
                ).fetchone()
                self.peak_server = max(self.peak_server, server)
                self.peak_system = max(self.peak_system, system)
                self.stopping.wait(self.interval)  # sampling period

    def __enter__(self) -> "ConnectionSampler":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.join(5)

    def report(self) -> dict:
        return {
            "peak_system_connections": self.peak_system,
            "peak_server_connections": self.peak_server,
            "max_connections": self.max_connections,
        }


def sampler(target) -> ConnectionSampler:
    names = [database_name(u) for u in target.database_urls.values()]
    return ConnectionSampler(target.admin_url, names)


def feed_backlog(target) -> int | None:
    """How many order and saga events the BFF's feed has still to push (None: unknown)."""
    urls = target.database_urls
    if not all(name in urls for name in ("bff", "order", "saga")):
        return None
    with psycopg.connect(urls["bff"], autocommit=True) as conn:
        done = dict(conn.execute("SELECT source, position FROM eventkit_checkpoint").fetchall())
    behind = 0
    for name in ("order", "saga"):
        with psycopg.connect(urls[name], autocommit=True) as conn:
            (last,) = conn.execute("SELECT last_position FROM eventkit_position_counter").fetchone()
        behind += max(0, last - done.get(f"{name}-service", 0))
    return behind


def wait_caught_up(target, timeout: float) -> float:
    """Wait until the BFF's feed has pushed every event so far; the seconds it took."""
    started = time.perf_counter()
    while feed_backlog(target) and time.perf_counter() - started < timeout:
        time.sleep(0.2)  # polling a condition, bounded by the timeout
    return time.perf_counter() - started


def restock(target, product: str, quantity: int) -> None:
    stats.restock(target.urls["inventory"], product, quantity, token=target.token)


def product(target, product_id: str) -> dict:
    url = f"{target.urls['inventory']}/queries/products/{product_id}"
    response = requests.get(url, timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()


# --------------------------------------------------------------------------------------------
# 1-3. Orders through the BFF, CPU and commits per order
# --------------------------------------------------------------------------------------------


def place(session: requests.Session, bff: str, product_id: str, i: int) -> tuple:
    """POST one order; (HTTP status or exception name, answer body or None)."""
    body = {"customer_name": f"bench-{i % 50}", "product_id": product_id, "quantity": 1}
    try:
        response = session.post(f"{bff}/api/orders", json=body, timeout=TIMEOUT)
    except requests.RequestException as exc:
        return type(exc).__name__, None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    return response.status_code, answer if isinstance(answer, dict) else None


class Outcomes:
    """Latencies, statuses and saga outcomes of many orders, filled from many threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.statuses: Counter = Counter()
        self.outcomes: Counter = Counter()  # COMPLETED / COMPENSATED / RUNNING ...
        self.reasons: Counter = Counter()

    def add(self, ms: float, status, answer: dict | None) -> None:
        with self.lock:
            self.latencies.append(ms)
            self.statuses[status] += 1
            if answer is not None and "success" in answer:
                self.outcomes[answer.get("status") or "?"] += 1
                if not answer["success"] and status == 200:
                    self.reasons[str(answer.get("reason") or answer.get("message"))[:120]] += 1

    @property
    def confirmed(self) -> int:
        return self.outcomes["COMPLETED"]

    @property
    def cancelled(self) -> int:  # finished without success: compensated or failed
        return sum(self.reasons.values())

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if isinstance(s, int) and s >= 500)

    def report(self, elapsed: float) -> dict:
        result = stats.summary(self.latencies, elapsed, self.statuses)
        result.update(
            confirmed=self.confirmed,
            confirmed_per_second=round(self.confirmed / elapsed, 1) if elapsed else None,
            cancelled=self.cancelled,
            unfinished=self.statuses[202],
            server_errors=self.server_errors,
            saga_statuses=dict(sorted(self.outcomes.items())),
            cancel_reasons=dict(self.reasons.most_common(5)),
        )
        return result


def order_level(target, concurrency: int, total: int, seconds: float) -> dict:
    """``total`` orders from ``concurrency`` clients in a closed loop, at most ``seconds``."""
    outcomes = Outcomes()
    numbers = itertools.count()
    deadline = time.perf_counter() + seconds
    bff = target.urls["bff"]

    def client() -> None:
        session = requests.Session()
        while time.perf_counter() < deadline and (i := next(numbers)) < total:
            started = time.perf_counter()
            status, answer = place(session, bff, MOUSE, i)
            outcomes.add((time.perf_counter() - started) * 1000, status, answer)

    started = time.perf_counter()
    with sampler(target) as connections:
        join_all([threading.Thread(target=client, daemon=True) for _ in range(concurrency)])
    result = {"concurrency": concurrency, **outcomes.report(time.perf_counter() - started)}
    result.update(connections.report())
    result["complete"] = result["requests"] == total
    return result


def join_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)  # a timeout keeps Ctrl-C deliverable to the main thread


def orders(target, args, results: dict) -> None:
    def level(concurrency: int) -> dict:
        restock(target, MOUSE, args.orders)
        probe = None
        if concurrency == args.measure_level and not args.skip_cpu:
            try:
                probe = Probe(target, args)
                probe.baseline()
            except Exception as exc:
                traceback.print_exc()
                results["cost"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
                probe = None
        log(f"orders: {args.orders} at concurrency {concurrency}")
        result = order_level(target, concurrency, args.orders, args.level_timeout)
        if probe is not None:
            probe.level_over()
        log(
            f"  {result['per_second']} orders/s, {result['confirmed_per_second']} confirmed/s, "
            f"p99 {result['p99_ms']} ms, statuses {result['statuses']}"
        )
        if probe is not None:
            attempt(results, "cost", lambda: probe.finish(result["requests"], concurrency))
        return result

    levels = results.setdefault("orders", {})
    for concurrency in args.concurrency:
        attempt(levels, str(concurrency), lambda c=concurrency: level(c))


# The idle baseline is trusted while the machine was at most this busy: the system's own
# heartbeats, relays and resumer spend a few per cent.
QUIET_BASELINE_SHARE = 0.2


def cpu_doubts(cpu: dict) -> list[str]:
    """What makes a level's CPU figures doubtful; each is printed beside the table. Other
    work in the baseline window is subtracted from the level as if the system had done it
    (found from outside, with a probe's load beside: negative milliseconds per order)."""
    doubts = []
    # /proc counts in clock ticks (10 ms): a process's net may miss by a tick each way
    noise = -2 * (1000 / CLK_TCK) / max(cpu["orders"], 1)
    below = sorted(
        k for k, v in cpu["by_process_ms_per_order"].items() if v["ms_per_order"] < noise
    )
    if below:
        doubts.append(
            f"less CPU during the level than in the idle baseline before it: {', '.join(below)}"
        )
    share = cpu["idle_machine_busy_share"]
    if share is not None and share > QUIET_BASELINE_SHARE:
        doubts.append(
            f"the machine was {share:.0%} busy in the idle baseline: other work ran beside "
            "the system, and was subtracted as if it were the system's"
        )
    return doubts


class Probe:
    """CPU time and commits around one level, minus an idle baseline measured just before."""

    def __init__(self, target, args):
        self.target, self.args = target, args
        self.names = [database_name(u) for u in target.database_urls.values()]
        self.cpu = CpuProbe(target.roots, self.backends, postmaster_pid(target.admin_url))
        self.level_end: tuple[int, int] | None = None  # machine ticks when the level ended

    def backends(self) -> dict[int, str]:
        return backend_databases(self.target.admin_url, self.names) if self.names else {}

    def snapshot(self) -> dict:
        commits = commit_counts(self.target.admin_url, self.names) if self.names else {}
        return {"cpu": self.cpu.snapshot(), "commits": commits}

    def baseline(self) -> None:
        log(f"  idle baseline: {self.args.settle} s to settle, then {self.args.quiet} s quiet")
        time.sleep(self.args.settle)  # let PostgreSQL flush the counters of earlier work
        self.quiet_start = self.snapshot()
        time.sleep(self.args.quiet)  # the idle baseline window
        self.before = self.snapshot()

    def level_over(self) -> None:
        """The orders are answered: the machine's busy share is taken up to here, without
        the settling that follows (which the CPU per process does include)."""
        self.level_end = machine_ticks()

    def finish(self, orders_placed: int, concurrency: int) -> dict:
        log(f"  settling {self.args.settle} s for async work and the counters")
        time.sleep(self.args.settle)
        after = self.snapshot()
        idle = CpuProbe.spent(self.quiet_start["cpu"], self.before["cpu"])
        busy = CpuProbe.spent(self.before["cpu"], after["cpu"])
        scale = busy["seconds"] / idle["seconds"]  # idle spending over the measured window

        def net(busy_ms: float, idle_ms: float) -> float:
            return busy_ms - idle_ms * scale

        n = max(orders_placed, 1)
        labels = {
            label: {
                "ms_per_order": round(net(ms, idle["labels"].get(label, 0)) / n, 3),
                "raw_ms_per_order": round(ms / n, 3),
            }
            for label, ms in busy["labels"].items()
        }
        services = [k for k in labels if k not in ("redis", "bench client")]

        def total(keys) -> float:
            return sum(net(busy["labels"][k], idle["labels"].get(k, 0)) for k in keys) / n

        by_role: Counter = Counter()
        for k in services:
            by_role[k.split("/", 1)[1]] += net(busy["labels"][k], idle["labels"].get(k, 0)) / n
        server = total(services)
        pg_system = net(busy["postgres_system_backends"], idle["postgres_system_backends"]) / n
        pg_all = net(busy["postgres_all"], idle["postgres_all"]) / n
        pg_by_database = {
            name: round(net(ms, idle["postgres_by_database"].get(name, 0)) / n, 3)
            for name, ms in busy["postgres_by_database"].items()
        }
        redis_ms = total([k for k in labels if k == "redis"])
        client = busy["labels"].get("bench client", 0) / n
        machine = busy["machine_busy"] / n
        # What no process we know of spent: all raw, over the same window (the kernel's
        # interrupt work, other tenants of the machine). PostgreSQL counts whole here, since
        # a running system's backends cannot always be told apart.
        known = sum(busy["labels"].values()) + busy["postgres_all"]
        cpu = {
            "concurrency": concurrency,
            "orders": orders_placed,
            "window_seconds": round(busy["seconds"], 1),
            "idle_window_seconds": round(idle["seconds"], 1),
            "server_ms_per_order": round(server, 3),
            "server_raw_ms_per_order": round(sum(busy["labels"][k] for k in services) / n, 3),
            "by_role_ms_per_order": {k: round(v, 3) for k, v in by_role.most_common()},
            "by_process_ms_per_order": labels,
            "redis_ms_per_order": round(redis_ms, 3),
            "postgres_system_backends_ms_per_order": round(pg_system, 3),
            "postgres_by_database_ms_per_order": pg_by_database,
            "postgres_all_ms_per_order": round(pg_all, 3),
            "bench_client_ms_per_order": round(client, 3),
            "machine_busy_ms_per_order": round(machine, 3),
            "other_machine_ms_per_order": round(machine - known / n, 3),
            "machine_busy_share": self._level_busy_share(),
            "idle_machine_busy_share": idle["machine_busy_share"],
            "processes_vanished": busy["processes_vanished"],
        }
        cpu["warnings"] = cpu_doubts(cpu)
        commits = None
        if self.names:
            by_db = {}
            for name in self.names:
                raw = after["commits"].get(name, 0) - self.before["commits"].get(name, 0)
                idle_commits = self.before["commits"].get(name, 0) - self.quiet_start[
                    "commits"
                ].get(name, 0)
                by_db[name] = {"raw": raw, "net": round(raw - idle_commits * scale, 1)}
            raw_total = sum(d["raw"] for d in by_db.values())
            net_total = sum(d["net"] for d in by_db.values())
            commits = {
                "orders": orders_placed,
                "raw": raw_total,
                "net": round(net_total, 1),
                "per_order": round(net_total / n, 2),
                "raw_per_order": round(raw_total / n, 2),
                "per_order_by_database": {k: round(v["net"] / n, 2) for k, v in by_db.items()},
            }
        return {"cpu": cpu, "commits": commits}

    def _level_busy_share(self) -> float | None:
        if self.level_end is None:
            return None
        start = self.before["cpu"]["machine"]
        busy, total = self.level_end[0] - start[0], self.level_end[1] - start[1]
        return round(busy / total, 3) if total else None


def hop(target, args) -> dict:
    """What one HTTP hop costs with no work behind it: ``--hop-requests`` commands that the
    order service refuses at validation (an empty body: 400), from ``--hop-clients`` clients.

    The service runs what each of an order's five hops runs except the work itself:
    gunicorn, Django's middleware, DRF's dispatch, the service-token check, a serializer
    and a JSON body. The client side is ``servicekit.http.PeerClient``, as the BFF and the
    saga send. Both are measured like an order level (the probe's idle baseline subtracted).
    """
    url = f"{target.urls['order']}/commands/orders"
    statuses: Counter = Counter()
    lock = threading.Lock()
    numbers = itertools.count()

    def client() -> None:
        peer = PeerClient()  # as the BFF and the saga send
        while next(numbers) < args.hop_requests:
            try:
                answer = peer.request(
                    "POST", url, json={}, headers=stats.auth(target.token), timeout=TIMEOUT
                )
                status = answer.status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            with lock:
                statuses[status] += 1

    probe = Probe(target, args)
    probe.baseline()
    log(f"hop: {args.hop_requests} refused commands from {args.hop_clients} clients")
    started = time.perf_counter()
    join_all([threading.Thread(target=client, daemon=True) for _ in range(args.hop_clients)])
    elapsed = time.perf_counter() - started
    probe.level_over()
    cpu = probe.finish(args.hop_requests, args.hop_clients)["cpu"]
    per_process = cpu["by_process_ms_per_order"]
    return {
        "requests": args.hop_requests,
        "clients": args.hop_clients,
        "per_second": round(args.hop_requests / elapsed, 1),
        "statuses": dict(statuses),
        "server_ms_per_request": per_process.get("order/web", {}).get("ms_per_order"),
        "client_ms_per_request": cpu["bench_client_ms_per_order"],
        "postgres_ms_per_request": cpu["postgres_system_backends_ms_per_order"],
    }


# --------------------------------------------------------------------------------------------
# 4. The database's single-row commit floor
# --------------------------------------------------------------------------------------------


def commit_floor(args) -> dict:
    database = live.Database(f"{SCRATCH_LABEL}_floor")
    try:
        with psycopg.connect(database.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE floor (id bigserial PRIMARY KEY, n int, at timestamptz)")
        result = {"database_server": manage_all.db_url_with_name(database.url, "")}
        for connections in (1, args.floor_connections):
            counts = [0] * connections
            deadline = time.perf_counter() + args.floor_seconds

            def insert(k: int, counts=counts, deadline=deadline) -> None:
                with psycopg.connect(database.url) as conn:
                    while time.perf_counter() < deadline:
                        conn.execute("INSERT INTO floor (n, at) VALUES (%s, now())", (k,))
                        conn.commit()
                        counts[k] += 1

            started = time.perf_counter()
            join_all([threading.Thread(target=insert, args=(k,)) for k in range(connections)])
            elapsed = time.perf_counter() - started
            result[f"commits_per_second_{connections}"] = round(sum(counts) / elapsed, 1)
            rate = result[f"commits_per_second_{connections}"]
            log(f"floor: {rate} commits/s with {connections} connection(s)")
        return result
    finally:
        with signals_blocked():
            database.drop()


# --------------------------------------------------------------------------------------------
# 5. 100 simultaneous orders for a product with stock 30
# --------------------------------------------------------------------------------------------


def burst(target, args) -> dict:
    before = product(target, MONITOR)
    available = before["available"]
    n = args.burst_orders
    outcomes = Outcomes()
    gate = threading.Barrier(n + 1, timeout=60)

    def client(i: int) -> None:
        session = requests.Session()
        gate.wait()
        started = time.perf_counter()
        status, answer = place(session, target.urls["bff"], MONITOR, i)
        outcomes.add((time.perf_counter() - started) * 1000, status, answer)

    log(f"burst: {n} simultaneous orders for the 4K Monitor, {available} available")
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    with sampler(target) as connections:
        gate.wait()  # every client is ready: let them all go at once
        started = time.perf_counter()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)
    result = outcomes.report(time.perf_counter() - started)
    result.update(connections.report())
    after = product(target, MONITOR)
    expected = min(n, available)
    result.update(
        available_before=available,
        available_after=after["available"],
        expected_confirmed=expected,
        # Never more confirmed than stock, never fewer while stock was there, and inventory
        # agrees; 5xx answers (placed nothing) are reported apart.
        correct=(
            outcomes.confirmed == expected and after["available"] == available - outcomes.confirmed
        ),
    )
    log(
        f"  confirmed {outcomes.confirmed}, cancelled {outcomes.cancelled}, "
        f"5xx {outcomes.server_errors}, available after {after['available']}"
    )
    return result


# --------------------------------------------------------------------------------------------
# 6. Rebuild speed
# --------------------------------------------------------------------------------------------


def rebuild(args, events: int) -> dict:
    service = manage_all.find_service("order")
    database = live.Database(f"{SCRATCH_LABEL}_rebuild")
    env = manage_all.service_env(
        service,
        environ={**os.environ, f"{service.env_prefix}_DATABASE_URL": database.url},
        venv_bin=live.VENV_BIN,
    )

    def manage(*argv: str, timeout: float) -> tuple[float, str]:
        started = time.perf_counter()
        done = subprocess.run(
            [str(live.VENV_BIN / "python"), "manage.py", *argv],
            cwd=live.ROOT / service.dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(argv)} failed: {done.stderr[-2000:]}")
        return time.perf_counter() - started, done.stdout

    try:
        migrate_s, _ = manage("migrate", "--noinput", timeout=300)
        started = time.perf_counter()
        consume.write_order_events(database.url, events)
        generate_s = time.perf_counter() - started
        startup_s, _ = manage("rebuild_projections", "--help", timeout=120)
        log(f"rebuild: {events} events written in {generate_s:.1f} s; rebuilding")
        seconds, output = manage(
            "rebuild_projections", "--no-progress", timeout=args.rebuild_timeout
        )
        folded = re.search(r"folded (\d+) events", output)
        # Again, as on a running system: the live tables already match the log, and what
        # holds the writers off is only the comparison (the first wrote every row).
        again_s, again = manage(
            "rebuild_projections", "--no-progress", timeout=args.rebuild_timeout
        )
        counts = database.query(
            "SELECT count(*), count(*) FILTER (WHERE status = 'CONFIRMED'), "
            "count(*) FILTER (WHERE status = 'CANCELLED') FROM orders_order"
        )[0]
        expected = consume.expected_totals(events)[:3]
        result = {
            "events": events,
            "folded": int(folded.group(1)) if folded else None,
            "seconds": round(seconds, 2),
            "events_per_s": round(events / seconds, 1),
            "startup_s": round(startup_s, 2),
            "events_per_s_after_startup": round(events / max(seconds - startup_s, 1e-6), 1),
            "migrate_s": round(migrate_s, 2),
            "generate_s": round(generate_s, 2),
            "orders": list(counts),
            "correct": tuple(counts) == expected and folded is not None,
            "writers_held_s": consume.writers_held(output),
            "again_seconds": round(again_s, 2),
            "again_writers_held_s": consume.writers_held(again),
        }
        log(
            f"  {result['events_per_s']} events/s ({seconds:.1f} s, writers held "
            f"{result['writers_held_s']} s), correct: {result['correct']}; again "
            f"{again_s:.1f} s, writers held {result['again_writers_held_s']} s"
        )
        return result
    finally:
        with signals_blocked():
            database.drop()


# --------------------------------------------------------------------------------------------
# 7. Marketing catch-up and lag (bench/consume.py), websocket push latency (bench/ws.py)
# --------------------------------------------------------------------------------------------


def marketing(args, results: dict) -> None:
    options = argparse.Namespace(
        events=args.catch_up_events,
        rate=args.lag_rate,
        seconds=args.lag_seconds,
        clients=args.lag_clients,
        lag_timeout=60.0,
        timeout=args.catch_up_timeout,
        web_workers=args.workers,
    )
    bench = consume.Bench(options)
    log(f"marketing: consume.py's services (logs in {bench.logs})")
    n = args.catch_up_events

    def catch_up() -> dict:
        return {
            "generate": bench.generate(n),
            "relay": bench.publish(n),
            "catch_up": bench.run_worker("catch_up", n),
        }

    with contextlib.redirect_stdout(sys.stderr):  # consume.py prints a JSON line per step
        try:
            attempt(results, "marketing_setup", lambda: bench.start() or {"ok": True})
            if "error" in results["marketing_setup"]:
                return
            if not args.skip_catch_up:
                attempt(results, "catch_up", catch_up)
            if not args.skip_lag:
                attempt(results, "lag", bench.lag)
        finally:
            with signals_blocked():
                bench.stop()


def push_latency(target, args) -> dict:
    backlog, waited = feed_backlog(target), 0.0
    if backlog:
        waited = wait_caught_up(target, timeout=120)
        log(f"ws: the BFF's feed was {backlog} events behind; caught up in {waited:.1f} s")
    log(f"ws: {args.ws_clients} clients, {args.ws_rate} orders/s for {args.ws_seconds} s")
    result = asyncio.run(
        ws.measure(
            target.urls["bff"],
            target.urls["inventory"],
            clients=args.ws_clients,
            rate=args.ws_rate,
            seconds=args.ws_seconds,
            service_token=target.token,
            drain_seconds=args.ws_drain,
        )
    )
    result["complete"] = result["messages"] == result["messages_expected"]
    result["feed_backlog_before"] = backlog
    result["feed_catch_up_s"] = round(waited, 2)
    log(f"  p99 {result['p99_ms']} ms, {result['messages']} of {result['messages_expected']}")
    return result


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("met" if ok else "NOT MET")


def percent(share: float | None) -> float | None:
    return None if share is None else share * 100


def fmt(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table_rows(results: dict, args) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []

    def row(name, value, goal="", ok=None):
        rows.append((name, value, goal, verdict(ok)))

    levels = results.get("orders", {})
    for c, level in levels.items():
        if "error" in level:
            row(f"orders via BFF (c={c})", f"error: {level['error']}")
            continue
        headline = int(c) == args.measure_level
        row(f"orders/s via BFF (c={c})", fmt(level["per_second"]))
        row(
            f"confirmed orders/s (c={c})",
            fmt(level["confirmed_per_second"]),
            "≥ 64" if headline else "",
            level["confirmed_per_second"] >= 64 if headline else None,
        )
        row(
            f"p50 / p95 / p99 ms (c={c})",
            " / ".join(fmt(level[k], 0) for k in ("p50_ms", "p95_ms", "p99_ms")),
            "p99 < 550" if headline else "",
            level["p99_ms"] < 550 if headline else None,
        )
        row(f"statuses (c={c})", ", ".join(f"{k}: {v}" for k, v in level["statuses"].items()))
        row(
            f"peak PG connections (c={c})",
            f"system {level['peak_system_connections']}, server "
            f"{level['peak_server_connections']} of {level['max_connections']}",
        )
    if levels and all("error" not in v for v in levels.values()):
        cancelled = sum(v["cancelled"] for v in levels.values())
        row("orders cancelled with stock available", fmt(cancelled), "0", cancelled == 0)
    cost = results.get("cost")
    if cost and "error" not in cost:
        cpu, c = cost["cpu"], cost["cpu"]["concurrency"]
        row(
            f"server CPU ms/order (c={c})",
            fmt(cpu["server_ms_per_order"], 2),
            "≤ 15",
            cpu["server_ms_per_order"] <= 15,
        )
        for role, ms in cpu["by_role_ms_per_order"].items():
            row(f"  by role: {role}", fmt(ms, 2))
        for label, v in sorted(
            cpu["by_process_ms_per_order"].items(), key=lambda kv: -kv[1]["ms_per_order"]
        ):
            if label not in ("redis", "bench client"):
                row(f"  {label}", fmt(v["ms_per_order"], 2))
        row(
            "PostgreSQL CPU ms/order (system backends)",
            fmt(cpu["postgres_system_backends_ms_per_order"], 2),
        )
        for db, ms in cpu.get("postgres_by_database_ms_per_order", {}).items():
            row(f"  {db}", fmt(ms, 2))
        row(
            "PostgreSQL CPU ms/order (its whole cluster)",
            fmt(cpu["postgres_all_ms_per_order"], 2),
        )
        row("Redis CPU ms/order", fmt(cpu["redis_ms_per_order"], 2))
        row("bench client CPU ms/order", fmt(cpu["bench_client_ms_per_order"], 2))
        row(
            "machine busy during level (share)",
            f"{fmt(percent(cpu['machine_busy_share']), 0)}% (idle before: "
            f"{fmt(percent(cpu['idle_machine_busy_share']), 0)}%)",
        )
        row("other work on machine ms/order", fmt(cpu["other_machine_ms_per_order"], 2))
        for doubt in cpu.get("warnings", ()):
            row("CPU figures doubtful", doubt)
        commits = cost.get("commits")
        if commits:
            row("commits/order", fmt(commits["per_order"], 2))
            for db, per in commits["per_order_by_database"].items():
                row(f"  {db}", fmt(per, 2))
    elif cost:
        row("CPU / commits per order", f"error: {cost['error']}")
    hop_result = results.get("hop")
    if hop_result and "error" in hop_result:
        row("one hop, no work behind it", f"error: {hop_result['error']}")
    elif hop_result:
        server, client = hop_result["server_ms_per_request"], hop_result["client_ms_per_request"]
        # An order is served five times (BFF, saga, order twice, inventory) and sent four
        # times by services (BFF to saga, saga to its three participant commands).
        row(
            "one hop, no work (a 400): CPU ms",
            f"served {fmt(server, 2)}, sent {fmt(client, 2)}; "
            f"5 served + 4 sent per order = {fmt(5 * (server or 0) + 4 * client, 1)}",
        )
    floor = results.get("floor")
    if floor and "error" not in floor:
        row("DB single-row commits/s (1 conn)", fmt(floor["commits_per_second_1"]))
        k = args.floor_connections
        row(f"DB single-row commits/s ({k} conns)", fmt(floor[f"commits_per_second_{k}"]))
        level = levels.get(str(args.measure_level))
        commits = (cost or {}).get("commits")
        if level and "error" not in level and commits:
            demand = level["per_second"] * commits["per_order"]
            floor["system_commits_per_second"] = round(demand, 1)
            row(
                f"orders/s x commits/order (c={args.measure_level})",
                f"{fmt(demand)} commits/s = {demand / floor['commits_per_second_1']:.2f} x "
                f"1-conn floor, {demand / floor[f'commits_per_second_{k}']:.2f} x {k}-conn",
            )
    elif floor:
        row("DB commit floor", f"error: {floor['error']}")
    b = results.get("burst")
    if b and "error" not in b and "skipped" not in b:
        row(
            f"burst {args.burst_orders} orders, stock {b['available_before']}",
            f"confirmed {b['confirmed']}, cancelled {b['cancelled']}, "
            f"5xx {b['server_errors']}, p99 {fmt(b['p99_ms'], 0)} ms",
            f"confirmed = {b['expected_confirmed']}",
            b["correct"],
        )
        row(
            "peak PG connections (burst)",
            f"system {b['peak_system_connections']}, server "
            f"{b['peak_server_connections']} of {b['max_connections']}",
        )
    elif b:
        row("burst", b.get("error") or b.get("skipped"))
    for r in results.get("rebuild", []):
        if "error" in r:
            row(f"rebuild ({r['events']:,} events)", f"error: {r['error']}")
            continue
        row(
            f"rebuild events/s ({r['events']:,} events)",
            f"{fmt(r['events_per_s'], 0)} ({r['seconds']} s incl. {r['startup_s']} s start; "
            f"{fmt(r['events_per_s_after_startup'], 0)}/s after; correct: {r['correct']})",
            "≥ 17,000",
            r["events_per_s"] >= 17000,
        )
        if r.get("again_writers_held_s") is not None:
            row(
                f"rebuild again: writers held ({r['events']:,} events)",
                f"{r['again_writers_held_s']} s of {r['again_seconds']} s "
                f"(the first, into empty tables: {r['writers_held_s']} s)",
            )
    catch = results.get("catch_up")
    if catch and "error" not in catch:
        row("relay events/s (table → Redis)", fmt(catch["relay"]["events_per_s"]))
        c = catch["catch_up"]
        row(
            f"marketing catch-up events/s ({c['events']:,})",
            f"{fmt(c['events_per_s'])} (steady {fmt(c.get('steady_events_per_s'))}, "
            f"consistent: {c['consistent']})",
        )
    elif catch:
        row("marketing catch-up", f"error: {catch['error']}")
    lag = results.get("lag")
    if lag and "error" not in lag:
        row(
            f"marketing lag p50 / p99 ms ({lag['rate']}/s)",
            f"{fmt(lag['lag_p50_ms'], 0)} / {fmt(lag['lag_p99_ms'], 0)}",
            "p99 < 200",
            lag["lag_p99_ms"] < 200 and not lag["never_appeared"],
        )
    elif lag:
        row("marketing lag", f"error: {lag['error']}")
    w = results.get("ws")
    if w and "error" not in w:
        row(
            f"ws push p50 / p99 ms ({w['clients']} clients)",
            f"{fmt(w['p50_ms'], 0)} / {fmt(w['p99_ms'], 0)}",
            "p99 < 100",
            w["p99_ms"] < 100,
        )
        row("ws messages delivered", f"{w['messages']:,} of {w['messages_expected']:,}")
    elif w:
        row("ws push", f"error: {w['error']}")
    return rows


def render(rows: list[tuple[str, str, str, str]]) -> str:
    header = ("measurement", "value", "goal", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = []
    for r in [header, *rows]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def correctness_failures(results: dict) -> list[str]:
    failures = []
    for name, value in results.items():
        items = value if isinstance(value, list) else [value]
        failures += [f"{name}: {v['error']}" for v in items if isinstance(v, dict) and "error" in v]
    for c, level in results.get("orders", {}).items():
        if "error" in level:
            failures.append(f"orders c={c}: {level['error']}")
        elif level["cancelled"] or not level["complete"] or level["server_errors"]:
            failures.append(f"orders c={c}: cancelled, unfinished or 5xx answers")
    if results.get("burst", {}).get("correct") is False:
        failures.append("burst: confirmed orders do not match the stock")
    if results.get("burst", {}).get("server_errors"):
        failures.append(f"burst: {results['burst']['server_errors']} answers were 5xx")
    failures += [
        f"rebuild {r['events']}: counts wrong"
        for r in results.get("rebuild", [])
        if "error" not in r and not r.get("correct")
    ]
    catch = results.get("catch_up", {})
    if catch.get("catch_up", {}).get("consistent") is False:
        failures.append("marketing catch-up: totals wrong")
    if results.get("lag", {}).get("never_appeared"):
        failures.append("marketing lag: orders never appeared")
    if results.get("ws", {}).get("complete") is False:
        failures.append("ws: messages lost")
    hop_statuses = results.get("hop", {}).get("statuses", {})
    if set(hop_statuses) - {400}:
        failures.append(f"hop: the refused command answered {hop_statuses}, not only 400")
    return failures


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------

STEPS = ("orders", "cpu", "burst", "ws", "hop", "floor", "rebuild", "catch-up", "lag")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", choices=("auto", "fresh", "running"), default="auto")
    parser.add_argument("--json", default=str(manage_all.ROOT / "var/bench/run_all.json"))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--orders", type=int, default=400, help="orders per level")
    parser.add_argument("--level-timeout", type=float, default=300.0, help="bound of a level, s")
    parser.add_argument("--measure-level", type=int, default=32, help="level for CPU, commits")
    parser.add_argument("--settle", type=float, default=11.0, help="s after a level (counters)")
    parser.add_argument("--quiet", type=float, default=10.0, help="idle baseline window, s")
    parser.add_argument(
        "--workers",
        type=int,
        default=manage_all.web_concurrency(os.environ),
        help="gunicorn workers per service of a fresh system (WEB_CONCURRENCY, default 1)",
    )
    parser.add_argument("--port-offset", type=int, default=0, help="running: manage_all's")
    stats.add_service_token(parser)
    parser.add_argument("--allow-burst", action="store_true", help="running: place the burst")
    parser.add_argument("--burst-orders", type=int, default=100)
    parser.add_argument("--hop-requests", type=int, default=2000)
    parser.add_argument("--hop-clients", type=int, default=8)
    parser.add_argument("--floor-seconds", type=float, default=5.0)
    parser.add_argument("--floor-connections", type=int, default=8)
    parser.add_argument("--rebuild-events", type=int, nargs="+", default=[100_000])
    parser.add_argument("--rebuild-timeout", type=float, default=1800.0)
    parser.add_argument("--catch-up-events", type=int, default=20_000)
    parser.add_argument("--catch-up-timeout", type=float, default=600.0)
    parser.add_argument("--lag-rate", type=float, default=100.0, help="orders/s")
    parser.add_argument("--lag-seconds", type=float, default=10.0)
    parser.add_argument("--lag-clients", type=int, default=8)
    parser.add_argument("--ws-clients", type=int, default=200)
    parser.add_argument("--ws-rate", type=float, default=5.0, help="orders/s")
    parser.add_argument("--ws-seconds", type=float, default=10.0)
    parser.add_argument("--ws-drain", type=float, default=30.0, help="wait for late messages")
    for step in STEPS:
        parser.add_argument(f"--skip-{step}", action="store_true", help=f"no {step} measurement")
    args = parser.parse_args(argv)
    if args.measure_level not in args.concurrency:
        args.measure_level = max(args.concurrency)
    return args


def attempt(results: dict, key: str, fn: Callable[[], dict]) -> None:
    """Run one measurement; an exception is recorded (and printed), the others still run."""
    try:
        results[key] = fn()
    except Exception as exc:  # a failed measurement must not cost the rest, nor the teardown
        traceback.print_exc()
        results[key] = {"error": f"{type(exc).__name__}: {exc}"[:300]}


def measure(args, results: dict) -> None:
    """Every measurement not skipped; whatever happens, everything started is stopped."""
    target = FreshTarget(args) if args.target == "fresh" else RunningTarget(args)
    try:
        target.start()
        if not args.skip_orders:
            orders(target, args, results)
        if not args.skip_burst:
            if target.fresh or args.allow_burst:
                attempt(results, "burst", lambda: burst(target, args))
            else:
                available = product(target, MONITOR)["available"]
                results["burst"] = {
                    "skipped": f"not on a running system: it would sell its {available} "
                    "4K Monitors (--allow-burst)"
                }
                log(f"burst skipped (--allow-burst): 4K Monitor has {available} available")
        if not args.skip_ws:
            attempt(results, "ws", lambda: push_latency(target, args))
        if not args.skip_hop:
            attempt(results, "hop", lambda: hop(target, args))
    finally:
        target.stop()  # a fresh system is not needed any more: free its cores
    if not args.skip_floor:
        attempt(results, "floor", lambda: commit_floor(args))
    if not args.skip_rebuild:
        results["rebuild"] = []
        for events in args.rebuild_events:
            holder: dict = {}
            attempt(holder, "r", lambda events=events: rebuild(args, events))
            results["rebuild"].append({"events": events, **holder["r"]})
    if not (args.skip_catch_up and args.skip_lag):
        marketing(args, results)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.target == "auto":
        found = running_system_answers(args.port_offset)
        args.target = "running" if found else "fresh"
        log(
            "a running manage_all.py up answers: measuring it, with real orders placed "
            "there (--target fresh for a system of its own)"
            if found
            else "no running system answers: starting a fresh one"
        )
    started = time.perf_counter()
    load_at_start = os.getloadavg()
    results: dict = {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # tear down on kill, too
    interrupted = None
    try:
        measure(args, results)
    except (KeyboardInterrupt, SystemExit) as exc:  # torn down already: report what we have
        interrupted = 130 if isinstance(exc, KeyboardInterrupt) else exc.code
        log("interrupted; everything started has been stopped")
    elapsed = time.perf_counter() - started
    rows = table_rows(results, args)
    failures = correctness_failures(results)
    report = {
        "benchmark": "run_all",
        "target": args.target,
        "arguments": vars(args),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg(),
        },
        "seconds": round(elapsed, 1),
        "interrupted": interrupted is not None,
        "results": results,
        "table": [
            dict(zip(("measurement", "value", "goal", "verdict"), r, strict=True)) for r in rows
        ],
        "correctness_failures": failures,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(render(rows))
    print(f"\n{elapsed:.0f} s{' (interrupted)' if interrupted else ''}; JSON in {path}")
    for failure in failures:
        print(f"FAILED: {failure}")
    if interrupted is not None:
        return interrupted
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
