"""manage_all.py: the pure parts (table, environment, URLs) and a smoke test of `up`."""

import contextlib
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import manage_all as ma

ROOT = Path(ma.__file__).resolve().parent

# The ports fixed by the design brief: context -> port.
DESIGN_PORTS = {"bff": 8000, "order": 8001, "inventory": 8002, "saga": 8003, "marketing": 8004}


# --- the process table ----------------------------------------------------------------------


def test_table_lists_the_design_ports():
    assert {s.name: s.port for s in ma.SERVICES} == DESIGN_PORTS
    for service in ma.SERVICES:
        assert service.dir == f"{service.name}_service"
        assert service.env_prefix == service.name.upper()


def test_every_service_has_one_gunicorn_web_process():
    for service in ma.SERVICES:
        webs = [p for p in service.processes if p.role == "web"]
        assert len(webs) == 1, service.name
        argv = webs[0].argv
        assert argv[0] == "gunicorn"
        # The BFF serves HTTP and websockets over ASGI; the others are WSGI.
        app = "config.asgi:application" if service.name == "bff" else "config.wsgi:application"
        assert app in argv
        assert argv[argv.index("--bind") + 1] == "{host}:{port}"


def test_every_wsgi_service_bounds_how_long_a_request_may_take_to_arrive():
    # gthread reads a request with no timeout once its first byte came: a few half-sent
    # requests held every thread (servicekit/workers.py; tests/test_saga_live.py).
    for service in ma.SERVICES:
        argv = next(p for p in service.processes if p.role == "web").argv
        if service.name == "bff":
            assert "config.workers.PushWorker" in argv  # its protocol has the deadline
        else:
            assert argv[argv.index("--worker-class") + 1] == "servicekit.workers.DeadlineWorker"


def test_inventory_seeds_the_catalog():
    inventory = ma.find_service("inventory")
    assert ma.manage("seed_catalog") in inventory.seed


def test_roles_are_unique_per_service():
    for service in ma.SERVICES:
        roles = [p.role for p in service.processes]
        assert len(roles) == len(set(roles)), service.name


def test_find_service_accepts_name_or_directory():
    assert ma.find_service("order") is ma.find_service("order_service")
    with pytest.raises(SystemExit):
        ma.find_service("payments")


