"""bench/run_all.py's parts that do not need a system: the table, and finding a running one."""

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))

import run_all


def test_a_running_systems_skipped_burst_is_a_row_of_the_table():
    args = run_all.parse_args(["--target", "running"])
    reason = "not on a running system (--allow-burst)"
    results = {"burst": {"skipped": reason}}
    rows = run_all.table_rows(results, args)
    assert [tuple(r[:2]) for r in rows if r[0] == "burst"] == [("burst", reason)]
    assert run_all.correctness_failures(results) == []


def test_a_running_services_database_and_token_are_read_from_its_web_process(tmp_path):
    # A process whose command line reads as gunicorn bound to the order service's port.
    fake = tmp_path / "gunicorn"
    fake.write_text("import time\ntime.sleep(60)\n")
    url = "postgres://postgres@127.0.0.1:5432/some_order_db"
    process = subprocess.Popen(
        [sys.executable, str(fake), "config.wsgi:application", "--bind", "127.0.0.1:58001"],
        env={"DATABASE_URL": url, "SERVICE_TOKEN": "its-token"},
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until its command line is in /proc
            found = run_all.served_environ({"order": 58001, "saga": 58003})
            if found:
                break
            time.sleep(0.05)
        assert list(found) == ["order"]
        assert found["order"]["DATABASE_URL"] == url
        assert found["order"]["SERVICE_TOKEN"] == "its-token"
    finally:
        process.kill()
        process.wait()
