"""The event feed over HTTP, and the race that a sequence-numbered feed loses."""

import threading
import uuid

import pytest
from django.db import connection, transaction

from eventkit import store
from eventkit.models import Event
from eventkit.tests.helpers import add, held_elsewhere, open_tally, wait_until
from eventkit.tests.testapp.domain import Tally

pytestmark = pytest.mark.django_db


def test_event_shape_is_seed_compatible(api):
    t = open_tally("shape")
    open_tally("another")
    response = api.get(f"/events/{t}")
    assert response["X-Total-Count"] == "1"
    assert response["X-Last-Position"] == api.get("/events")["X-Last-Position"]
    body = response.json()
    assert len(body) == 1
    event = body[0]
    for key in (
        "aggregate_id",
        "aggregate_type",
        "event_type",
        "event_data",
        "version",
        "created_at",
        "position",
        "metadata",
    ):
        assert key in event
    assert event["aggregate_id"] == str(t)
    assert event["aggregate_type"] == "Tally"
    assert event["event_data"] == {"name": "shape"}
    assert event["created_at"].endswith("Z") or "+" in event["created_at"]


def test_feed_pages_in_position_order_and_log_is_newest_first(api):
    t = open_tally()
    for _ in range(4):
        add(t, 1)
    head = store.head_position()
    page = api.get("/events", {"after": head - 5, "limit": 2})
    assert [e["position"] for e in page.json()] == [head - 4, head - 3]
    assert page["X-Last-Position"] == str(head)
    newest = api.get("/events", {"limit": 2}).json()
    assert [e["position"] for e in newest] == [head, head - 1]
    assert api.get("/events", {"limit": 2}).headers["X-Total-Count"] == str(head)


def test_each_event_of_the_feed_names_the_one_before_it_in_the_log(api):
    t = open_tally()
    for _ in range(3):
        add(t, 1)
    head = store.head_position()
    ids = {e.position: str(e.event_id) for e in Event.objects.all()}
    page = api.get("/events", {"after": head - 3, "limit": 2}).json()
    assert [(e["position"], e["previous_id"]) for e in page] == [
        (head - 2, ids[head - 3]),
        (head - 1, ids[head - 2]),
    ]
    assert api.get("/events", {"after": 0, "limit": 1}).json()[0]["previous_id"] == ""
    # the log for people, and a filtered feed, whose events do not follow each other
    assert "previous_id" not in api.get("/events", {"limit": 1}).json()[0]
    filtered = api.get("/events", {"event_type": "TallyAdded", "after": 0}).json()
    assert filtered and all("previous_id" not in e for e in filtered)


def test_feed_filters_by_type(api):
    t = open_tally()
    add(t, 1)
    body = api.get("/events", {"event_type": "TallyAdded", "after": 0}).json()
    assert body and {e["event_type"] for e in body} == {"TallyAdded"}


@pytest.mark.parametrize(
    "query",
    [
        {"after": "-1"},
        {"after": "x"},
        {"after": ""},
        {"limit": "0"},
        {"offset": "-3"},
        {"offset": str(2**63)},
        {"after": "3", "offset": "2"},  # offset pages the log; the feed pages by after
    ],
)
def test_bad_feed_parameters_are_400_with_json(api, query):
    response = api.get("/events", query)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_a_streams_events_are_paged_oldest_or_newest_first(api, settings):
    t = open_tally()
    for _ in range(6):
        add(t, 1)  # versions 1 (opened) to 7
    settings.EVENTKIT = {**getattr(settings, "EVENTKIT", {}), "FEED_MAX_LIMIT": 4}

    whole = api.get(f"/events/{t}")  # a long stream is cut at the feed's page size
    assert [e["version"] for e in whole.json()] == [1, 2, 3, 4]
    assert whole["X-Total-Count"] == "7"
    page = api.get(f"/events/{t}", {"limit": 2, "offset": 5})
    assert [e["version"] for e in page.json()] == [6, 7] and page["X-Total-Count"] == "7"
    newest = api.get(f"/events/{t}", {"limit": 3, "ordering": "-version"})
    assert [e["version"] for e in newest.json()] == [7, 6, 5]
    added = api.get(f"/events/{t}", {"event_type": "TallyAdded", "limit": 2})
    assert [e["version"] for e in added.json()] == [2, 3] and added["X-Total-Count"] == "6"
    beyond = api.get(f"/events/{t}", {"offset": 50})
    assert beyond.json() == [] and beyond["X-Total-Count"] == "7"


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"offset": "-1"}, {"ordering": "position"}, {"limit": "x"}]
)
def test_bad_stream_parameters_are_400_with_json(api, query):
    response = api.get(f"/events/{uuid.uuid4()}", query)
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_unknown_stream_is_an_empty_list_in_either_case(api):
    assert api.get(f"/events/{uuid.uuid4()}").json() == []
    assert api.get(f"/events/{str(uuid.uuid4()).upper()}").json() == []