def test_select_services_keeps_table_order_and_existing_ones(tmp_path):
    for name in ("inventory_service", "order_service"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manage.py").touch()
    assert [s.name for s in ma.select_services(None, tmp_path)] == ["order", "inventory"]
    assert [s.name for s in ma.select_services("inventory,order", tmp_path)] == [
        "order",
        "inventory",
    ]
    with pytest.raises(SystemExit, match="saga_service"):
        ma.select_services("saga", tmp_path)


def test_import_has_no_side_effects():
    code = "import manage_all, threading, sys; sys.exit(threading.active_count() != 1)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True)
    assert result.returncode == 0, result.stderr


# --- environment of the children ------------------------------------------------------------


def test_prefixed_database_url_maps_to_the_service_database_url(tmp_path):
    environ = {
        "ORDER_DATABASE_URL": "postgres://u@db:5432/orders",
        "INVENTORY_DATABASE_URL": "postgres://u@db:5432/stock",
        "PATH": "/usr/bin",
    }
    order = ma.service_env(ma.find_service("order"), var_dir=tmp_path, environ=environ)
    stock = ma.service_env(ma.find_service("inventory"), var_dir=tmp_path, environ=environ)
    assert order["DATABASE_URL"] == "postgres://u@db:5432/orders"
    assert stock["DATABASE_URL"] == "postgres://u@db:5432/stock"


def test_database_url_defaults_to_sqlite_in_var(tmp_path):
    env = ma.service_env(ma.find_service("saga"), var_dir=tmp_path, environ={})
    assert env["DATABASE_URL"] == f"sqlite:///{tmp_path.resolve()}/saga.sqlite3"
    assert env["DATABASE_URL"].startswith("sqlite:////")  # absolute path


def test_env_names_the_service_and_passes_settings_through(tmp_path):
    environ = {"SECRET_KEY": "s3cret", "SERVICE_TOKEN": "t", "DEBUG": "false"}
    env = ma.service_env(ma.find_service("order"), var_dir=tmp_path, environ=environ)
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert (env["SECRET_KEY"], env["SERVICE_TOKEN"], env["DEBUG"]) == ("s3cret", "t", "false")


def test_redis_url_is_passed_through_or_follows_the_offset(tmp_path):
    service = ma.find_service("order")
    mine = ma.service_env(service, var_dir=tmp_path, environ={"REDIS_URL": "redis://r:1/2"})
    assert mine["REDIS_URL"] == "redis://r:1/2"
    shifted = ma.service_env(service, offset=100, var_dir=tmp_path, environ={})
    assert shifted["REDIS_URL"] == "redis://127.0.0.1:6479/0"


def test_peer_urls_at_the_design_ports(tmp_path):
    env = ma.service_env(ma.find_service("bff"), var_dir=tmp_path, environ={})
    assert env["ORDER_SERVICE_URL"] == "http://127.0.0.1:8001"
    assert env["INVENTORY_SERVICE_URL"] == "http://127.0.0.1:8002"
    assert env["SAGA_SERVICE_URL"] == "http://127.0.0.1:8003"
    assert env["MARKETING_SERVICE_URL"] == "http://127.0.0.1:8004"


def test_port_offset_moves_ports_and_peer_urls(tmp_path):
    saga = ma.find_service("saga")
    env = ma.service_env(saga, offset=20000, var_dir=tmp_path, environ={})
    assert env["ORDER_SERVICE_URL"] == "http://127.0.0.1:28001"
    assert env["INVENTORY_SERVICE_URL"] == "http://127.0.0.1:28002"
    assert ma.service_url(saga, 20000) == "http://127.0.0.1:28003"
    argv = ma.render_argv(saga.processes[0].argv, port=ma.web_port(saga, 20000), workers=2)
    assert argv[argv.index("--bind") + 1] == "127.0.0.1:28003"
    assert argv[argv.index("--workers") + 1] == "2"


def test_with_a_port_offset_websockets_are_allowed_from_the_moved_ui_and_the_dev_server(tmp_path):
    env = ma.service_env(ma.find_service("bff"), offset=100, var_dir=tmp_path, environ={})
    assert set(env["WS_ALLOWED_ORIGINS"].split(",")) == {
        "http://127.0.0.1:8100",
        "http://localhost:8100",
        "http://127.0.0.1:3000",
        "http://localhost:3000",
    }


def test_commands_run_from_the_venv(tmp_path):
    argv = ma.render_argv(ma.manage("migrate"), port=1, workers=1, venv_bin=tmp_path / "bin")
    assert argv == [str(tmp_path / "bin" / "python"), "manage.py", "migrate"]


def _venv_running(tmp_path, binary: str) -> ma.Venv:
    """A venv whose python is ``binary``, as if made with that interpreter, installed."""
    venv = ma.Venv(tmp_path / "venv")
    venv.bin.mkdir(parents=True)
    venv.python.symlink_to(binary)
    (tmp_path / "pyproject.toml").write_text("")
    venv.marker(tmp_path / "pyproject.toml").touch()
    return venv


def test_venv_python_remakes_a_venv_that_runs_another_interpreter(tmp_path, monkeypatch):
    venv = _venv_running(tmp_path, "/bin/true")
    installs = []
    monkeypatch.setattr(ma.Venv, "pip_install", lambda self, *args, **kw: installs.append(args))
    monkeypatch.setenv(ma.VENV_PYTHON, sys.executable)
    venv.ensure(ma.Output(), root=tmp_path)
    assert venv.made_with() == Path(os.path.realpath(sys.executable))
    assert installs == [("-e", ".[dev]")]


def test_a_venv_installed_from_another_checkout_is_installed_from_this_one(tmp_path, monkeypatch):
    """Found from outside: a clone given another checkout's .venv (a link) ran that
    checkout's shared packages and served its UI, the install being editable."""
    venv = _venv_running(tmp_path, sys.executable)  # installed from tmp_path
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / "pyproject.toml").write_text("")  # the same file, in another place
    installs = []
    monkeypatch.setattr(ma.Venv, "pip_install", lambda self, *args, **kw: installs.append(kw))
    monkeypatch.delenv(ma.VENV_PYTHON, raising=False)
    venv.ensure(ma.Output(), root=tmp_path)
    assert installs == []  # its own checkout: nothing to do
    venv.ensure(ma.Output(), root=clone)
    assert installs == [{"cwd": clone}]


def test_without_venv_python_an_existing_venv_is_kept(tmp_path, monkeypatch):
    venv = _venv_running(tmp_path, "/bin/true")
    monkeypatch.delenv(ma.VENV_PYTHON, raising=False)
    venv.ensure(ma.Output(), root=tmp_path)
    assert venv.made_with() == Path("/bin/true").resolve()


@pytest.mark.parametrize("command", ["/nonexistent/python3", "/bin/false", "/bin/echo"])
def test_venv_python_must_be_a_python_3_11(tmp_path, monkeypatch, command):
    venv = _venv_running(tmp_path, "/bin/true")
    monkeypatch.setenv(ma.VENV_PYTHON, command)
    with pytest.raises(SystemExit, match=f"VENV_PYTHON={command}"):
        venv.ensure(ma.Output(), root=tmp_path)
    assert venv.made_with() == Path("/bin/true").resolve()  # left as it was


