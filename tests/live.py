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

    def __init__(self, name: str, database: Database, *, workers: int = 3, log_dir: Path):
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
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

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

    def start(self) -> "LiveService":
        self.manage("migrate", "--noinput")
        for seed in self.service.seed:
            self.manage(*seed[2:])  # seed entries are ("python", "manage.py", ...)
        web = next(p for p in self.service.processes if p.role == "web")
        argv = manage_all.render_argv(
            web.argv, port=self.port, workers=self.workers, venv_bin=VENV_BIN
        )
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            argv,
            cwd=self.cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
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

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            manage_all.signal_group(self.process.pid, 15)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                manage_all.signal_group(self.process.pid, 9)
                self.process.wait(5)
        if self.process:
            self._log.close()