@pytest.mark.parametrize(
    "bad", ["not-a-uuid", "a1111111111111111111111111111111", "a1111111-1111-1111-1111-11111"]
)
def test_a_malformed_stream_id_is_a_400_that_names_it(api, bad):
    """Found from outside: it was a 404, as for a path that names nothing, while a
    well-formed id with no events is an empty stream: the client's mistake went unsaid."""
    response = api.get(f"/events/{bad}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and list(body["errors"]) == ["aggregate_id"]


def waiting_on_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row) and row[0] == "Lock"


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="a two-connection race")
@pytest.mark.django_db(transaction=True)
def test_a_late_committing_append_is_never_skipped_by_a_reader():
    """Writer A appends first and commits last; a reader polling in between misses nothing.

    With positions from a sequence, A would hold p and B take p+1 and commit while A is still
    open; a reader would see p+1, move its cursor there, and never read p. Here positions
    are taken at commit: B gets p, and A, committing later, gets p+1.
    """
    a_id, b_id = open_tally("a"), open_tally("b")
    cursor_position = store.head_position()
    a_appended, a_may_commit = threading.Event(), threading.Event()

    def writer_a():
        with transaction.atomic():
            session = store.Session({})
            tally = session.load(Tally, a_id)
            tally.add(1)
            session.save(tally)
            a_appended.set()
            a_may_commit.wait(10)
        connection.close()

    ta = threading.Thread(target=writer_a)
    ta.start()
    assert a_appended.wait(10)
    add(b_id, 1)  # does not wait for A: no position is held before commit

    seen = [r for batch in store.iter_recorded(after=cursor_position) for r in batch]
    assert [(r.position, r.stream_id) for r in seen] == [(cursor_position + 1, b_id)]

    a_may_commit.set()
    ta.join(10)
    recorded = [r for batch in store.iter_recorded(after=seen[-1].position) for r in batch]
    assert [(r.position, r.stream_id) for r in recorded] == [(cursor_position + 2, a_id)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM eventkit_pending_event")
        assert cursor.fetchone()[0] == 0  # nothing is left behind by a commit


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="a two-connection race")
@pytest.mark.django_db(transaction=True)
def test_a_commit_waits_while_appends_are_locked_and_then_takes_the_next_positions():
    """A rebuild locks appends: a command runs up to its commit and waits there."""
    tally_id = open_tally("t")
    locked, may_unlock = threading.Event(), threading.Event()
    adder_pid, added = [], threading.Event()

    def rebuild_like():
        with transaction.atomic():
            store.lock_appends()
            locked.set()
            may_unlock.wait(10)
        connection.close()

    def adder():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            adder_pid.append(cursor.fetchone()[0])
        add(tally_id, 5)
        added.set()
        connection.close()

    start = store.head_position()
    tr = threading.Thread(target=rebuild_like)
    tr.start()
    assert locked.wait(10)
    ta = threading.Thread(target=adder)
    ta.start()
    wait_until(lambda: adder_pid and waiting_on_lock(adder_pid[0]))
    assert not added.is_set() and store.head_position() == start

    may_unlock.set()
    tr.join(10)
    ta.join(10)
    assert added.is_set()
    [batch] = store.iter_recorded(after=start)
    assert [(r.position, r.event.event_type) for r in batch] == [(start + 1, "TallyAdded")]


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="a two-connection race")
@pytest.mark.django_db(transaction=True)
def test_a_command_inside_a_callers_transaction_is_in_the_log_when_it_returns():
    tally_id = open_tally("t")
    start = store.head_position()
    with transaction.atomic():
        add(tally_id, 1)
        assert store.head_position() == start + 1  # positions taken, not waiting for commit
        add(tally_id, 2)
        assert store.head_position() == start + 2


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="a two-connection race")
@pytest.mark.django_db(transaction=True)
def test_a_transaction_that_began_first_but_appends_last_gets_the_later_position():
    a_id, b_id = open_tally("a"), open_tally("b")
    start = store.head_position()
    a_began, b_committed = threading.Event(), threading.Event()

    def writer_a():
        with transaction.atomic():
            session = store.Session({})
            tally = session.load(Tally, a_id)
            a_began.set()
            b_committed.wait(10)
            tally.add(1)
            session.save(tally)
        connection.close()

    ta = threading.Thread(target=writer_a)
    ta.start()
    assert a_began.wait(10)
    add(b_id, 1)
    assert [r.stream_id for batch in store.iter_recorded(after=start) for r in batch] == [b_id]
    b_committed.set()
    ta.join(10)
    after = [r.stream_id for batch in store.iter_recorded(after=start) for r in batch]
    assert after == [b_id, a_id]