def test_web_concurrency():
    assert ma.web_concurrency({}) == 1
    assert ma.web_concurrency({"WEB_CONCURRENCY": "5"}) == 5
    assert ma.web_concurrency({"WEB_CONCURRENCY": "lots"}) == 1


# --- test-suite plumbing ----------------------------------------------------------------------


def test_database_names_are_appended_to_the_test_url():
    base = "postgres://postgres@127.0.0.1:5432"
    assert ma.db_url_with_name(base, "ec_order") == f"{base}/ec_order"
    assert ma.db_url_with_name(base + "/postgres?sslmode=disable", "ec_x") == (
        f"{base}/ec_x?sslmode=disable"
    )


def test_pgserver_socket_uri_keeps_the_socket_in_the_query():
    base = ma.socket_uri_to_base("postgresql://postgres:@/postgres?host=/srv/var/pgdata")
    assert base == "postgres://postgres@/postgres?host=/srv/var/pgdata"
    assert ma.db_url_with_name(base, "ec_order") == (
        "postgres://postgres@/ec_order?host=/srv/var/pgdata"
    )


def test_pytest_suites(tmp_path):
    services = [ma.find_service("order"), ma.find_service("inventory")]
    suites = ma.pytest_suites(
        services,
        database_url="postgres://postgres@h:5432",
        redis_url="redis://h:6379",
        environ={"DJANGO_SETTINGS_MODULE": "leftover"},
        root=tmp_path,
    )
    by_name = {s.name: s for s in suites}
    assert list(by_name) == ["eventkit", "order", "inventory", "system"]
    assert by_name["eventkit"].env["DJANGO_SETTINGS_MODULE"] == "eventkit.tests.settings"
    assert by_name["eventkit"].env["DATABASE_URL"] == "postgres://postgres@h:5432/ec_eventkit"
    order = by_name["order"]
    assert order.cwd == tmp_path / "order_service"
    assert order.args == ("-c", "../pyproject.toml", "--rootdir", ".", ".")
    assert order.env["DATABASE_URL"] == "postgres://postgres@h:5432/ec_order"
    assert order.env["REDIS_URL"] == "redis://h:6379"
    assert order.env["DJANGO_SETTINGS_MODULE"] == "config.settings"
    system = by_name["system"]
    assert "DJANGO_SETTINGS_MODULE" not in system.env
    assert system.args == ("-p", "no:django", "tests")
    assert system.env["TEST_DATABASE_URL"] == "postgres://postgres@h:5432"
    assert system.env["TEST_REDIS_URL"] == "redis://h:6379"


def test_has_test_files(tmp_path):
    assert not ma.has_test_files(tmp_path)
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "test_x.py").touch()
    assert not ma.has_test_files(tmp_path)
    (tmp_path / "app" / "tests").mkdir(parents=True)
    (tmp_path / "app" / "tests" / "test_domain.py").touch()
    assert ma.has_test_files(tmp_path)


