"""A page and its count agree, also when rows are committed between the two reads."""

import threading
import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from eventkit.snapshots import read_page, snapshot
from eventkit.tests.testapp.models import TallyView

two_connections = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="a two-connection race"
)


def _tally(name: str) -> None:
    TallyView.objects.create(id=uuid.uuid4(), name=name, updated_at=timezone.now())


def _committed_elsewhere(name: str) -> None:
    """A row committed by another connection, as another request would."""

    def insert():
        try:
            _tally(name)
        finally:
            connection.close()

    writer = threading.Thread(target=insert)
    writer.start()
    writer.join(10)


class _CountAfterAnInsert(type(TallyView.objects.all())):
    """Another request commits a row just before the count is read."""

    def count(self):
        _committed_elsewhere("late")
        return super().count()


@two_connections
@pytest.mark.django_db(transaction=True)
def test_a_full_page_is_counted_in_its_own_snapshot():
    for name in "abc":
        _tally(name)
    tallies = TallyView.objects.order_by("name")
    tallies.__class__ = _CountAfterAnInsert

    rows, total = read_page(tallies, limit=2, offset=0)

    assert [row.name for row in rows] == ["a", "b"] and total == 3
    assert TallyView.objects.count() == 4  # the late row did commit


@two_connections
@pytest.mark.django_db(transaction=True)
def test_reads_in_a_snapshot_do_not_see_later_commits():
    _tally("a")
    with snapshot():
        assert TallyView.objects.count() == 1
        _committed_elsewhere("b")
        assert TallyView.objects.count() == 1
    assert TallyView.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_short_page_is_its_own_count():
    for name in "abc":
        _tally(name)
    with CaptureQueriesContext(connection) as queries:
        rows, total = read_page(TallyView.objects.order_by("name"), limit=10, offset=1)
    assert [row.name for row in rows] == ["b", "c"] and total == 3
    assert not [q for q in queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("limit", "offset", "names", "total"), [(3, 0, "abc", 3), (2, 5, "", 3)])
def test_a_page_that_may_not_end_the_list_is_counted(limit, offset, names, total):
    for name in "abc":
        _tally(name)
    rows, counted = read_page(TallyView.objects.order_by("name"), limit=limit, offset=offset)
    assert "".join(row.name for row in rows) == names and counted == total


@pytest.mark.django_db(transaction=True)
def test_an_empty_list_is_counted_without_asking():
    with CaptureQueriesContext(connection) as queries:
        assert read_page(TallyView.objects.order_by("name"), limit=5, offset=0) == ([], 0)
    assert not [q for q in queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.django_db
def test_inside_a_transaction_the_reads_join_it():
    _tally("a")
    with transaction.atomic():
        TallyView.objects.count()  # the transaction has begun: its isolation is set
        rows, total = read_page(TallyView.objects.order_by("name"), limit=1, offset=0)
    assert len(rows) == 1 and total == 1