@pytest.mark.django_db(transaction=True)
def test_the_events_of_one_command_get_consecutive_positions_in_their_order():
    tally_id = open_tally("t")
    start = store.head_position()

    def add_three(session):
        tally = session.load(Tally, tally_id)
        for amount in (1, 2, 3):
            tally.add(amount)
        session.save(tally)

    store.execute(add_three, command_type="AddThree")
    [batch] = store.iter_recorded(after=start)
    assert [(r.position, r.version, r.event.amount) for r in batch] == [
        (start + 1, 2, 1),
        (start + 2, 3, 2),
        (start + 3, 4, 3),
    ]


def test_reading_after_a_position_stays_on_the_index_of_a_log_never_analysed(api):
    """What the relay and the feed run on every commit and every page must not read the
    whole log. A table nothing has analysed (autovacuum off, or not run yet) gets default
    estimates, and ``position > %s ORDER BY position LIMIT n`` alone was planned as a scan
    and sort of every event."""
    from django.test.utils import CaptureQueriesContext

    from eventkit.relay import NEXT_EVENTS_SQL

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL planner question")
    with connection.cursor() as cursor:  # in this test's transaction: nothing analyses it
        cursor.execute(
            "INSERT INTO eventkit_event (position, event_id, stream_id, stream_type, version,"
            " event_type, schema_version, data, metadata, recorded_at)"
            " SELECT n, gen_random_uuid(), gen_random_uuid(), 'Tally', 1, 'TallyOpened', 1,"
            " jsonb_build_object('name', repeat('x', 200)), '{}', now()"
            " FROM generate_series(1, 5000) AS n"
        )
        cursor.execute("EXPLAIN " + NEXT_EVENTS_SQL, [4990, 5490])
        relay_plan = "\n".join(row[0] for row in cursor.fetchall())
    with CaptureQueriesContext(connection) as queries:
        page = api.get("/events", {"after": 4990, "limit": 1000})
    assert [e["position"] for e in page.json()] == list(range(4991, 5001))
    (feed_sql,) = [q["sql"] for q in queries if "ORDER BY" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + feed_sql)
        feed_plan = "\n".join(row[0] for row in cursor.fetchall())
    for plan in (relay_plan, feed_plan):
        assert "eventkit_event_pkey" in plan and "Seq Scan" not in plan, plan


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="lock_timeout is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_read_behind_a_lock_held_elsewhere_is_a_503_locked_once_its_wait_is_over(api):
    """Found from outside: a read waited for a LOCK TABLE from a console (or a migration, or
    a rebuild's TRUNCATE) as long as it was held, with its thread and pooled connection, and
    /health waited for a free thread. The web processes bound every wait for a lock
    (DB_LOCK_TIMEOUT_MS); the read's answer says what happened."""
    open_tally()
    with held_elsewhere("LOCK TABLE eventkit_event IN ACCESS EXCLUSIVE MODE"):
        with connection.cursor() as cursor:  # as DB_LOCK_TIMEOUT_MS sets it for a session
            cursor.execute("SET lock_timeout = 200")
        answer = api.get("/events", {"limit": 5})
        assert answer.status_code == 503 and answer.json()["code"] == "locked"
        assert answer["Retry-After"]
    assert api.get("/events", {"limit": 5}).status_code == 200  # the connection is fine