def test_backoff_doubles_to_30s_and_resets_after_a_long_run():
    backoff = ma.Backoff()
    assert [backoff.delay(0.5) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.delay(61) == 1
    assert backoff.delay(2) == 2


def test_output_prefix_is_padded_and_plain_without_a_tty():
    out = ma.Output(stream=open(os.devnull, "w"), colour=False)  # noqa: SIM115
    for label in ("order", "inventory"):
        out.register(label)
    assert out.prefix("order") == "order     |"
    coloured = ma.Output(stream=out.stream, colour=True)
    coloured.register("order")
    assert coloured.prefix("order").startswith("\033[")
    out.stream.close()


def test_output_to_a_stream_that_is_gone_is_dropped():
    """A closed terminal or a stopped `| tee`: writing must not fail, or the shutdown that
    writes "stopping ..." first would never stop the children (found in review)."""
    stream = open(os.devnull, "w")  # noqa: SIM115
    stream.close()
    out = ma.Output(stream=stream, colour=False)
    out.write("stopping ...")
    out.line("order", "still here")
    assert out.gone


def _supervisor(tmp_path, **kw) -> tuple[ma.Supervisor, list[str]]:
    lines = []

    class Lines:
        def write(self, text):
            lines.extend(text.splitlines())

        def flush(self):
            pass

    return ma.Supervisor(ma.Output(stream=Lines(), colour=False), **kw), lines


def test_a_finished_childs_group_is_never_signalled_again(tmp_path, monkeypatch):
    """Its number may since belong to another program's group, which shutdown killed
    (found in review, with a one-shot migrate's pid reused)."""
    sup, _ = _supervisor(tmp_path)
    assert sup.run_once("migrate", ["true"], tmp_path, dict(os.environ)) == 0
    signalled = []
    monkeypatch.setattr(ma, "signal_group", lambda pgid, sig: signalled.append(pgid))
    monkeypatch.setattr(ma, "group_alive", lambda pgid: True)  # as if the pid were reused
    sup.shutdown(timeout=1)
    assert signalled == []


def test_a_supervisor_that_loses_track_of_its_child_stops_it_and_starts_it_again(
    tmp_path, monkeypatch
):
    """Its thread ending on a fault of the script's own would have had the kernel stop the
    child for good (its parent thread gone), with nothing said and nobody to restart it."""
    sup, lines = _supervisor(tmp_path)
    runs, stopped = tmp_path / "runs", tmp_path / "stopped"
    script = (
        f"trap 'echo $$ >> {stopped}; exit 0' TERM; echo $$ >> {runs}; "
        "while true; do sleep 0.05; done"
    )
    wait, calls = ma.Child.wait, []

    def wait_failing_once(child, proc):
        calls.append(proc.pid)
        if len(calls) == 1:
            ma.wait_until(runs.exists, 5, 0.02)  # its trap is set
            raise RuntimeError("a fault of the supervisor's")
        return wait(child, proc)

    monkeypatch.setattr(ma.Child, "wait", wait_failing_once)
    monkeypatch.setattr(ma.Backoff, "delay", lambda self, ran: 0.01)
    sup.start("worker", ["sh", "-c", script], tmp_path, dict(os.environ))
    try:
        twice = ma.wait_until(
            lambda: runs.exists() and len(runs.read_text().split()) == 2, 15, 0.05
        )
        assert twice, (lines, runs.read_text(), stopped.exists() and stopped.read_text())
        first = runs.read_text().split()[0]
        assert stopped.read_text().split() == [first]  # the first one was stopped
        assert any("lost track of it" in line for line in lines), lines
    finally:
        sup.shutdown(timeout=5)
    assert len(stopped.read_text().split()) == 2


def test_the_embedded_redis_is_stopped_after_everything_else(tmp_path):
    """The workers' last acts use it: stopped together, every shutdown logged "Redis
    unavailable" and "catch-up incomplete" from the BFF feed and the marketing worker (found
    by a new user)."""
    sup, _ = _supervisor(tmp_path)
    stopped = tmp_path / "stopped"
    for label in ("redis", "worker"):
        # each writes its name when it gets SIGTERM, and the worker takes a moment to finish
        pause = "sleep 0.3; " if label == "worker" else ""
        trap = f"trap '{pause}echo {label} >> {stopped}; exit 0' TERM"
        ready = f"touch {tmp_path / label}.ready"  # its trap is set: SIGTERM runs it
        argv = ["sh", "-c", f"{trap}; {ready}; while true; do sleep 0.05; done"]
        sup.start(label, argv, tmp_path, dict(os.environ))
    ready = [tmp_path / "redis.ready", tmp_path / "worker.ready"]
    assert ma.wait_until(lambda: all(r.exists() for r in ready), 5, 0.05)
    sup.shutdown(timeout=5)
    assert stopped.read_text().split() == ["worker", "redis"]


def test_a_child_whose_log_cannot_be_written_is_still_heard(tmp_path):
    """A full disk under var/logs: the pipe is drained all the same, so the child neither
    blocks nor dies of SIGPIPE, and its lines still reach the console."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "chatty.log").symlink_to("/dev/full")
    sup, lines = _supervisor(tmp_path, log_dir=logs)
    argv = ["sh", "-c", "for i in 1 2 3; do echo line $i; done"]
    assert sup.run_once("chatty", argv, tmp_path, dict(os.environ)) == 0
    said = [line.split("| ", 1)[1] for line in lines if line.startswith("chatty")]
    assert said[0].startswith("cannot write") and said[1:] == ["line 1", "line 2", "line 3"]


# A supervisor in a process of its own, which the test kills: it supervises argv[1:].
SUPERVISOR_MAIN = """
import sys, threading
import manage_all as ma
ma.Supervisor(ma.Output()).start("child", sys.argv[1:], ma.Path.cwd(), dict(ma.os.environ))
threading.Event().wait()
"""

LINUX_ONLY = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="only Linux ends children with their parent"
)


@LINUX_ONLY
def test_a_child_is_sent_sigterm_when_its_supervisor_is_killed_outright(tmp_path):
    """SIGTERM, so that it stops as gracefully as on Ctrl-C; and after a restart too, which
    the child's supervising thread makes (the kernel ties the signal to the thread that
    started the process, not to the process)."""
    ran, pid_file, stopped = tmp_path / "ran", tmp_path / "pid", tmp_path / "stopped"
    script = (
        f"trap 'echo TERM > {stopped}; exit 0' TERM; "
        f"if [ ! -e {ran} ]; then touch {ran}; exit 1; fi; "  # the first run dies: restarted
        f"echo $$ > {pid_file}.new && mv {pid_file}.new {pid_file}; "
        "while true; do sleep 0.05; done"
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR_MAIN, "sh", "-c", script],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert ma.wait_until(pid_file.exists, 15, 0.05), "the child was never restarted"
        assert not stopped.exists()
        supervisor.kill()
        supervisor.wait()
        assert ma.wait_until(stopped.exists, 10, 0.05), "the child outlived its supervisor"
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
        if pid_file.exists() and not stopped.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_a_venv_whose_python_was_upgraded_under_it_is_outgrown(tmp_path):
    venv = _venv_running(tmp_path, sys.executable)
    assert venv.outgrown() is None  # says nothing of its version: left alone
    runs = "{}.{}".format(*sys.version_info[:2])
    (venv.path / "pyvenv.cfg").write_text(f"home = /usr/bin\nversion = {runs}.9\n")
    assert venv.outgrown() is None
    (venv.path / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.10.4\n")
    assert venv.outgrown() == f"made with Python 3.10, its python now runs {runs}"


def test_an_outgrown_venv_is_made_again(tmp_path, monkeypatch):
    venv = _venv_running(tmp_path, sys.executable)
    monkeypatch.delenv(ma.VENV_PYTHON, raising=False)
    monkeypatch.setattr(ma.Venv, "outgrown", lambda self: "made with Python 3.10")
    made, installs = [], []

    def make(argv, **kw):  # `python -m venv PATH`, without the minutes of a real one
        made.append(argv)
        venv.bin.mkdir(parents=True)
        venv.python.symlink_to(sys.executable)
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(ma.subprocess, "run", make)
    monkeypatch.setattr(ma.Venv, "pip_install", lambda self, *args, **kw: installs.append(args))
    venv.ensure(ma.Output(stream=open(os.devnull, "w")), root=tmp_path)  # noqa: SIM115
    assert made == [[sys.executable, "-m", "venv", str(venv.path)]]
    assert installs == [("-e", ".[dev]")]


def test_up_refuses_web_ports_already_in_use(tmp_path):
    """A second `up` beside a running one: its web processes could not bind, but its relays
    and workers would have joined the first system's Redis streams (found in review)."""
    import socket

    offset = _free_offset()
    order = ma.find_service("order")
    with socket.create_server(("127.0.0.1", order.port + offset)):
        up = ["up", "--services", "order", "--no-ui", "--port-offset", str(offset)]
        up += ["--var", str(tmp_path)]
        result = subprocess.run(
            [sys.executable, "manage_all.py", *up],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {order.port + offset} (order) already in use" in result.stdout
    assert ma.who_listens(order.port + offset) in result.stdout  # how to find what holds it
    assert not (tmp_path / "logs").exists()  # nothing started


@pytest.mark.parametrize("command", ["up", "status", "migrate"])
@pytest.mark.parametrize("offset", ["60000", "-9000"])
def test_a_port_offset_that_moves_a_port_out_of_range_is_refused_at_once(command, offset):
    """Found from outside: `up --port-offset 60000` migrated and seeded every service, then
    each web process crashed binding port 68003 and was restarted for good; `status` showed
    such ports as down."""
    with pytest.raises(SystemExit, match=r"--port-offset .* must be 1 to 65535"):
        ma.main([command, "--port-offset", offset])


@pytest.mark.parametrize("seconds", ["-1", "0", "nan", "abc"])
def test_a_health_timeout_that_is_no_time_is_refused(seconds, capsys):
    """Found from outside: `up --timeout -1` printed 'no 200 ... within -1s'."""
    with pytest.raises(SystemExit):
        ma.main(["up", "--timeout", seconds])
    assert "--timeout" in capsys.readouterr().err


def test_a_database_that_cannot_be_reached_is_one_line_not_a_traceback(tmp_path):
    """Found from outside: a wrong PostgreSQL URL printed psycopg's traceback and then the
    whole inline script as the command that failed."""
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:9/nowhere"}
    argv = ma.render_argv(ma.CREATE_DATABASE, port=0, workers=1)  # as `up` fills it in
    result = subprocess.run(
        [sys.executable, *argv[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot reach PostgreSQL at 127.0.0.1:9 to create database nowhere" in result.stderr
    assert ma.describe(ma.CREATE_DATABASE) == "create its database"


def test_cli_help_and_passthrough_guard():
    result = subprocess.run(
        [sys.executable, "manage_all.py", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0
    for command in ("up", "migrate", "seed", "status", "test"):
        assert command in result.stdout
    with pytest.raises(SystemExit):
        ma.main(["status", "--", "-k", "x"])


# --- smoke test of `up` on SQLite -------------------------------------------------------------


def _get(url: str, timeout: float = 2.0) -> tuple[int | None, bytes]:
    return ma.http_get(url, timeout=timeout)


def _listening(port: int) -> bool:
    return ma.port_open("127.0.0.1", port, timeout=0.5)


def _free_offset() -> int:
    """An offset whose web ports and Redis port are all free right now."""
    for _ in range(50):
        offset = 20000 + random.randrange(0, 3000) * 10
        ports = [s.port + offset for s in ma.SERVICES] + [ma.REDIS_PORT + offset]
        if not any(_listening(p) for p in ports):
            return offset
    pytest.fail("no free port range found")


def _start_up(tmp_path, offset: int, *options: str) -> tuple[subprocess.Popen, Callable]:
    """`manage_all.py up` on SQLite and its own Redis, in a session of its own (so that the
    test can kill everything it left), and a function that reads the end of its output."""
    env = {
        k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL") and k != "REDIS_URL"
    }
    env["WEB_CONCURRENCY"] = "1"
    log_path = tmp_path / "up.log"
    command = [sys.executable, "manage_all.py", "up", "--port-offset", str(offset)]
    command += ["--var", str(tmp_path / "var"), *options]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail() -> str:
        return log_path.read_text(errors="replace")[-4000:]

    return proc, log_tail


@pytest.mark.system
# SIGHUP: a closed terminal. The children run in sessions of their own, so it reaches only
# manage_all, which used to die of it and leave them all running (found in review).
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGHUP], ids=["SIGINT", "SIGHUP"])
def test_up_runs_seeds_and_stops_cleanly(tmp_path, stop):
    needed = [ma.find_service("order"), ma.find_service("inventory")]
    missing = [s.dir for s in needed if not ma.service_exists(s, ROOT)]
    if missing:
        pytest.skip(f"not written yet: {', '.join(f'{d}/manage.py' for d in missing)}")

    offset = _free_offset()
    proc, log_tail = _start_up(tmp_path, offset)
    order, inventory = (ma.service_url(s, offset) for s in needed)
    try:
        deadline = time.monotonic() + 120
        products = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"manage_all.py up exited early:\n{log_tail()}"
            healthy = all(_get(f"{url}/health")[0] == 200 for url in (order, inventory))
            if healthy:
                status, body = _get(f"{inventory}/queries/products")
                if status == 200:
                    products = json.loads(body)
                    if isinstance(products, list) and len(products) == 5:
                        break
            time.sleep(0.5)
        assert isinstance(products, list), f"services never became healthy:\n{log_tail()}"
        assert len(products) == 5, f"catalog not seeded: {products}\n{log_tail()}"

        proc.send_signal(stop)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"up did not stop within 20 s after {stop.name}:\n{log_tail()}")
        assert code == 0, log_tail()
        ports = [s.port + offset for s in ma.SERVICES] + [ma.REDIS_PORT + offset]
        still = [p for p in ports if _listening(p)]
        assert not still, f"still listening after shutdown: {still}\n{log_tail()}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent's pid, state, start time) of a process, from /proc; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # its name, in brackets, may hold spaces
    return int(fields[1]), fields[0], fields[19]


def _descendants(pid: int) -> set[tuple[int, str]]:
    """The processes below ``pid`` (children, theirs, ...) as (pid, start time): by the time
    a pid is looked at again, it may be another process's."""
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    table = {p: stat for p in pids if (stat := _stat(p)) is not None}
    below: set[int] = set()
    parents = {pid}
    while parents:
        parents = {p for p, (ppid, _, _) in table.items() if ppid in parents} - below
        below |= parents
    return {(p, table[p][2]) for p in below}


def _running(process: tuple[int, str]) -> bool:
    """Whether that process still runs; a zombie has ended (nobody may be left to reap it)."""
    pid, started = process
    _, state, start = _stat(pid) or (0, "X", "")
    return start == started and state not in "ZX"


def _described(pid: int) -> str:
    """A process as a failure should name it: its command line, its state, what it waits
    in, and the signals it blocks, ignores and catches (where it stopped, next time)."""
    proc = Path(f"/proc/{pid}")
    try:
        argv = proc.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
        status = dict(
            line.split(":\t", 1)
            for line in proc.joinpath("status").read_text().splitlines()
            if ":\t" in line
        )
        wchan = proc.joinpath("wchan").read_text()
    except OSError:
        return f"{pid} (gone)"
    signals = ", ".join(f"{k} {status.get(k, '?').strip()}" for k in ("SigBlk", "SigIgn", "SigCgt"))
    return f"{pid} {argv!r} state {status.get('State', '?').strip()} in {wchan}; {signals}"


@pytest.mark.system
@LINUX_ONLY
def test_up_killed_outright_leaves_no_process_behind(tmp_path):
    """`kill -KILL` of `up` left every child serving: their logs cut off, the Redis claim
    lapsed under them, and the next `up` refused their ports (found from outside)."""
    service = ma.find_service("order")
    if not ma.service_exists(service, ROOT):
        pytest.skip("not written yet: order_service/manage.py")
    offset = _free_offset()
    proc, log_tail = _start_up(tmp_path, offset, "--services", "order", "--no-ui")
    health = f"{ma.service_url(service, offset)}/health"
    started: set[tuple[int, str]] = set()

    def answered() -> bool:
        return proc.poll() is not None or _get(health)[0] == 200

    try:
        assert ma.wait_until(answered, 120, 0.5), f"order never became healthy:\n{log_tail()}"
        assert proc.poll() is None, f"manage_all.py up exited early:\n{log_tail()}"
        started = _descendants(proc.pid)
        # The embedded Redis, order's gunicorn and its worker, order's relay.
        assert len(started) >= 4, f"{started}\n{log_tail()}"

        proc.kill()
        proc.wait()
        gone = ma.wait_until(lambda: not any(_running(p) for p in started), 60, 0.1)
        left = sorted(pid for pid, start in started if _running((pid, start)))
        left = [_described(pid) for pid in left]
        assert gone, f"still running 60 s after up was killed: {left}\n{log_tail()}"
        ports = [ma.web_port(service, offset), ma.REDIS_PORT + offset]
        assert not [p for p in ports if _listening(p)], "a port is still taken"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid, start in started:  # only what this test started, and only if still running
            if _running((pid, start)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _claimable_redis() -> str:
    """A Redis database of the suite's Redis (TEST_REDIS_URL) that no other test uses."""
    base = os.environ.get("TEST_REDIS_URL", ma.DEFAULT_TEST_REDIS_URL)
    url = ma.urllib.parse.urlsplit(base)._replace(path="/15").geturl()
    if not ma.redis_answers(url):
        pytest.skip(f"no Redis at {url}")
    ma.redis_command(url, "DEL", ma.REDIS_CLAIM_KEY, ma.REDIS_CLAIM_PARTS_KEY)
    return url


def test_a_redis_database_is_held_by_one_system_at_a_time():
    url = _claimable_redis()
    try:
        assert ma.claim_redis(url, "system-a", part="a") is None
        assert ma.claim_redis(url, "system-a", part="a") is None  # renewed
        assert ma.claim_redis(url, "system-b", part="b") == "system-a"
        ttl = int(ma.redis_command(url, "TTL", ma.REDIS_CLAIM_KEY))
        assert 0 < ttl <= ma.REDIS_CLAIM_SECONDS  # it lapses if nobody renews it
        ma.release_redis(url, "system-b", part="b")  # not its claim: nothing happens
        assert ma.claim_redis(url, "system-b", part="b") == "system-a"
        ma.release_redis(url, "system-a", part="a")
        assert ma.claim_redis(url, "system-b", part="b") is None
    finally:
        ma.redis_command(url, "DEL", ma.REDIS_CLAIM_KEY, ma.REDIS_CLAIM_PARTS_KEY)


def test_a_redis_that_does_not_answer_is_said_loudly_and_started_without(tmp_path):
    """Found from outside: one plain line, then a start that looked normal, with nothing
    pushed live."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{unused.getsockname()[1]}/0"
    written = io.StringIO()
    ctx = ma.Context(services=list(ma.SERVICES), offset=0, var_dir=tmp_path, out=ma.Output(written))
    ctx.redis_url = url
    assert ma.hold_redis(ctx, "system-a", "a")  # the services wait for Redis, and say so
    assert f"!!! Redis at {url} does not answer" in written.getvalue()


def test_the_urls_printed_name_the_status_command_for_the_offset_and_an_unbuilt_ui(tmp_path):
    """Found from outside: `status` without the offset looked at the default ports and said
    every service was down; and a UI link printed with no UI built led to a placeholder."""
    written = io.StringIO()
    environ = {"FRONTEND_DIST": str(tmp_path / "dist")}  # nothing built there
    ctx = ma.Context(
        services=list(ma.SERVICES), offset=500, var_dir=tmp_path, out=ma.Output(written)
    )
    ctx.environ = environ
    ctx.redis_url = _claimable_redis()  # one that answers: nothing to remind of
    ma.print_urls(ctx)
    assert "python3 manage_all.py status --port-offset 500" in written.getvalue()
    assert "does not answer" not in written.getvalue()
    assert "the UI is not built" in written.getvalue()
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "index.html").write_text("<html></html>")
    written.truncate(0)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        ctx.redis_url = f"redis://127.0.0.1:{unused.getsockname()[1]}/0"
    ma.print_urls(ctx)
    assert "the UI is not built" not in written.getvalue()
    assert "still does not answer: nothing is pushed live" in written.getvalue()


def test_a_system_started_in_parts_holds_its_claim_until_its_last_part_stops():
    """Parts of one system started apart (`up --services`) share its claim: the first part to
    stop gave the claim back while the others still ran, so another system could take the
    database until their next renewal."""
    url = _claimable_redis()
    try:
        assert ma.claim_redis(url, "system-a", part="web") is None
        assert ma.claim_redis(url, "system-a", part="workers") is None
        ma.release_redis(url, "system-a", part="web")
        assert ma.claim_redis(url, "system-b", part="b") == "system-a"
        ma.release_redis(url, "system-a", part="workers")
        assert ma.claim_redis(url, "system-b", part="b") is None
    finally:
        ma.redis_command(url, "DEL", ma.REDIS_CLAIM_KEY, ma.REDIS_CLAIM_PARTS_KEY)


def test_a_part_killed_outright_does_not_hold_the_claim_past_its_lapse(monkeypatch):
    url = _claimable_redis()
    monkeypatch.setattr(ma, "REDIS_CLAIM_SECONDS", 1)
    try:
        assert ma.claim_redis(url, "system-a", part="killed") is None
        deadline = time.monotonic() + 5
        # Only the living part renews; the killed one lapses after a second.
        while ma.redis_command(url, "ZSCORE", ma.REDIS_CLAIM_PARTS_KEY, "killed") is not None:
            assert time.monotonic() < deadline, "the killed part never lapsed"
            assert ma.claim_redis(url, "system-a", part="living") is None
            time.sleep(0.1)  # a renewal's pace, bounded by the deadline
        ma.release_redis(url, "system-a", part="living")
        assert ma.claim_redis(url, "system-b", part="b") is None
    finally:
        ma.redis_command(url, "DEL", ma.REDIS_CLAIM_KEY, ma.REDIS_CLAIM_PARTS_KEY)


def test_the_claim_is_renewed_from_the_moment_it_is_taken(monkeypatch, tmp_path):
    """Found in review: renewed only once every service answered, a claim lapsed while
    migrations, seeds and the UI's build ran, and a second system could take the database."""
    url = _claimable_redis()
    monkeypatch.setattr(ma, "REDIS_CLAIM_SECONDS", 1)
    ctx = ma.Context(services=list(ma.SERVICES), offset=0, var_dir=tmp_path, out=ma.Output())
    ctx.redis_url = url
    claim = ma.RedisClaim(ctx, "system-a")
    try:
        assert claim.take()
        deadline = time.monotonic() + 2.5  # well past the claim's second: renewed meanwhile
        while time.monotonic() < deadline:
            assert ma.claim_redis(url, "system-b", part="b") == "system-a"
            time.sleep(0.1)  # polling the claim, bounded by the deadline
    finally:
        claim.give_back()
    assert ma.claim_redis(url, "system-b", part="b") is None
    ma.redis_command(url, "DEL", ma.REDIS_CLAIM_KEY, ma.REDIS_CLAIM_PARTS_KEY)


@pytest.mark.system
def test_up_refuses_a_redis_database_another_system_holds(tmp_path):
    """Two systems given one REDIS_URL read each other's events as their own: phantom
    orders in marketing, phantom sagas in the UI (found from outside)."""
    url = _claimable_redis()
    try:
        assert ma.claim_redis(url, "another-system", part="x") is None
        env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
        env["REDIS_URL"] = url
        command = [sys.executable, "manage_all.py", "up", "--no-ui"]
        command += ["--port-offset", str(_free_offset()), "--var", str(tmp_path / "var")]
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "is in use by another system" in done.stdout
        assert "migrate" not in done.stdout  # refused before it touched anything
    finally:
        ma.redis_command(url, "DEL", ma.REDIS_CLAIM_KEY, ma.REDIS_CLAIM_PARTS_KEY)


def test_run_all_runs_from_a_python_outside_the_venv():
    """`python3 bench/run_all.py` must work as the README says, not only from .venv."""
    outside = Path(sys.base_prefix) / "bin" / "python3"
    if not outside.exists() or Path(sys.prefix) == Path(sys.base_prefix):
        pytest.skip("no interpreter outside a venv to try")
    result = subprocess.run(
        [str(outside), str(ma.ROOT / "bench" / "run_all.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "--target" in result.stdout
