"""Every service's OpenAPI schema is valid and generated without a warning.

A warning is how drf-spectacular says it had to guess: two operations given one id, two enums
given one name. Clients generated from the schema then get names like ``StatusF96Enum`` that
change whenever the guess does.
"""

import os
import subprocess
import sys

import pytest

import manage_all as ma


@pytest.mark.parametrize("service", ma.SERVICES, ids=lambda s: s.name)
def test_the_schema_validates_without_warnings(service, tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'schema.sqlite3'}",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn"],
        cwd=ma.ROOT / service.dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
