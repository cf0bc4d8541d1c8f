"""A command's writes go out together: fewer round trips, the same order, the same checks."""

import contextlib
import uuid
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction

from eventkit.batching import batched
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
    # the events and the stream's new version, sent with the read-model update
    assert batched_trips == round_trips() - 2
