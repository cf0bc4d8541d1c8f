"""Appending, loading, idempotency and the append-only guarantee, on the real database."""

import threading
import time
import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from eventkit import store
from eventkit.errors import ConcurrencyError, Conflict, Rejected, StreamBusy
from eventkit.models import AppendOnlyError, CommandRecord, Event, Stream
from eventkit.tests.helpers import add, held_elsewhere, open_tally, threads_need_postgresql
from eventkit.tests.testapp.domain import Tally
from eventkit.tests.testapp.models import Keywords

pytestmark = pytest.mark.django_db


def test_append_numbers_versions_and_positions_without_holes():
    a = open_tally("a")
    b = open_tally("b")
    add(a, 1)
    add(b, 2)
    add(a, 3)
    events = list(Event.objects.order_by("position"))
    positions = [e.position for e in events]
    assert positions == list(range(positions[0], positions[0] + 5))
    assert [e.version for e in events if e.stream_id == a] == [1, 2, 3]
    assert Stream.objects.get(pk=a).version == 3


def test_a_refused_command_appends_nothing_and_keeps_positions_dense():
    t = open_tally()
    add(t, 100)
    before = store.head_position()
    with pytest.raises(Rejected):
        add(t, 1)
    add(t, 0)
    assert store.head_position() == before + 1


def test_load_uses_snapshot_and_newer_events():
    t = open_tally()
    add(t, 4)
    add(t, 5)
    stream = Stream.objects.get(pk=t)
    assert stream.snapshot == {"name": "t", "total": 9} and stream.snapshot_version == 3
    with transaction.atomic():
        tally = store.Session({}).load(Tally, t)
    assert (tally.total, tally.version) == (9, 3)


def test_stale_snapshot_schema_falls_back_to_full_fold():
    t = open_tally()
    add(t, 4)
    Stream.objects.filter(pk=t).update(snapshot={"garbage": True}, snapshot_schema=99)
    with transaction.atomic():
        tally = store.Session({}).load(Tally, t)
    assert (tally.total, tally.version) == (4, 2)


def test_command_id_applies_once_and_replays_the_outcome():
    t = open_tally()
    first = add(t, 5, command_id="add-5")
    again = add(t, 5, command_id="add-5")
    assert not first.replayed and again.replayed
    assert again.value == first.value == {"id": str(t), "total": 5}
    assert Event.objects.filter(stream_id=t).count() == 2
    assert CommandRecord.objects.get(pk="add-5").stream_id == t


def test_a_command_that_answers_nothing_is_recorded_and_replayed_as_nothing():
    """The order service's cancel of an order never created appends OrderVoided and answers
    None; keyed, that answer did not fit the log's NOT NULL column, the insert failed, and
    it was retried as a lost race and refused 409 (found from outside)."""
    t = open_tally()

    def add_and_answer_nothing(session):
        tally = session.load(Tally, t)
        tally.add(1)
        session.save(tally)
        return None

    first = store.execute(add_and_answer_nothing, command_type="AddQuietly", command_id="q-1")
    again = store.execute(add_and_answer_nothing, command_type="AddQuietly", command_id="q-1")
    assert (first.value, first.replayed, again.value, again.replayed) == (None, False, None, True)
    assert Event.objects.filter(stream_id=t).count() == 2


def test_a_broken_constraint_is_a_fault_not_a_lost_race(monkeypatch):
    """Only a unique key clash is a race another writer won; any other integrity error is a
    fault of the command, raised at once instead of retried and answered 409."""
    from django.db import IntegrityError

    t = open_tally()
    runs = []

    def breaks_a_rule(session):
        runs.append(1)
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO eventkit_command (command_id) VALUES ('x')")
        return {}

    with pytest.raises(IntegrityError):
        store.execute(breaks_a_rule, command_type="Broken")
    assert len(runs) == 1 and Event.objects.filter(stream_id=t).count() == 1


def test_a_command_that_reads_no_stream_is_looked_up_before_it_is_recorded():
    """The lookup usually rides with the first stream read; without one it runs alone."""
    runs = []

    def command(session):
        runs.append(1)
        return {"run": len(runs)}

    first = store.execute(command, command_type="Count", command_id="count-1")
    again = store.execute(command, command_type="Count", command_id="count-1")
    assert not first.replayed and again.replayed
    assert again.value == first.value == {"run": 1}


