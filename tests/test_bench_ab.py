"""bench/ab.py's parts that do not need a system: reading two runs and their difference."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))

import ab


def result(confirmed, cpu, relay, feed=1.0, postgres=None):
    """The part of run_all.py's JSON ("results") that ab.py reads."""
    by_role = {"web": cpu - relay - feed, "relay": relay, "feed": feed}
    cpu_part = {"server_ms_per_order": cpu, "by_role_ms_per_order": by_role}
    if postgres is not None:
        cpu_part["postgres_system_backends_ms_per_order"] = postgres
    level = {"confirmed_per_second": confirmed, "p99_ms": 900.0}
    return {"orders": {"16": level}, "cost": {"cpu": cpu_part}}


def test_the_difference_is_the_mean_of_b_minus_a_over_the_pairs():
    pairs = [
        {"A": result(25, 20.0, 2.0, postgres=7.0), "B": result(26, 19.0, 1.5, postgres=6.0)},
        {"A": result(27, 22.0, 3.0, postgres=8.0), "B": result(27, 20.0, 2.0, postgres=8.0)},
    ]
    headings = [heading for heading, _ in ab.COLUMNS]
    found = dict(zip(headings, ab.difference(pairs), strict=True))
    assert found["confirmed/s"] == (0.5, pytest.approx(0.5 / 26))
    assert found["CPU ms/order"] == (-1.5, pytest.approx(-1.5 / 21))
    assert found["relays"] == (-0.75, pytest.approx(-0.75 / 2.5))
    assert found["PostgreSQL"] == (-0.5, pytest.approx(-0.5 / 7.5))


def test_a_column_a_side_did_not_measure_has_no_difference():
    pairs = [{"A": result(25, 20.0, 2.0), "B": result(26, 19.0, 1.5, postgres=6.0)}]
    headings = [heading for heading, _ in ab.COLUMNS]
    assert dict(zip(headings, ab.difference(pairs), strict=True))["PostgreSQL"] is None


def test_a_sides_settings_are_added_to_the_environment():
    env = ab.environ(["RELAY_LINGER_MS=15", "EMPTY="])
    assert env["RELAY_LINGER_MS"] == "15" and env["EMPTY"] == "" and "PATH" in env
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        ab.environ(["RELAY_LINGER_MS"])
