"""RowWrites: a batch's changes folded per row, then written once, creating rows that may be
missing and refusing to change rows that must exist."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from eventkit.projections import RowWrites
from eventkit.rows import MissingRow
from eventkit.tests.testapp.models import TallyView

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def write(rows: RowWrites) -> list:
    with connection.cursor() as cursor:
        return rows.write(cursor)


def tally(pk) -> TallyView:
    return TallyView.objects.get(pk=pk)


def test_changes_to_a_new_row_are_folded_into_its_insert():
    pk = uuid.uuid4()
    rows = RowWrites(TallyView)
    rows.new[pk] = {"id": pk, "name": "a", "total": 0, "additions": 0, "updated_at": T0}
    rows.add(pk, "total", 5)
    rows.add(pk, "additions", 1)
    rows.change(pk, name="b")
    rows.at_least(pk, updated_at=T0 + timedelta(hours=1))
    rows.at_least(pk, updated_at=T0)  # never moves back
    assert write(rows) == []
    row = tally(pk)
    assert (row.name, row.total, row.additions) == ("b", 5, 1)
    assert row.updated_at == T0 + timedelta(hours=1)


def test_an_existing_row_is_updated_in_the_database_not_read_and_rewritten():
    pk = uuid.uuid4()
    TallyView.objects.create(id=pk, name="a", total=10, additions=2, updated_at=T0)
    rows = RowWrites(TallyView)
    rows.create_if_missing(pk, name="ignored", updated_at=T0)
    rows.add(pk, "total", 5)
    rows.add(pk, "total", -1)
    rows.add(pk, "additions", 0)
    rows.at_most(pk, updated_at=T0 + timedelta(hours=1))  # later than the row: no effect
    TallyView.objects.filter(pk=pk).update(total=20)  # a change the batch never read
    assert write(rows) == []
    row = tally(pk)
    assert (row.name, row.total, row.additions, row.updated_at) == ("a", 24, 2, T0)


def test_a_missing_row_is_created_from_its_values_defaults_and_changes():
    pk = uuid.uuid4()
    rows = RowWrites(TallyView)
    rows.create_if_missing(pk, name="new")
    rows.add(pk, "total", 7)
    rows.at_most(pk, updated_at=T0 + timedelta(hours=2))
    rows.at_most(pk, updated_at=T0 + timedelta(hours=1))
    assert write(rows) == [pk]
    row = tally(pk)
    assert (row.name, row.total, row.additions) == ("new", 7, 0)
    assert row.updated_at == T0 + timedelta(hours=1)


def test_a_row_that_may_be_created_is_created_once_even_without_changes():
    pk = uuid.uuid4()
    rows = RowWrites(TallyView)
    rows.create_if_missing(pk, name="bare", updated_at=T0)
    assert write(rows) == [pk]
    assert write(rows) == []  # it exists now: found, not inserted again
    assert TallyView.objects.filter(pk=pk).count() == 1


def test_a_change_to_a_missing_row_that_may_not_be_created_raises():
    pk = uuid.uuid4()
    rows = RowWrites(TallyView)
    rows.add(pk, "total", 1)
    with pytest.raises(MissingRow, match=f"testapp.TallyView row {pk} is missing"):
        write(rows)


def test_rows_are_written_in_the_order_the_batch_touched_them():
    first, second = uuid.uuid4(), uuid.uuid4()
    for pk in (first, second):
        TallyView.objects.create(id=pk, name="x", updated_at=T0)
    rows = RowWrites(TallyView)
    rows.change(second, name="two")
    rows.add(first, "total", 1)
    rows.add(second, "total", 1)
    updated = []

    def record(execute, sql, params, many, context):
        updated.append(params[-1])  # an UPDATE's last parameter is the row's key
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        write(rows)
    key = TallyView._meta.pk
    assert updated == [key.get_db_prep_save(pk, connection) for pk in (second, first)]
