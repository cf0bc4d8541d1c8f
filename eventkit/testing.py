"""A pytest plugin (``-p eventkit.testing`` in pyproject's addopts): tests may wipe the log.

``eventkit_event`` refuses TRUNCATE unless the session sets ``eventkit.allow_truncate``
(migration 0008), and Django's teardown of a transactional test truncates every table. So
every PostgreSQL connection of a test process sets it as it opens, through libpq's
``PGOPTIONS``: no statement of its own, which could fail on a connection a test has just
had the server drop.
"""

import os

ALLOW_TRUNCATE = "-c eventkit.allow_truncate=on"


def pytest_configure(config) -> None:
    options = os.environ.get("PGOPTIONS", "")
    if ALLOW_TRUNCATE not in options:
        os.environ["PGOPTIONS"] = f"{options} {ALLOW_TRUNCATE}".strip()