def test_a_repeat_that_fails_before_its_first_load_is_answered_from_the_log():
    """The id is looked up with the first load; a repeat that fails before it (here on a key
    its first run wrote) must still be answered, not retried into a ConcurrencyError."""
    t, key = open_tally(), uuid.uuid4()

    def command(session):
        Keywords.objects.create(id=key, order=1)
        tally = session.load(Tally, t)
        tally.add(1)
        session.save(tally)
        return {"total": tally.total}

    first = store.execute(command, command_type="KeyThenAdd", command_id="key-then-add")
    again = store.execute(command, command_type="KeyThenAdd", command_id="key-then-add")
    assert not first.replayed and again.replayed
    assert again.value == first.value == {"total": 1}


def test_a_repeat_of_a_command_that_loads_nothing_and_fails_is_answered_from_the_log():
    key = uuid.uuid4()

    def command(session):
        Keywords.objects.create(id=key, order=2)
        return {"key": str(key)}

    first = store.execute(command, command_type="Key", command_id="key-only")
    again = store.execute(command, command_type="Key", command_id="key-only")
    assert again.replayed and again.value == first.value


def test_a_command_that_catches_the_replay_is_answered_from_the_log_all_the_same():
    t = open_tally()
    runs = []

    def careless(session):
        runs.append(1)
        try:
            tally = session.load(Tally, t)
            tally.add(1)
            session.save(tally)
        except Exception:
            pass  # swallows the news that this is a repeat
        return {"runs": len(runs)}

    first = store.execute(careless, command_type="Careless", command_id="careless")
    again = store.execute(careless, command_type="Careless", command_id="careless")
    assert again.replayed and again.value == first.value == {"runs": 1}
    assert Event.objects.filter(stream_id=t).count() == 2


def test_a_repeat_recorded_under_an_earlier_payload_is_still_answered():
    t = open_tally()
    first = add(t, 5, command_id="add-old")  # fingerprinted as {"amount": 5}

    def command(session):
        raise AssertionError("a repeat must not run")

    again = store.execute(
        command,
        command_type="AddToTally",
        command_id="add-old",
        payload={"amount": 5, "tally": str(t)},  # what the command now fingerprints
        earlier_payloads=[{"amount": 5}],
    )
    assert again.replayed and again.value == first.value


def test_command_id_reused_with_another_payload_is_a_conflict():
    t = open_tally()
    add(t, 5, command_id="cmd-1")
    with pytest.raises(Conflict):
        add(t, 6, command_id="cmd-1")


def stale_loads(monkeypatch, stale_calls):
    """Make the first ``stale_calls`` loads miss the stream, as if a writer raced us."""
    calls = []
    real_load = store.Session.load

    def load(self, cls, stream_id, **kw):
        calls.append(1)
        if len(calls) <= stale_calls:
            return cls(stream_id)
        return real_load(self, cls, stream_id, **kw)

    monkeypatch.setattr(store.Session, "load", load)
    return calls


def test_a_lost_race_is_retried_and_then_succeeds(monkeypatch):
    t = open_tally()
    calls = stale_loads(monkeypatch, stale_calls=1)
    open_tally("again", tally_id=t)  # the retry sees the stream exists: nothing to do
    assert len(calls) == 2
    assert Event.objects.filter(stream_id=t).count() == 1


def test_a_race_lost_every_time_is_reported_not_raised_as_a_crash(monkeypatch):
    t = open_tally()
    calls = stale_loads(monkeypatch, stale_calls=100)
    with pytest.raises(ConcurrencyError):
        open_tally("again", tally_id=t)  # (stream, version 1) clashes on every attempt
    assert len(calls) == store.setting("APPEND_ATTEMPTS")


def test_model_refuses_update_and_delete():
    t = open_tally()
    event = Event.objects.get(stream_id=t)
    event.data = {"name": "forged"}
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        Event.objects.filter(stream_id=t).update(event_type="X")
    with pytest.raises(AppendOnlyError):
        Event.objects.filter(stream_id=t).delete()


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the trigger is PostgreSQL's")
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE eventkit_event SET event_type = 'Forged' WHERE stream_id = %s",
        "DELETE FROM eventkit_event WHERE stream_id = %s",
    ],
)
def test_database_trigger_rejects_update_and_delete(sql):
    t = open_tally()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [t])
    assert Event.objects.get(stream_id=t).event_type == "TallyOpened"


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the trigger is PostgreSQL's")
def test_database_trigger_rejects_truncate_unless_the_session_asks_for_it():
    """Found from outside: one TRUNCATE typed into the wrong psql session wiped a log. The
    test processes ask for it (eventkit.testing), for Django's teardown; psql does not."""
    t = open_tally()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SHOW eventkit.allow_truncate")
        assert cursor.fetchone() == ("on",)
        cursor.execute("SET LOCAL eventkit.allow_truncate = off")
        with pytest.raises(DatabaseError, match="TRUNCATE is not allowed"), transaction.atomic():
            cursor.execute("TRUNCATE eventkit_event")
    assert Event.objects.filter(stream_id=t).exists()


