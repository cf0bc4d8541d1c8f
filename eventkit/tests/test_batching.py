"""A command's writes go out together: fewer round trips, the same order, the same checks."""

import contextlib
import uuid
from datetime import UTC, datetime

import pytest
from django.db import DataError, IntegrityError, connection, transaction

from eventkit.batching import batched
from eventkit.models import Event
from eventkit.rows import MissingRow, insert_row, select_row, update_row
from eventkit.tests.helpers import add, open_tally
from eventkit.tests.testapp.models import TallyView

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
JOINS = connection.vendor == "postgresql"  # SQLite runs the queue one statement at a time


class Sent:
    """Every execute that reaches the database (installed inside the batching wrapper)."""

    def __init__(self):
        self.sql: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        self.sql.append(sql)
        return execute(sql, params, many, context)


def row(pk, name="a", total=0) -> dict:
    return {"id": pk, "name": name, "total": total, "additions": 0, "updated_at": T0}


def test_queued_writes_go_out_with_the_next_read_which_sees_them():
    a, b = uuid.uuid4(), uuid.uuid4()
    sent = Sent()
    with transaction.atomic(), batched(), connection.execute_wrapper(sent):
        with connection.cursor() as cursor:
            insert_row(cursor, TallyView, row(a))
            insert_row(cursor, TallyView, row(b))
            update_row(cursor, TallyView, a, {"name": "b"}, {"total": 5}, must_exist=True)
        assert sent.sql == []  # nothing has gone out yet
        found = select_row(TallyView, ["name", "total"], id=a)
    assert found == {"name": "b", "total": 5}
    assert len(sent.sql) == (1 if JOINS else 4)
    if JOINS:
        assert sent.sql[0].count(";\n") == 3 and sent.sql[0].rstrip().split(";\n")[-1].startswith(
            "SELECT"
        )


def test_what_is_queued_at_the_end_of_the_block_is_sent_then():
    pk = uuid.uuid4()
    with transaction.atomic():
        with batched(), connection.cursor() as cursor:
            insert_row(cursor, TallyView, row(pk))
            update_row(cursor, TallyView, pk, {}, {"total": 2}, must_exist=True)
        assert TallyView.objects.get(pk=pk).total == 2


def test_a_failed_check_raises_when_its_statement_comes_back():
    pk = uuid.uuid4()
    with (
        pytest.raises(MissingRow, match=f"testapp.TallyView row {pk} is missing"),
        transaction.atomic(),
        batched(),
        connection.cursor() as cursor,
    ):
        update_row(cursor, TallyView, pk, {"name": "x"}, must_exist=True)
        # queued: it raises at the end of the block
    with pytest.raises(MissingRow), transaction.atomic(), batched():
        with connection.cursor() as cursor:
            update_row(cursor, TallyView, pk, {"name": "x"}, must_exist=True)
        select_row(TallyView, ["name"], id=pk)  # the read carries the queue: raises here


def test_a_database_error_in_the_queue_surfaces_and_rolls_back():
    pk = uuid.uuid4()
    TallyView.objects.create(**row(pk))
    other = uuid.uuid4()
    with (
        pytest.raises(IntegrityError),
        transaction.atomic(),
        batched(),
        connection.cursor() as cursor,
    ):
        insert_row(cursor, TallyView, row(other))
        insert_row(cursor, TallyView, row(pk))  # duplicate key
    assert not TallyView.objects.filter(pk=other).exists()


def test_rolling_back_to_a_savepoint_drops_what_was_queued_inside_it():
    kept, dropped = uuid.uuid4(), uuid.uuid4()
    with transaction.atomic(), batched():
        with connection.cursor() as cursor:
            insert_row(cursor, TallyView, row(kept))
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                insert_row(cursor, TallyView, row(dropped))
                raise RuntimeError("undo the inner block")
        except RuntimeError:
            pass
    assert TallyView.objects.filter(pk=kept).exists()
    assert not TallyView.objects.filter(pk=dropped).exists()


def test_a_savepoint_carries_the_queue_too():
    pk = uuid.uuid4()
    sent = Sent()
    with transaction.atomic(), batched(), connection.execute_wrapper(sent):
        with connection.cursor() as cursor:
            insert_row(cursor, TallyView, row(pk))
        with transaction.atomic():  # SAVEPOINT: no parameters of its own
            pass
        assert TallyView.objects.filter(pk=pk).exists()
    first = sent.sql[0].split(";\n")
    if JOINS:
        assert first[0].startswith("INSERT") and first[1].startswith("SAVEPOINT")
    else:
        assert first[0].startswith("INSERT") and sent.sql[1].startswith("SAVEPOINT")


def test_without_batching_every_statement_runs_at_once():
    pk = uuid.uuid4()
    with connection.cursor() as cursor:
        insert_row(cursor, TallyView, row(pk))
        assert update_row(cursor, TallyView, pk, {"name": "n"}, must_exist=True) == 1
        with pytest.raises(MissingRow):
            update_row(cursor, TallyView, uuid.uuid4(), {"name": "n"}, must_exist=True)
    assert TallyView.objects.get(pk=pk).name == "n"


