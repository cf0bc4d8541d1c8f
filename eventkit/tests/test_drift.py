"""The database compares a table with its snapshot; Python reads back only a sample."""

import uuid
from datetime import UTC, datetime

import pytest
from django.db.backends.utils import CursorWrapper

from eventkit.drift import SAMPLE, compare, snapshot
from eventkit.tests.testapp.models import Keywords, TallyView

pytestmark = pytest.mark.django_db

AT = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@pytest.fixture
def rows_fetched(monkeypatch):
    """How many rows the code under test reads from any cursor: ``rows_fetched[0]``."""
    fetched = [0]

    def counting(name):
        def read(self, *args):
            rows = getattr(self.cursor, name)(*args)
            fetched[0] += len(rows) if isinstance(rows, list) else rows is not None
            return rows

        return read

    for name in ("fetchone", "fetchmany", "fetchall"):
        monkeypatch.setattr(CursorWrapper, name, counting(name), raising=False)
    monkeypatch.setattr(CursorWrapper, "__iter__", lambda self: pytest.fail("iterated a cursor"))
    return fetched


def tallies(n):
    ids = sorted(uuid.uuid4() for _ in range(n))
    TallyView.objects.bulk_create(
        TallyView(id=i, name=f"t{k}", total=k, updated_at=AT) for k, i in enumerate(ids)
    )
    return ids


def test_equal_tables_have_no_drift():
    tallies(3)
    snapshot(TallyView)
    drift = compare(TallyView)
    assert not drift and drift.lines() == []


def test_a_changed_a_missing_and_an_extra_row_are_each_reported():
    _, changed, dropped = tallies(3)
    snapshot(TallyView)
    # What a fold might leave: one row with another total, one row gone, one row new.
    TallyView.objects.filter(pk=changed).update(total=7)
    TallyView.objects.filter(pk=dropped).delete()
    (added,) = tallies(1)

    drift = compare(TallyView)

    assert drift.missing == [added]  # folded, not live
    assert drift.unexpected == [dropped]  # live, not folded
    assert drift.changed == [(changed, "total", 1, 7)]  # live 1, the events say 7
    assert drift.lines() == [
        f"testapp.TallyView: row {added} is missing",
        f"testapp.TallyView: row {dropped} should not exist",
        f"testapp.TallyView: row {changed} total is 1, the events say 7",
    ]


def test_values_come_back_as_the_orm_gives_them():
    (t,) = tallies(1)
    snapshot(TallyView)
    later = datetime(2026, 1, 3, tzinfo=UTC)
    TallyView.objects.filter(pk=t).update(name="renamed", updated_at=later)
    assert compare(TallyView).changed == [
        (t, "name", "t0", "renamed"),
        (t, "updated_at", AT, later),
    ]


def test_columns_named_like_sql_keywords():
    k = Keywords.objects.create(id=uuid.uuid4(), order=1, user="a")
    snapshot(Keywords)
    Keywords.objects.filter(pk=k.pk).update(order=2)
    assert compare(Keywords).changed == [(k.id, "order", 1, 2)]


def test_only_a_sample_of_the_drifting_rows_is_read_back(rows_fetched):
    """Every row drifted, yet the comparison reads a sample and three counts, and still
    says exactly how many lines it left out."""
    rows = 150
    ids = tallies(rows)
    snapshot(TallyView)
    TallyView.objects.update(total=-1)
    TallyView.objects.filter(pk=ids[0]).delete()
    (added,) = tallies(1)
    rows_fetched[0] = 0

    drift = compare(TallyView)

    assert rows_fetched[0] <= 3 + 3 * SAMPLE < rows
    assert drift.missing == [added] and drift.unexpected == [ids[0]]
    assert len(drift.changed) == SAMPLE
    lines = drift.lines()
    assert len(lines) == 21
    assert lines[-1] == f"testapp.TallyView: ... and {2 + (rows - 1) - 20} more"