@threads_need_postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_commands_on_one_stream_all_apply_exactly():
    """Twenty threads add 1 to one tally at once: every add lands, none is lost or doubled."""
    t = open_tally()
    barrier = threading.Barrier(20)
    errors = []

    def worker():
        try:
            barrier.wait()
            add(t, 1)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with transaction.atomic():
        assert store.Session({}).load(Tally, t).total == 20
    assert list(Event.objects.filter(stream_id=t).values_list("version", flat=True)) == list(
        range(1, 22)
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_of_one_stream_makes_one_stream():
    tally_id = uuid.uuid4()
    barrier = threading.Barrier(8)
    errors = []

    def worker():
        try:
            barrier.wait()
            open_tally("same", tally_id=tally_id)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert Event.objects.filter(stream_id=tally_id).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_of_one_command_id_apply_once():
    t = open_tally()
    barrier = threading.Barrier(8)
    outcomes, errors = [], []

    def worker():
        try:
            barrier.wait()
            outcomes.append(add(t, 3, command_id=f"restock-{t}"))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sum(not o.replayed for o in outcomes) == 1
    assert {o.value["total"] for o in outcomes} == {3}
    assert Event.objects.filter(stream_id=t).count() == 2


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="waits are seen in pg_locks")
@pytest.mark.django_db(transaction=True)
def test_a_repeat_waiting_for_the_stream_lock_is_answered_from_the_log():
    """The repeat's lookup must see the first run's record once the lock is granted; had it
    looked before waiting, it would run again on the state the first run left (60 + 60 is
    over the tally's limit of 100, so the repeat would be refused instead of answered)."""
    t = open_tally()
    holding, release = threading.Event(), threading.Event()
    outcomes = {}

    def first(session):
        tally = session.load(Tally, t)
        tally.add(60)
        session.save(tally)
        holding.set()
        assert release.wait(10)
        return {"total": tally.total}

    def repeat(session):
        tally = session.load(Tally, t)
        tally.add(60)
        session.save(tally)
        return {"total": tally.total}

    def run(name, command):
        try:
            outcomes[name] = store.execute(command, command_type="Add60", command_id="add-60")
        except Exception as exc:
            outcomes[name] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=("first", first))]
    threads[0].start()
    assert holding.wait(10)
    threads.append(threading.Thread(target=run, args=("repeat", repeat)))
    threads[1].start()
    try:
        wait_for_a_lock_wait()
    finally:
        release.set()
        for thread in threads:
            thread.join(10)
    assert not outcomes["first"].replayed
    assert outcomes["repeat"].replayed, outcomes["repeat"]
    assert outcomes["repeat"].value == {"total": 60}


def wait_for_a_lock_wait(seconds: float = 10) -> None:
    """Until some backend waits for a row lock (the repeat, on the stream's row)."""
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the repeat never waited for the stream's lock")


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="lock_timeout is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_command_waits_for_a_stream_held_elsewhere_only_so_long(settings):
    """Found from outside: a transaction holding one stream's row (a product's, from a
    console) held every command for it without limit. Each kept a pooled connection while it
    waited, so commands for other streams queued behind them, and the saga cancelled orders
    for products with stock on the shelf."""
    settings.EVENTKIT = {**getattr(settings, "EVENTKIT", {}), "LOCK_WAIT_MS": 200}
    held, other = open_tally("held"), open_tally("other")
    with held_elsewhere("SELECT 1 FROM eventkit_stream WHERE stream_id = %s FOR UPDATE", [held]):
        started = time.monotonic()
        with pytest.raises(StreamBusy):
            add(held, 1, command_id="held-1")
        assert time.monotonic() - started < 5  # not until the holder let go (10 s)
        assert add(other, 1).value["total"] == 1  # other streams are not held up
    assert add(held, 1, command_id="held-1").value["total"] == 1  # nothing was recorded
