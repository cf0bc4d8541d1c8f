"""Commands on the test tally, written the way services write theirs."""

import threading
import time
import uuid
from contextlib import contextmanager

import pytest
from django.db import connection, transaction

from eventkit import store
from eventkit.tests.testapp.domain import Tally

# Django tests SQLite in memory with a shared cache, whose table locks fail a second thread
# at once ("database table is locked") instead of making it wait as a file database would.
threads_need_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite's shared-cache test database"
)


def open_tally(name="t", tally_id=None, **kw):
    tally_id = tally_id or uuid.uuid4()

    def command(session):
        tally = session.load(Tally, tally_id)
        tally.open(name)
        session.save(tally)
        return {"id": str(tally_id), "total": tally.total}

    store.execute(command, command_type="OpenTally", payload={"name": name}, **kw)
    return tally_id


def add(tally_id, amount, **kw):
    def command(session):
        tally = session.load(Tally, tally_id)
        tally.add(amount)
        session.save(tally)
        return {"id": str(tally_id), "total": tally.total}

    return store.execute(command, command_type="AddToTally", payload={"amount": amount}, **kw)


def wait_until(condition, timeout=20.0):
    """Poll ``condition`` until it holds, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)  # polling a condition, bounded by the deadline


@contextmanager
def held_elsewhere(sql: str, params=()):
    """``sql`` run in a transaction of another thread (and connection), which holds the
    locks it took until the block ends."""
    holding, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        yield
    finally:
        release.set()
        holder.join(10)
