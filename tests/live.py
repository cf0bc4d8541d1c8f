"""Real service processes for system tests: a fresh PostgreSQL database, migrate, seed,
gunicorn with several workers, all started the way ``manage_all.py up`` starts them
(same process table, same environment).
"""

import os
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import requests

import manage_all

ROOT = Path(__file__).resolve().parent.parent
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", manage_all.DEFAULT_TEST_DATABASE_URL)
VENV_BIN = manage_all.VENV.bin


def _admin_dsn() -> str:
    return manage_all.db_url_with_name(TEST_DATABASE_URL, "postgres")


class Database:
    """A throwaway PostgreSQL database, dropped (with its connections) on close."""

    def __init__(self, label: str):
        self.name = f"ec_sys_{label}_{uuid.uuid4().hex[:8]}"
        self.url = manage_all.db_url_with_name(TEST_DATABASE_URL, self.name)
        with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def query(self, sql: str, params=()) -> list[tuple]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, params).fetchall()

    def drop(self) -> None:
        with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class LiveService:
    """One service of the process table, running under gunicorn on a free port."""

    def __init__(
        self,
        name: str,
        database: Database,
        *,
        workers: int = manage_all.DEFAULT_WEB_CONCURRENCY,
        log_dir: Path,
        env: dict[str, str] | None = None,
    ):
        self.service = manage_all.find_service(name)
        self.database = database
        self.workers = workers
        self.port = manage_all.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cwd = ROOT / self.service.dir
        self.env = manage_all.service_env(
            self.service,
            environ={**os.environ, f"{self.service.env_prefix}_DATABASE_URL": database.url},
            venv_bin=VENV_BIN,
        )
        self.env.update(env or {})
        self.log_dir = log_dir
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.workers_started: dict[str, subprocess.Popen] = {}

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )

    def _spawn(self, role: str) -> subprocess.Popen:
        process = next(p for p in self.service.processes if p.role == role)
        argv = manage_all.render_argv(
            process.argv, port=self.port, workers=self.workers, venv_bin=VENV_BIN
        )
        log = (self.log_dir / f"{self.service.name}-{role}.log").open("a")
        return subprocess.Popen(
            argv,
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self, *, prepare: bool = True) -> "LiveService":
        if prepare:
            self.manage("migrate", "--noinput")
            for seed in self.service.seed:
                self.manage(*seed[2:])  # seed entries are ("python", "manage.py", ...)
        self.log_path = self.log_dir / f"{self.service.name}-web.log"
        self.process = self._spawn("web")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.service.name} exited: {self.log_path.read_text()}")
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)  # polling a condition (health), bounded by the deadline
        raise RuntimeError(f"{self.service.name} not healthy in 60 s: {self.log_path.read_text()}")

    def kill(self, role: str = "web") -> None:
        """SIGKILL a process (and its workers) with no warning, as a crash would."""
        process = self.process if role == "web" else self.workers_started[role]
        manage_all.signal_group(process.pid, 9)
        process.wait(10)

    def restart(self, role: str = "web") -> None:
        if role == "web":
            self.start(prepare=False)
        else:
            self.start_worker(role)

    def start_worker(self, role: str) -> None:
        """Start another process of the service's table entry (e.g. the saga resumer)."""
        self.workers_started[role] = self._spawn(role)

    def stop(self) -> None:
        """Stop the web process (workers keep running: a restart is a web restart)."""
        _terminate(self.process)

    def stop_all(self) -> None:
        self.stop()
        for process in self.workers_started.values():
            _terminate(process)


def _terminate(process: subprocess.Popen | None) -> None:
    if process and process.poll() is None:
        manage_all.signal_group(process.pid, 15)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            manage_all.signal_group(process.pid, 9)
            process.wait(5)


class RedisServer:
    """A private redis-server on a free port: tests may FLUSHALL it without harming others."""

    def __init__(self, data_dir: Path):
        self.port = manage_all.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        binary = manage_all.redis_server_binary(manage_all.VENV, manage_all.Output())
        self.argv = manage_all.redis_server_argv(binary, self.port, data_dir)
        self._spawn()

    def _spawn(self) -> None:
        self.process = subprocess.Popen(
            self.argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not manage_all.port_open("127.0.0.1", self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)  # polling a condition (the port), bounded by the deadline

    def stop(self) -> None:
        _terminate(self.process)

    def start(self) -> None:
        """Start it again after :meth:`stop`, empty."""
        self._spawn()

    def crash_and_restart(self) -> None:
        """Kill it and start it again: without persistence, everything it held is gone."""
        manage_all.signal_group(self.process.pid, 9)
        self.process.wait(10)
        self._spawn()


SYSTEM = ("order", "inventory", "saga", "marketing", "bff")


class System:
    """Every service of the process table, with all its processes, on fresh databases and a
    private Redis: what ``manage_all.py up`` runs, on free ports."""

    def __init__(
        self,
        log_dir: Path,
        *,
        env: dict[str, str] | None = None,
        workers: int = manage_all.DEFAULT_WEB_CONCURRENCY,
    ):
        self.redis = RedisServer(log_dir)
        self.databases = {n: Database(n) for n in SYSTEM}
        self.services: dict[str, LiveService] = {}
        self.log_dir = log_dir
        self.env = {"REDIS_URL": self.redis.url, **(env or {})}
        self.workers = workers

    def __getitem__(self, name: str) -> LiveService:
        return self.services[name]

    def start(self) -> "System":
        for name in SYSTEM:
            peers = {f"{p.upper()}_SERVICE_URL": s.url for p, s in self.services.items()}
            extra = {"CONSUMER_CATCH_UP_SECONDS": "1"} if name in ("marketing", "bff") else {}
            service = LiveService(
                name,
                self.databases[name],
                log_dir=self.log_dir,
                workers=self.workers,
                env={**self.env, **peers, **extra},
            )
            if name == "bff":  # the page a browser opens the websocket from
                service.env["WS_ALLOWED_ORIGINS"] = service.url
            self.services[name] = service
            service.start()
            for process in service.service.processes:
                if process.role != "web":
                    service.start_worker(process.role)
        self._wait_for_bff_feed()
        return self

    def _wait_for_bff_feed(self) -> None:
        # The feed follows the streams from where they stand when it starts: wait for that
        # starting point, or the first orders could be placed before it is taken.
        bff = self.services["bff"]
        deadline = time.monotonic() + 60
        while bff.database.query("SELECT count(*) FROM eventkit_checkpoint") != [(2,)]:
            if time.monotonic() > deadline:
                raise RuntimeError("the BFF feed did not start")
            time.sleep(0.1)  # polling a condition, bounded by the deadline

    def stop(self) -> None:
        for service in self.services.values():
            service.stop_all()
        self.redis.stop()
        for database in self.databases.values():
            database.drop()
