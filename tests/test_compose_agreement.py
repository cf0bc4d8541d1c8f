"""compose.yaml and manage_all.py's process table must describe the same system.

Same services, same processes with the same commands and ports, every variable one the
code reads, each service on its own database, peers at the table's ports. A change to one
that forgets the other fails here.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import manage_all as ma

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
WORKERS = f"${{WEB_CONCURRENCY:-{ma.DEFAULT_WEB_CONCURRENCY}}}"
INFRA = {"redis"} | {f"{s.name}-db" for s in ma.SERVICES}


def variables_the_code_reads() -> set[str]:
    """Every environment variable a settings module or command reads."""
    names = set(ma.peer_urls()) | {"DATABASE_URL", "WEB_CONCURRENCY"}
    pattern = re.compile(r"""(?:env\.\w+|environ\.get|env\.get)\(\s*["']([A-Z][A-Z0-9_]+)["']""")
    sources = [*ROOT.glob("*/config/settings.py"), ROOT / "servicekit" / "settings.py"]
    sources += ROOT.glob("eventkit/management/commands/*.py")
    for path in sources:
        names |= set(pattern.findall(path.read_text()))
    return names


def test_every_process_of_the_table_is_a_compose_service_with_the_same_command():
    for service in ma.SERVICES:
        for process in service.processes:
            name = ma.process_label(service, process)
            assert name in SERVICES, f"compose.yaml has no service {name!r}"
            expected = ma.render_argv(
                process.argv, port=service.port, workers=WORKERS, host="0.0.0.0"
            )
            assert SERVICES[name]["command"] == expected, name
            assert SERVICES[name]["working_dir"] == f"/app/{service.dir}", name


def test_every_service_is_migrated_and_seeded_as_the_table_says():
    for service in ma.SERVICES:
        migrate = SERVICES[f"{service.name}-migrate"]
        assert migrate["command"] == list(ma.manage("migrate", "--noinput"))
        assert migrate["restart"] == "no"
        for seed in service.seed:
            name = f"{service.name}-{seed[2].replace('_catalog', '')}"
            assert SERVICES[name]["command"] == list(seed), name


def test_no_compose_service_the_table_does_not_know():
    known = set(INFRA)
    for service in ma.SERVICES:
        known |= {ma.process_label(service, p) for p in service.processes}
        known.add(f"{service.name}-migrate")
        known |= {f"{service.name}-{seed[2].replace('_catalog', '')}" for seed in service.seed}
    assert set(SERVICES) == known


def test_web_services_listen_and_are_checked_on_the_table_port():
    for service in ma.SERVICES:
        web = SERVICES[service.name]
        assert f"{service.port}:{service.port}" in web["ports"][0]
        assert f"127.0.0.1:{service.port}/health" in " ".join(web["healthcheck"]["test"])
    # Only the BFF is published on every interface: it is the one public entry.
    public = [n for n, s in SERVICES.items() if any(p.count(":") == 1 for p in s.get("ports", []))]
    assert public == ["bff"]


def test_every_container_has_a_healthcheck():
    for name, service in SERVICES.items():
        if service.get("restart") == "no":
            continue  # one-shot jobs: their exit status is their health
        assert "healthcheck" in service, name


def test_compose_sets_only_variables_the_code_reads():
    known = variables_the_code_reads()
    for name, service in SERVICES.items():
        if name in INFRA:
            continue
        unknown = set(service.get("environment", {})) - known
        assert not unknown, f"{name} sets {sorted(unknown)}, which nothing reads"


def test_each_service_has_its_own_database_and_finds_its_peers_at_the_table_ports():
    for service in ma.SERVICES:
        env = SERVICES[service.name]["environment"]
        assert f"@{service.name}-db:5432/{service.name}" in env["DATABASE_URL"]
        for peer in ma.SERVICES:
            key = f"{peer.env_prefix}_SERVICE_URL"
            if key in env:
                assert env[key] == f"http://{peer.name}:{peer.port}", (service.name, key)


def test_no_secret_has_a_default():
    text = (ROOT / "compose.yaml").read_text()
    for secret in ("SECRET_KEY", "SERVICE_TOKEN", "POSTGRES_PASSWORD"):
        assert re.search(rf"{secret}: \$\{{{secret}:\?", text), f"{secret} must be required"
    assert "SECRET_KEY" not in (ROOT / "Dockerfile").read_text().split("No secrets here")[0]


def compose_available() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    return probe.returncode == 0


@pytest.mark.skipif(not compose_available(), reason="no docker compose plugin on this machine")
def test_docker_compose_config_accepts_the_file():
    env = {
        "SECRET_KEY": "x",
        "SERVICE_TOKEN": "y",
        "POSTGRES_PASSWORD": "z",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "compose.yaml"), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
