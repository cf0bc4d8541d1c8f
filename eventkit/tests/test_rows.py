"""Plain-SQL rows: the same values as the ORM, and the updates the read models rely on."""

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import IntegrityError, connection, models, transaction

from eventkit.models import Event
from eventkit.rows import (
    _AS_IS,
    COPY_MIN_ROWS,
    insert_row,
    insert_rows,
    rows_query,
    select_row,
    select_rows,
    select_rows_together,
    update_row,
)
from eventkit.tests.helpers import add, open_tally
from eventkit.tests.testapp.models import Keywords, TallyView

pytestmark = pytest.mark.django_db

EVENT_FIELDS = [
    "position",
    "event_id",
    "stream_id",
    "event_type",
    "data",
    "metadata",
    "recorded_at",
]


def test_select_rows_gives_what_values_gives_for_uuids_json_and_times():
    a, b = open_tally("a"), open_tally("b")
    add(a, 2)
    add(b, 3)

    for where in ({"stream_id": a}, {"stream_id": [a, b]}, {"event_type": "TallyAdded"}):
        expected = list(
            Event.objects.filter(**where_orm(where)).order_by("-position").values(*EVENT_FIELDS)
        )
        assert select_rows(Event, EVENT_FIELDS, order_by=["-position"], **where) == expected
    assert len(select_rows(Event, ["position"], stream_id=[a, b])) == 4
    assert select_rows(Event, ["position"], stream_id=[]) == []

    row = select_row(
        Event, ["stream_id", "data", "recorded_at"], stream_id=a, event_type="TallyAdded"
    )
    assert isinstance(row["stream_id"], uuid.UUID) and row["data"] == {"amount": 2, "note": ""}
    assert row["recorded_at"].tzinfo is not None
    assert select_row(Event, ["position"], stream_id=uuid.uuid4()) is None


def test_reads_sent_together_give_what_each_gives_alone():
    a, b = open_tally("a"), open_tally("b")
    add(a, 2)
    queries = [
        rows_query(Event, EVENT_FIELDS, order_by=["position"], stream_id=a),
        rows_query(Event, ["position"], stream_id=[]),  # nothing to send: no rows
        rows_query(Event, ["event_type"], order_by=["position"], stream_id=[a, b]),
    ]
    assert queries[1] is None
    assert select_rows_together(*queries) == [
        select_rows(Event, EVENT_FIELDS, order_by=["position"], stream_id=a),
        [],
        select_rows(Event, ["event_type"], order_by=["position"], stream_id=[a, b]),
    ]
    assert select_rows_together(queries[1]) == [[]]


def where_orm(where: dict) -> dict:
    return {f"{k}__in" if isinstance(v, list) else k: v for k, v in where.items()}


def new_tally(**fields) -> uuid.UUID:
    pk = uuid.uuid4()
    row = {"id": pk, "name": "t", "total": 0, "additions": 0, "updated_at": datetime.now(UTC)}
    with connection.cursor() as cursor:
        insert_row(cursor, TallyView, row | fields)
    return pk


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_a_copy_that_fails_raises_djangos_error_as_every_other_statement_does():
    """Many rows go by COPY, past Django's cursor: its errors came out as psycopg's, and a
    connection lost mid-rebuild read as a handler failing on the events (found from
    outside)."""
    taken = new_tally()
    now = datetime.now(UTC)
    rows = [
        {"id": uuid.uuid4(), "name": "t", "total": 0, "additions": 0, "updated_at": now}
        for _ in range(COPY_MIN_ROWS)
    ]
    rows[-1]["id"] = taken
    with pytest.raises(IntegrityError), connection.cursor() as cursor:
        insert_rows(cursor, TallyView, rows)


def test_update_row_sets_adds_and_only_moves_bounds_outwards():
    noon = datetime(2026, 11, 30, 12, tzinfo=UTC)
    pk = new_tally(total=5, updated_at=noon)
    with connection.cursor() as cursor:
        changed = update_row(
            cursor,
            TallyView,
            pk,
            {"name": "renamed"},
            {"additions": 2},
            at_least={"updated_at": noon - timedelta(hours=1)},  # earlier: kept
            at_most={"total": 9},  # more: kept
        )
        assert changed == 1
        row = TallyView.objects.get(pk=pk)
        assert (row.name, row.additions, row.updated_at, row.total) == ("renamed", 2, noon, 5)

        update_row(
            cursor,
            TallyView,
            pk,
            {},
            at_least={"updated_at": noon + timedelta(hours=1)},
            at_most={"total": 3},
        )
        row = TallyView.objects.get(pk=pk)
        assert (row.updated_at, row.total) == (noon + timedelta(hours=1), 3)
        assert update_row(cursor, TallyView, uuid.uuid4(), {"name": "x"}) == 0


@pytest.mark.django_db(transaction=True)
def test_a_locking_select_holds_the_row_until_commit():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite locks the whole database instead")
    pk = new_tally()  # committed: this test runs outside a wrapping transaction
    settings = connection.settings_dict
    other = psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        dbname=settings["NAME"],
        autocommit=True,
    )
    try:
        with transaction.atomic():
            assert select_row(TallyView, ["name"], id=pk, lock=True) == {"name": "t"}
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(
                    "SELECT 1 FROM testapp_tallyview WHERE id = %s FOR UPDATE NOWAIT", [pk]
                )
        other.execute("SELECT 1 FROM testapp_tallyview WHERE id = %s FOR UPDATE NOWAIT", [pk])
    finally:
        other.close()


def test_tables_and_columns_named_like_sql_keywords():
    pk = uuid.uuid4()
    with connection.cursor() as cursor:
        insert_row(cursor, Keywords, {"id": pk, "order": 1, "user": "u"})
        update_row(cursor, Keywords, pk, {"user": "v"}, {"order": 2})
        update_row(cursor, Keywords, pk, {}, at_most={"order": 2})
    assert select_rows(Keywords, ["order", "user"], order_by=["-order"], user=["v"]) == [
        {"order": 2, "user": "v"}
    ]


def test_statements_are_planned_once_but_long_in_lists_each_time():
    from eventkit import rows

    tallies = [open_tally(f"t{i}") for i in range(rows.CACHED_IN_LIST + 4)]
    plans = rows._plans.setdefault(rows._db(), {})
    for many in (2, len(tallies), 2, len(tallies)):
        found = select_rows(TallyView, ["id", "name"], id=tallies[:many])
        assert {row["id"] for row in found} == set(tallies[:many])
    shapes = [key[3] for key in plans if key[0] == "select" and key[1] is TallyView]
    assert shapes.count((("id", 2),)) == 1  # the short list's plan, kept once
    assert (("id", len(tallies)),) not in shapes  # none for the long one


@pytest.mark.parametrize(
    "value", ["text", "", 7, -3, 0, True, False], ids=lambda v: f"{type(v).__name__}:{v!r}"
)
def test_values_passed_on_as_they_are_are_what_their_field_would_send(value):
    """rows skips get_db_prep_save() for some field classes and value types: on this
    database that call must hand those values back unchanged."""
    for field_class, as_is in _AS_IS.items():
        if type(value) is not as_is:
            continue
        field = field_class(max_length=20) if field_class is models.CharField else field_class()
        sent = field.get_db_prep_save(value, connection)
        assert (type(sent), sent) == (type(value), value), field_class.__name__