@pytest.mark.skipif(not JOINS, reason="SQLite runs each statement in its own call")
def test_a_command_needs_fewer_round_trips(monkeypatch):
    def round_trips() -> int:
        tally = open_tally("t")
        sent = Sent()  # outside the command's batching: it sees what reaches the database
        with connection.execute_wrapper(sent):
            add(tally, 3)
        assert TallyView.objects.get(pk=tally).total == 3
        return len(sent.sql)

    batched_trips = round_trips()
    monkeypatch.setattr("eventkit.store.batched", contextlib.nullcontext)
    # the events and the stream's new version, sent with the read-model update; on
    # PostgreSQL the bound on lock waits too, with the first read
    bound = 1 if connection.vendor == "postgresql" else 0
    assert batched_trips == round_trips() - 2 - bound


def _committed_total(tally_id) -> int | None:
    """The tally's total as another connection sees it: what is committed."""
    from eventkit.relay import connect_apart

    with connect_apart() as other:
        row = other.execute("SELECT total FROM testapp_tallyview WHERE id = %s", [tally_id])
        found = row.fetchone()
    return found[0] if found else None


def _command(tally_id, amount, *, then=None, command_id=None, hook=None):
    """Add to a tally; ``then`` runs last in the command, ``hook`` on commit."""
    from eventkit import store
    from eventkit.tests.testapp.domain import Tally

    def command(session):
        tally = session.load(Tally, tally_id)
        tally.add(amount)
        session.save(tally)
        if hook:
            transaction.on_commit(hook)
        if then:
            then()
        return {"total": tally.total}

    return store.execute(
        command, command_type="AddToTally", command_id=command_id, payload={"amount": amount}
    )


@pytest.mark.skipif(not JOINS, reason="SQLite runs each statement in its own call")
@pytest.mark.django_db(transaction=True)
def test_a_commands_last_writes_go_out_with_its_commit():
    tally = open_tally("t")
    sent, hooks = Sent(), []
    with connection.execute_wrapper(sent):
        _command(tally, 3, command_id="add-3", hook=lambda: hooks.append("ran"))
    last = sent.sql[-1].split(";\n")
    assert last[-1] == "COMMIT" and last[0].startswith('INSERT INTO "eventkit_command"')
    assert _committed_total(tally) == 3 and hooks == ["ran"]
    assert connection.get_autocommit() and not connection.in_atomic_block
    assert _command(tally, 3, command_id="add-3").replayed  # the command record is there


@pytest.mark.skipif(not JOINS, reason="SQLite runs each statement in its own call")
@pytest.mark.django_db(transaction=True)
def test_a_failure_in_the_writes_sent_with_commit_rolls_all_of_it_back():
    tally = open_tally("t")

    def too_long():  # an unchecked write, queued last: it goes out with COMMIT, and fails
        with connection.cursor() as cursor:
            insert_row(cursor, TallyView, row(uuid.uuid4(), name="x" * 101))

    hooks, sent = [], Sent()
    with connection.execute_wrapper(sent), pytest.raises(DataError):
        _command(tally, 5, then=too_long, hook=lambda: hooks.append("ran"))
    assert sent.sql[-1].endswith(";\nCOMMIT")  # it did go out with COMMIT
    assert _committed_total(tally) == 0 and hooks == []
    assert not Event.objects.filter(stream_id=tally, version=2).exists()
    _command(tally, 1)  # the connection is fine afterwards
    assert _committed_total(tally) == 1


@pytest.mark.skipif(not JOINS, reason="SQLite runs each statement in its own call")
@pytest.mark.django_db(transaction=True)
def test_a_write_whose_row_count_is_checked_is_not_sent_with_commit():
    tally = open_tally("t")

    def must_exist():  # queued with a check: a failed check must still roll back
        with connection.cursor() as cursor:
            update_row(cursor, TallyView, uuid.uuid4(), {"name": "n"}, must_exist=True)

    sent = Sent()
    with connection.execute_wrapper(sent), pytest.raises(MissingRow):
        _command(tally, 5, then=must_exist)
    assert not any(sql.endswith("COMMIT") for sql in sent.sql)
    assert _committed_total(tally) == 0


@pytest.mark.skipif(not JOINS, reason="SQLite runs each statement in its own call")
def test_a_commands_id_is_looked_up_with_its_streams_lock_in_one_round_trip():
    tally = open_tally("t")
    sent = Sent()
    with connection.execute_wrapper(sent):
        first = _command(tally, 3, command_id="add-3")
    [joined] = [sql for sql in sent.sql if "eventkit_command" in sql and "SELECT" in sql]
    lock, lookup = joined.split(";\n")  # the lock first: see test_store's waiting repeat
    assert "eventkit_stream" in lock and lock.endswith("FOR UPDATE")
    assert lookup.startswith("SELECT") and "eventkit_command" in lookup
    again = _command(tally, 3, command_id="add-3")
    assert again.replayed and again.value == first.value == {"total": 3}
    assert TallyView.objects.get(pk=tally).total == 3
