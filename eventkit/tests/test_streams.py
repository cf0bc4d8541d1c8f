"""Relay and consumer on a real Redis: at-least-once out, exactly-once in, repair, poison.

The test app's tally events are published by the relay, consumed by a consumer as if they
came from another service (``tally-service``), and folded into ``RemoteTallyView``; the
feed the consumer repairs from is this process's own ``GET /events``, served by
pytest-django's live server.
"""

import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
import pytest
import redis
import requests
from django.db import connection
from redis.backoff import NoBackoff
from redis.retry import Retry

from eventkit.consumer import Consumer, HandlerFailed, Source
from eventkit.models import Checkpoint, DeadLetter, Event, RelayCursor
from eventkit.projections import registry
from eventkit.relay import Relay
from eventkit.sources import FeedReader
from eventkit.tests.helpers import add, open_tally, threads_need_postgresql, wait_until
from eventkit.tests.testapp.models import RemoteTallyView
from eventkit.tests.testapp.projections import (
    POISON_AMOUNT,
    REMOTE_SOURCE,
    SLOW_AMOUNT,
    TOO_BIG_AMOUNT,
    remote_tallies,
    timeouts,
)
from eventkit.wire import WireEvent, from_fields

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")


@pytest.fixture
def stream():
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    name = f"test.events.{uuid.uuid4().hex[:8]}"
    yield client, name
    client.delete(name, "deadletter.testgroup")
    client.close()


@pytest.fixture
def pipeline(stream, live_server):
    client, name = stream
    relay = Relay(client=client, stream=name, source=REMOTE_SOURCE, batch_size=100)

    def consumer(worker="w1", **kw):
        c = Consumer(
            client=client,
            group="testgroup",
            name=worker,
            sources=[Source(REMOTE_SOURCE, name, live_server.url)],
            block_ms=50,
            catch_up_seconds=3600,
            **kw,
        )
        c.member.ensure_groups()
        return c

    return client, name, relay, consumer


def drain(consumer, rounds=20):
    for _ in range(rounds):
        member = consumer.member
        if (
            consumer.poll_once() == 0
            and not member.client.xpending(member.streams[0], member.group)["pending"]
        ):
            return


def totals():
    return {r.id: (r.total, r.additions) for r in RemoteTallyView.objects.all()}


def publish_all(relay):
    while relay.publish_once():
        pass


def published_tally(relay, middle: int):
    """A tally of 1, ``middle`` and 2 (positions 2, 3 and 4), published."""
    t = open_tally()
    for amount in (1, middle, 2):
        add(t, amount)
    publish_all(relay)
    return t


def test_relay_publishes_every_event_in_order_with_its_position(pipeline):
    client, name, relay, _ = pipeline
    t = open_tally()
    add(t, 2)
    publish_all(relay)
    entries = client.xrange(name)
    assert [int(f["position"]) for _, f in entries] == [1, 2]
    assert entries[1][1]["type"] == "TallyAdded" and entries[1][1]["source"] == REMOTE_SOURCE
    # The stored JSON text is passed on as it is; what consumers decode is what was stored.
    published, stored = from_fields(entries[1][1]), Event.objects.get(position=2)
    assert (published.data, published.metadata) == (stored.data, stored.metadata)
    assert published.metadata["command_type"] and published.event_id == str(stored.event_id)
    assert published.stream_id == str(t) and published.recorded().recorded_at == stored.recorded_at
    assert RelayCursor.objects.get().position == 2
    assert relay.publish_once() == 0  # its progress is kept: nothing is sent twice
    # each names the event before it, as the log holds it, across batches too
    add(t, 3)
    publish_all(relay)
    chain = [(f["event_id"], f["previous_id"]) for _, f in client.xrange(name)]
    assert [previous for _, previous in chain] == ["", chain[0][0], chain[1][0]]


def test_a_relay_reads_once_for_the_commits_it_heard_while_lingering(pipeline, monkeypatch):
    from django.db import connection

    from eventkit import relay as relay_module

    if connection.vendor != "postgresql":
        pytest.skip("the relay is woken by LISTEN on PostgreSQL only")
    client, name, relay, _ = pipeline
    relay.linger = 0.5  # long enough for the five commits below to land meanwhile
    reads, waits = [], []
    rows_after, wait = relay._rows_after, relay_module.Wakeup.wait
    monkeypatch.setattr(
        relay, "_rows_after", lambda after: reads.append(after) or rows_after(after)
    )
    monkeypatch.setattr(
        relay_module.Wakeup, "wait", lambda *args: waits.append(wait(*args)) or waits[-1]
    )
    t = open_tally()
    stop = threading.Event()

    def run():
        try:
            relay.run(stop, poll_seconds=0.3)
        finally:
            connection.close()

    running = threading.Thread(target=run)
    running.start()
    try:
        wait_until(lambda: client.xlen(name) == 1 and waits)  # published, then waiting
        before = len(reads)
        for amount in range(1, 6):
            add(t, amount)  # five commits, five notifications
        wait_until(lambda: client.xlen(name) == 6)
        timed_out = len(waits)
        wait_until(lambda: len(waits) > timed_out and waits[-1] is False)  # idle again
        assert len(reads) - before <= 2  # not one read per commit heard
    finally:
        stop.set()
        running.join(10)


def running_worker(worker):
    """``worker.run`` in a thread for the block: yields the thread and what it raised."""
    return running_in_thread(worker.run)


def failing_once(method, failure: Exception):
    """``method`` that raises ``failure`` the first time it is called."""
    failures = iter([failure])

    def call(*args, **kwargs):
        raised = next(failures, None)
        if raised is not None:
            raise raised
        return method(*args, **kwargs)

    return call


def running_relay(relay):
    """``relay.run`` in a thread for the block: yields the thread and what it raised."""
    return running_in_thread(lambda stop: relay.run(stop, poll_seconds=0.2))


@contextmanager
def running_in_thread(run_until):
    """``run_until(stop)`` in a thread for the block, its pooled connection given back after:
    yields the thread and what it raised."""
    stop = threading.Event()
    failed = []

    def run():
        try:
            run_until(stop)
        except BaseException as exc:
            failed.append(exc)
        finally:
            connection.close()

    running = threading.Thread(target=run)
    running.start()
    try:
        yield running, failed
    finally:
        stop.set()
        running.join(10)


def test_a_relay_carries_on_after_the_database_dropped_its_connections(pipeline):
    """A failover or pg_terminate_backend: the relay waits and reconnects (its LISTEN
    connection too) instead of dying with a traceback for its supervisor to restart (found
    from outside)."""
    from django.db import connection

    from eventkit.relay import connect_apart

    if connection.vendor != "postgresql":
        pytest.skip("dropping backends is PostgreSQL's")
    client, name, relay, _ = pipeline
    t = open_tally()
    with running_relay(relay) as (running, failed):
        wait_until(lambda: client.xlen(name) == 1)
        with connection.cursor() as cursor:  # this test's own connection stays
            cursor.execute("SELECT pg_backend_pid()")
            (ours,) = cursor.fetchone()
        with connect_apart() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname ="
                " current_database() AND pid NOT IN (pg_backend_pid(), %s)",
                [ours],
            )
        add(t, 5)
        wait_until(lambda: client.xlen(name) == 2 or failed)
        assert not failed and running.is_alive()


def test_a_relay_started_while_the_database_is_down_waits_for_it(pipeline, monkeypatch):
    """Its first read of the cursor failed before its retries began, so it exited with a
    traceback (found in review); now it waits as it does for a failure later on."""
    from django.db import OperationalError

    client, name, relay, _ = pipeline
    open_tally()
    monkeypatch.setattr(
        relay, "position", failing_once(relay.position, OperationalError("connection refused"))
    )
    with running_relay(relay) as (running, failed):
        wait_until(lambda: client.xlen(name) == 1 or failed)
        assert not failed and running.is_alive()


def test_a_relay_carries_on_after_a_failure_nobody_foresaw(pipeline, monkeypatch, caplog):
    """A table not migrated yet, a fault of ours: logged with its traceback and tried
    again, where the relay used to end and leave the log unpublished (found in review)."""
    client, name, relay, _ = pipeline
    open_tally()
    monkeypatch.setattr(
        relay,
        "publish_once",
        failing_once(relay.publish_once, ValueError("a fault nobody foresaw")),
    )
    with running_relay(relay) as (running, failed):
        wait_until(lambda: client.xlen(name) == 1 or failed)
        assert not failed and running.is_alive()
    assert "publishing failed" in caplog.text and "a fault nobody foresaw" in caplog.text


def test_the_cursor_is_written_at_most_every_cursor_seconds(pipeline):
    client, name, _, _ = pipeline
    relay = Relay(client=client, stream=name, source=REMOTE_SOURCE, cursor_seconds=3600)
    t = open_tally()
    add(t, 1)
    publish_all(relay)  # the first write is due at once
    assert RelayCursor.objects.get().position == 2
    add(t, 2)
    publish_all(relay)
    assert client.xlen(name) == 3  # published ...
    assert RelayCursor.objects.get().position == 2  # ... but not yet a commit of its own
    relay.save_cursor()  # as on shutdown
    assert RelayCursor.objects.get().position == 3


def test_everything_delivered_twice_is_counted_once(pipeline):
    client, name, relay, consumer = pipeline
    t = open_tally()
    for amount in (1, 2, 3):
        add(t, amount)
    publish_all(relay)
    # As if the relay crashed before saving its cursor, and a new one started.
    RelayCursor.objects.update(position=0)
    publish_all(Relay(client=client, stream=name, source=REMOTE_SOURCE, batch_size=100))
    assert client.xlen(name) == 8
    worker = consumer()
    drain(worker)
    assert totals() == {t: (6, 3)}
    assert Checkpoint.objects.get(pk=REMOTE_SOURCE).position == 4


def test_events_lost_from_redis_are_read_from_the_feed(pipeline):
    client, name, relay, consumer = pipeline
    t = open_tally()
    add(t, 1)
    publish_all(relay)
    client.delete(name)  # Redis lost everything (FLUSHALL, restart without persistence)
    add(t, 2)
    add(t, 4)
    publish_all(relay)  # only positions 3 and 4 are in the new stream
    worker = consumer()
    drain(worker)
    assert totals() == {t: (7, 3)}


@threads_need_postgresql
def test_a_gap_is_read_from_the_feed_with_the_checkpoint_unlocked(pipeline, monkeypatch):
    """Found in review: a worker filling a gap read the feed (for up to 10 s) with the
    checkpoint row locked, and every other worker of its group waited on the lock as long.
    Another worker may now move the checkpoint meanwhile: only what follows it is applied."""
    *_, consumer = pipeline
    t = open_tally()
    for amount in (1, 2, 3, 4):
        add(t, amount)  # five events, never published: all from the feed
    slow, other = consumer("slow"), consumer("other")
    moved, during = [], []
    read = slow.feeds[REMOTE_SOURCE].between

    def meanwhile():
        try:
            moved.append(other.advance(REMOTE_SOURCE, 3))
        finally:
            connection.close()

    def slow_read(*args, **kwargs):
        if not during:
            other_worker = threading.Thread(target=meanwhile)
            other_worker.start()
            other_worker.join(5)  # while the feed is answering
            during.append(list(moved))
        return read(*args, **kwargs)

    monkeypatch.setattr(slow.feeds[REMOTE_SOURCE], "between", slow_read)
    applied = slow.advance(REMOTE_SOURCE, 5)
    wait_until(lambda: moved)
    assert during == [[3]]  # the other worker locked and moved the checkpoint meanwhile
    assert applied == 2  # 4 and 5: what follows the checkpoint it found
    assert totals() == {t: (10, 4)}
    assert Checkpoint.objects.get(pk=REMOTE_SOURCE).position == 5


def test_what_a_gap_read_brought_is_kept_when_another_worker_moved_part_way(pipeline, monkeypatch):
    """Found in review: each gap read replaced what the last one brought. With the checkpoint
    moved part-way through the first read, the worker read the rest, dropped the first part,
    read that again, dropped the rest, for ever."""
    *_, consumer = pipeline
    t = open_tally()
    for amount in range(1, 9):
        add(t, amount)  # nine events, never published: all from the feed
    slow, other = consumer("slow", batch_size=4), consumer("other")
    read = slow.feeds[REMOTE_SOURCE].between
    reads = []

    def meanwhile():
        try:
            other.advance(REMOTE_SOURCE, 2)
        finally:
            connection.close()  # the thread's pooled connection goes back

    def slow_read(first, last):
        reads.append(first)
        assert len(reads) < 10, f"reading the feed again and again: after {reads}"
        if len(reads) == 1:  # meanwhile, another worker applies 1 and 2
            other_worker = threading.Thread(target=meanwhile)
            other_worker.start()
            other_worker.join(5)
        return read(first, last)

    monkeypatch.setattr(slow.feeds[REMOTE_SOURCE], "between", slow_read)
    assert slow.advance(REMOTE_SOURCE, 9) == 7  # 3 to 9
    assert totals() == {t: (36, 8)}
    assert Checkpoint.objects.get(pk=REMOTE_SOURCE).position == 9


def test_events_never_published_are_caught_up_from_the_feed(pipeline):
    _, _, _, consumer = pipeline
    t = open_tally()
    add(t, 5)
    worker = consumer()
    assert worker.catch_up() == 2
    assert totals() == {t: (5, 1)}


def test_a_poison_event_is_dead_lettered_and_the_rest_goes_on(pipeline):
    client, _, relay, consumer = pipeline
    t = published_tally(relay, POISON_AMOUNT)
    worker = consumer(max_attempts=3, claim_idle_ms=0)
    for _ in range(10):
        worker.poll_once()
    assert totals() == {t: (3, 2)}
    letter = DeadLetter.objects.get()
    assert (letter.position, letter.event_type, letter.attempts) == (3, "TallyAdded", 3)
    assert "cannot handle" in letter.error
    assert client.xlen("deadletter.testgroup") == 1
    assert Checkpoint.objects.get(pk=REMOTE_SOURCE).position == 4


def test_a_poison_event_on_a_quiet_stream_is_retried_by_the_next_polls(pipeline):
    """Nothing new arrives after the poison event, no message is stale yet and no catch-up
    is due: the worker itself comes back to the event it failed on, one attempt per poll,
    and once it is set aside applies what waited behind it. Before, the attempts waited for
    a catch-up (5 s) or for XAUTOCLAIM (15 s), and the events behind it for another."""
    _, _, relay, consumer = pipeline
    t = published_tally(relay, POISON_AMOUNT)
    worker = consumer(max_attempts=3)  # claim_idle_ms 15 s; the fixture's catch-up: 1 hour
    for _ in range(3):
        worker.poll_once()
    assert DeadLetter.objects.get().position == 3
    assert totals() == {t: (3, 2)}
    assert Checkpoint.objects.get(pk=REMOTE_SOURCE).position == 4
    assert worker.poll_once() == 0  # nothing left to come back to


def test_a_failing_event_is_tried_once_per_poll_however_many_ways_lead_to_it(pipeline):
    """Coming back to a stalled source and a catch-up falling due in the same poll are two
    ways to the same event: one attempt, not two (found in review)."""
    _, _, relay, consumer = pipeline
    t = published_tally(relay, POISON_AMOUNT)
    worker = consumer(max_attempts=3)
    worker.catch_up_seconds = 0  # every idle poll catches up too
    for attempts in (1, 2):
        worker.poll_once()
        assert worker.attempts[(REMOTE_SOURCE, 3)] == attempts
        assert not DeadLetter.objects.exists()
    worker.poll_once()
    assert DeadLetter.objects.get().attempts == 3 and totals() == {t: (3, 2)}


def test_a_message_that_names_no_event_is_dropped_and_its_position_read_from_the_feed(
    pipeline,
):
    """Its id, not a UUID, was the event's fault: set aside, it became the checkpoint's, and
    the next look at the feed took that for a log that had started over, holding the source
    back until a rebuild; an id longer than the dead letter's column ended the worker
    instead (found in review)."""
    client, name, relay, consumer = pipeline
    t = open_tally()
    publish_all(relay)
    ((_, message),) = client.xrange(name)
    client.xadd(name, {**message, "position": "2", "event_id": "x" * 80})
    worker = consumer(max_attempts=1)
    drain(worker)
    assert not DeadLetter.objects.exists()
    assert client.xlen("deadletter.testgroup") == 1  # the message, for whoever looks
    add(t, 5)  # what the log holds at position 2
    publish_all(relay)
    drain(worker)
    assert totals() == {t: (5, 1)}


def test_messages_of_a_source_the_worker_does_not_follow_are_dropped_and_said_once(
    pipeline, caplog
):
    """Found in review: a relay's source and a worker's settings that disagree (a typo)
    dropped every live message in silence."""
    client, name, relay, consumer = pipeline
    open_tally()
    publish_all(relay)
    ((_, message),) = client.xrange(name)
    for position in ("1", "2"):
        client.xadd(name, {**message, "source": "orders-service", "position": position})
    worker = consumer()
    drain(worker)
    said = [r for r in caplog.records if "'orders-service'" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "WARNING"
    assert not client.xpending(name, "testgroup")["pending"]  # acknowledged all the same


def test_a_worker_carries_on_after_a_failure_nobody_foresaw(pipeline, monkeypatch, caplog):
    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)
    worker = consumer()
    monkeypatch.setattr(
        worker, "poll_once", failing_once(worker.poll_once, ValueError("a fault nobody foresaw"))
    )
    with running_worker(worker) as (running, _):
        wait_until(lambda: totals() == {t: (8, 3)} or not running.is_alive())
        assert running.is_alive()
    assert "poll failed" in caplog.text and "a fault nobody foresaw" in caplog.text


@threads_need_postgresql
def test_a_database_error_in_a_handler_is_retried_not_dead_lettered(pipeline):
    """A statement timeout (or a deadlock, a dropped connection) is the database failing,
    not the event: the worker waits and tries again for as long as it takes."""
    _, _, relay, consumer = pipeline
    t = published_tally(relay, SLOW_AMOUNT)
    worker = consumer(max_attempts=2, claim_idle_ms=0)
    timeouts["left"] = 4  # twice max_attempts
    try:
        with running_worker(worker):
            wait_until(lambda: totals() == {t: (1 + SLOW_AMOUNT + 2, 3)})
    finally:
        timeouts["left"] = 0
    assert totals() == {t: (1 + SLOW_AMOUNT + 2, 3)}
    assert timeouts["left"] == 0 and not DeadLetter.objects.exists()


@threads_need_postgresql
def test_a_database_error_that_would_recur_for_ever_is_the_events_fault(pipeline):
    _, _, relay, consumer = pipeline
    t = published_tally(relay, TOO_BIG_AMOUNT)
    worker = consumer(max_attempts=2, claim_idle_ms=0)
    for _ in range(6):
        worker.poll_once()
    assert totals() == {t: (3, 2)}
    letter = DeadLetter.objects.get()
    assert letter.position == 3 and "array size exceeds" in letter.error


def test_a_read_model_table_missing_is_waited_for_not_the_events_fault(pipeline):
    """A worker started before its migrations ran: every event would fail alike, and setting
    them all aside would leave the read model empty once the table is there."""
    from django.db import DatabaseError, connection

    from eventkit.tests.testapp.models import RemoteTallyView

    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)
    worker = consumer(max_attempts=2, claim_idle_ms=0)
    with connection.schema_editor() as editor:
        editor.delete_model(RemoteTallyView)
    try:
        for _ in range(4):  # twice max_attempts
            with pytest.raises(DatabaseError):
                worker.poll_once()
    finally:
        with connection.schema_editor() as editor:
            editor.create_model(RemoteTallyView)
    assert not DeadLetter.objects.exists()
    drain(worker)
    assert totals() == {t: (8, 3)} and not DeadLetter.objects.exists()


def redis_down() -> redis.Redis:
    """A client of a port where no Redis answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return redis.Redis(
            port=s.getsockname()[1], socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
        )


def test_a_worker_asked_to_stop_while_far_behind_stops_at_the_next_batch(
    pipeline, live_server, monkeypatch
):
    """Found in review: a worker far behind (here Redis is down, so it catches up from the
    feed) looked at its stop event only once it had caught up, and its supervisor killed
    it first. Each batch commits with its checkpoint: it may stop between any two."""
    _, name, _, _ = pipeline
    t = open_tally()
    for amount in range(1, 7):
        add(t, amount)  # seven events: four batches of two

    def worker():
        source = Source(REMOTE_SOURCE, name, live_server.url)
        return Consumer(
            client=redis_down(), group="testgroup", name="w1", sources=[source], batch_size=2
        )

    stopping, stop = worker(), threading.Event()
    apply_batch = stopping._apply_batch

    def then_stop(*args):
        applied = apply_batch(*args)
        stop.set()  # SIGTERM, as the first batch commits
        return applied

    monkeypatch.setattr(stopping, "_apply_batch", then_stop)
    stopping.run(stop)
    assert Checkpoint.objects.get(pk=REMOTE_SOURCE).position == 2
    assert totals() == {t: (1, 1)}
    assert worker().catch_up() == 5  # the next worker goes on from there
    assert totals() == {t: (21, 6)}


@threads_need_postgresql
def test_a_database_failure_while_redis_is_down_does_not_end_the_worker(
    pipeline, live_server, caplog
):
    """With Redis down the worker catches up from the feeds, which needs the database: when
    that fails too (here a lock it cannot get in time), it waits and tries again."""
    from django.db import connection

    _, name, _, _ = pipeline
    t = open_tally()
    add(t, 4)
    Checkpoint.objects.get_or_create(source=REMOTE_SOURCE)
    worker = Consumer(
        client=redis_down(),
        group="testgroup",
        name="w-offline",
        sources=[Source(REMOTE_SOURCE, name, live_server.url)],
    )
    stop = threading.Event()

    def run():
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '50ms'")
        try:
            worker.run(stop)
        finally:
            # the setting goes back to the pool with the connection: a later test's worker
            # would meet lock timeouts of its own
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
            connection.close()

    db = connection.settings_dict
    locker = psycopg.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or None
    )
    running = threading.Thread(target=run)
    try:
        locker.execute(
            "SELECT 1 FROM eventkit_checkpoint WHERE source = %s FOR UPDATE", [REMOTE_SOURCE]
        )
        running.start()
        wait_until(lambda: "catch-up skipped, the database failed" in caplog.text)
        assert running.is_alive()
        locker.rollback()  # the database answers again: the feed's events are applied
        wait_until(lambda: totals() == {t: (4, 1)})
        assert running.is_alive()
    finally:
        locker.close()
        stop.set()
        running.join(10)


def test_a_dead_workers_messages_are_claimed_by_another(pipeline):
    client, name, relay, consumer = pipeline
    t = open_tally()
    add(t, 3)
    publish_all(relay)
    dead = consumer("dead")
    client.xreadgroup("testgroup", "dead", {name: ">"}, count=10)  # read, then "died"
    assert dead.member.client.xpending(name, "testgroup")["pending"] == 2
    survivor = consumer("survivor", claim_idle_ms=0)
    drain(survivor)
    assert totals() == {t: (3, 1)}
    assert client.xpending(name, "testgroup")["pending"] == 0


def test_a_starting_worker_forgets_idle_consumers_that_hold_no_messages(pipeline, caplog):
    client, name, relay, consumer = pipeline
    add(open_tally(), 3)
    publish_all(relay)
    consumer("w1")  # the group
    client.xreadgroup("testgroup", "crashed", {name: ">"}, count=1)  # died holding a message
    [[_, [(handled, _)]]] = client.xreadgroup("testgroup", "restarted", {name: ">"}, count=1)
    client.xack(name, "testgroup", handled)  # handled its message, then was restarted
    client.xreadgroup("testgroup", "w1", {name: "0"})  # as if w1 had run before
    time.sleep(0.01)  # everyone has been idle for longer than forget_idle_ms
    caplog.set_level("INFO", logger="eventkit.consumer")
    consumer("w1", forget_idle_ms=1).start()
    consumers = {c["name"]: c["pending"] for c in client.xinfo_consumers(name, "testgroup")}
    assert consumers == {"crashed": 1, "w1": 0}  # its message waits for XAUTOCLAIM; not itself
    assert "forgot consumer restarted of testgroup" in caplog.text


@threads_need_postgresql
def test_two_competing_workers_over_1000_events_count_exactly(pipeline):
    _, _, relay, consumer = pipeline
    tallies = [open_tally(f"t{i}") for i in range(10)]
    for i in range(990):
        add(tallies[i % 10], 0)
    stop = threading.Event()
    workers = [consumer("a"), consumer("b")]

    def run(worker):
        try:
            worker.run(stop)  # as the worker runs: a lock timeout on the checkpoint waited out
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for th in threads:
        th.start()
    publish_all(relay)
    deadline = threading.Event()
    for _ in range(600):
        if Checkpoint.objects.filter(pk=REMOTE_SOURCE, position=1000).exists():
            break
        deadline.wait(0.05)
    stop.set()
    for th in threads:
        th.join(10)
    assert sum(additions for _, additions in totals().values()) == 990
    assert Checkpoint.objects.get(pk=REMOTE_SOURCE).position == 1000


def test_a_live_only_consumer_starts_at_the_head_instead_of_replaying_history(pipeline):
    _, _, relay, consumer = pipeline
    t = open_tally()
    add(t, 1)
    worker = consumer(start_at_head=True)
    worker.catch_up()
    assert Checkpoint.objects.get(pk=REMOTE_SOURCE).position == 2
    assert totals() == {}  # history was not replayed
    add(t, 4)
    publish_all(relay)
    drain(worker)
    assert totals() == {t: (4, 1)}


def only_news_is_applied(worker, relay, tally):
    """What ``worker`` (live-only, the tally's first event already in the stream) applies:
    nothing of the history, then what comes next."""
    drain(worker)
    assert totals() == {}  # history was not replayed as news
    add(tally, 4)
    publish_all(relay)
    drain(worker)
    assert totals() == {tally: (4, 1)}


def test_a_live_only_consumer_that_cannot_reach_a_feed_at_start_learns_its_head_later(
    pipeline, live_server, caplog
):
    """Not knowing where the head is, it must not read the streams from their beginning;
    and it must not wait for that feed either, or every other source would wait with it."""
    client, name, relay, consumer = pipeline
    t = open_tally()
    add(t, 1)
    publish_all(relay)  # history, in the stream since before the worker started
    worker = consumer(start_at_head=True)
    with socket.socket() as s:  # the feed is down when the worker starts
        s.bind(("127.0.0.1", 0))
        worker.feeds[REMOTE_SOURCE].url = f"http://127.0.0.1:{s.getsockname()[1]}"
    worker.start()  # goes on to run()
    assert "cannot learn where the tally-service feed ends yet" in caplog.text
    worker.poll_once()
    assert totals() == {} and client.xpending(name, "testgroup")["pending"] == 2
    worker.feeds[REMOTE_SOURCE].url = live_server.url  # the feed is back
    wait_until(
        lambda: (worker.poll_once(), worker._following[REMOTE_SOURCE].started)[1], timeout=10
    )
    only_news_is_applied(worker, relay, t)


def test_a_live_only_consumer_learns_the_heads_even_when_redis_is_down_at_start(pipeline):
    """consume_events goes on to run() when start() meets Redis down; the group is then made
    afresh at the streams' beginning, and the history there must not be taken for news."""
    client, name, relay, consumer = pipeline
    t = open_tally()
    add(t, 1)
    publish_all(relay)  # history, in the stream since before the worker started
    worker = consumer(start_at_head=True)
    client.xgroup_destroy(name, "testgroup")
    with socket.socket() as s:  # Redis is down when the worker starts
        s.bind(("127.0.0.1", 0))
        worker.member.client = redis.Redis(port=s.getsockname()[1], socket_connect_timeout=1)
        with pytest.raises(redis.ConnectionError):
            worker.start()
    worker.member.client = client  # Redis is back
    only_news_is_applied(worker, relay, t)


def test_a_live_only_consumer_reads_no_source_whose_head_it_has_not_learnt(pipeline):
    """Without start() (or with its feeds down), messages of a source whose head is unknown
    stay pending instead of starting the checkpoint at the first of them."""
    client, name, relay, consumer = pipeline
    t = open_tally()
    add(t, 1)
    add(t, 2)
    publish_all(relay)
    worker = consumer(start_at_head=True)
    with socket.socket() as s:  # and its feed is down
        s.bind(("127.0.0.1", 0))
        worker.feeds[REMOTE_SOURCE].url = f"http://127.0.0.1:{s.getsockname()[1]}"
    for _ in range(3):
        worker.poll_once()
    assert not Checkpoint.objects.filter(pk=REMOTE_SOURCE).exists()
    assert totals() == {}
    assert client.xpending(name, "testgroup")["pending"] == 3  # read again later


def test_a_feed_that_does_not_answer_does_not_hold_back_the_others(stream, live_server):
    """The BFF catches up from the order and the saga feeds while Redis is down: the saga's
    pushes must go on while the order service is down too."""
    client, name = stream
    t = open_tally()
    add(t, 3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = Source("down-service", f"{name}.down", f"http://127.0.0.1:{s.getsockname()[1]}")
        worker = Consumer(
            client=client,
            group="testgroup",
            name="w1",
            sources=[down, Source(REMOTE_SOURCE, name, live_server.url)],  # the dead one first
        )
        with pytest.raises(requests.ConnectionError):
            worker.catch_up()
    assert totals() == {t: (3, 1)}
    client.delete(f"{name}.down")


def test_after_commit_callbacks_run_once_per_poll_after_all_of_its_batches(pipeline):
    """The BFF pushes to websockets from such a callback: one push per poll, not per batch."""
    *_, consumer = pipeline
    tally = open_tally()
    for _ in range(4):
        add(tally, 1)  # never published: the worker reads them from the feed
    seen = []

    def callback():
        seen.append(totals()[tally])  # what is committed when it runs

    remote_tallies.after_commit(callback)
    try:
        worker = consumer(batch_size=2)  # five events: three transactions
        assert worker.catch_up() == 5
    finally:
        remote_tallies._after_commit.remove(callback)
    assert seen == [(4, 4)]


def test_a_batch_is_applied_without_a_savepoint_and_commits_with_its_checkpoint(pipeline):
    """A savepoint per batch cost two round trips in each; a failing batch (the poison test
    above) rolls its transaction back instead and is applied again one event at a time. The
    checkpoint's move travels with the COMMIT."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _, _, relay, consumer = pipeline
    tally = open_tally()
    add(tally, 1)
    publish_all(relay)
    worker = consumer()
    drain(worker)  # the rows of checkpoint and tally are created (with get_or_create's savepoints)
    for amount in (2, 3, 4):
        add(tally, amount)
    publish_all(relay)
    with CaptureQueriesContext(connection) as queries:
        drain(worker)
    assert totals() == {tally: (10, 4)}
    sqls = [q["sql"] for q in queries.captured_queries]
    assert not [sql for sql in sqls if sql.upper().startswith("SAVEPOINT")]
    [checkpoint] = [sql for sql in sqls if "UPDATE eventkit_checkpoint" in sql]
    if connection.vendor == "postgresql":  # SQLite runs one statement per call
        assert checkpoint.rstrip().endswith("COMMIT")
    assert Checkpoint.objects.get(pk=REMOTE_SOURCE).position == 5


def test_only_an_unknown_event_type_is_skipped_a_failing_decode_is_a_handler_failure(pipeline):
    """An event this service does not consume is passed over; one it consumes but cannot
    decode (here a schema version with no upcaster) must fail, to be retried and
    dead-lettered, not be skipped as if it were someone else's."""
    *_, consumer = pipeline

    def wire(position, event_type, schema_version):
        return WireEvent(
            source=REMOTE_SOURCE,
            position=position,
            event_id=str(uuid.uuid4()),
            stream_id=str(uuid.uuid4()),
            stream_type="Tally",
            version=1,
            event_type=event_type,
            schema_version=schema_version,
            data={"amount": 1},
            metadata={},
            recorded_at=datetime.now(UTC).isoformat(),
        )

    worker = consumer()
    worker._apply_all(REMOTE_SOURCE, [wire(1, "NotOurs", 1)], together=False)
    with pytest.raises(HandlerFailed):
        worker._apply_all(REMOTE_SOURCE, [wire(2, "TallyAdded", 0)], together=False)


def test_a_failure_that_later_applied_is_forgotten(pipeline):
    """The count of an event's failed attempts goes once the event is applied; kept, it
    would grow with every failure the worker ever recovered from."""
    _, _, relay, consumer = pipeline
    tally = open_tally()
    add(tally, 1)
    publish_all(relay)
    worker = consumer()
    worker.attempts[(REMOTE_SOURCE, 2)] = 1  # as if position 2 had failed once before
    worker.attempts[("another-source", 2)] = 1
    drain(worker)
    assert totals() == {tally: (1, 1)}
    assert dict(worker.attempts) == {("another-source", 2): 1}


@pytest.mark.parametrize(
    ("name", "transient"),
    [
        ("SQLITE_BUSY", True),
        ("SQLITE_BUSY_SNAPSHOT", True),
        ("SQLITE_LOCKED_SHAREDCACHE", True),
        ("SQLITE_ERROR", False),  # no such table, a syntax error: the same for ever
    ],
)
def test_sqlite_errors_are_transient_when_busy_or_locked(name, transient):
    import sqlite3

    from django.db import OperationalError

    from eventkit.consumer import database_failing

    cause = sqlite3.OperationalError("database says no")
    cause.sqlite_errorname = name
    error = OperationalError("database says no")
    error.__cause__ = cause
    assert database_failing(error) is transient


# -- a source whose log started over ---------------------------------------------------------


@pytest.fixture
def remote_feed(settings, live_server, stream):
    """rebuild_projections folds the remote tallies from this process's own feed."""
    settings.EVENTKIT = {
        **settings.EVENTKIT,
        "CONSUMER": {"SOURCES": {REMOTE_SOURCE: {"url": live_server.url, "stream": stream[1]}}},
    }


def set_aside_at(position: int, *, error: str) -> None:
    """A dead letter for the event at ``position``, as a worker leaves it after 3 tries."""
    DeadLetter.objects.create(
        source=REMOTE_SOURCE,
        position=position,
        event_id=str(Event.objects.get(position=position).event_id),
        event_type="TallyAdded",
        error=error,
        attempts=3,
    )


def _restored_from_a_backup(at: int, event_id: str = "an-event-the-log-lost") -> None:
    """Our checkpoint names an event the source's log no longer holds at that position, as
    after a restore from an older backup (or a reset), when we had applied more."""
    Checkpoint.objects.filter(source=REMOTE_SOURCE).update(position=at, event_id=event_id)


def test_the_checkpoint_names_the_event_it_is_at(pipeline):
    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)
    drain(consumer())
    checkpoint = Checkpoint.objects.get(source=REMOTE_SOURCE)
    assert checkpoint.event_id == str(Event.objects.get(position=checkpoint.position).event_id)
    assert totals() == {t: (8, 3)}


def test_a_source_restored_behind_our_checkpoint_is_not_applied_until_rebuilt(
    pipeline, remote_feed, rebuilds, caplog
):
    """Its new events reuse positions we had passed: they were acknowledged as duplicates,
    and the read models lost them without a word (found in review)."""
    from django.core.management import call_command

    client, name, relay, consumer = pipeline
    t = published_tally(relay, 5)
    drain(consumer())
    _restored_from_a_backup(at=50)
    worker = consumer("w2")  # restarted with the restored source
    add(t, 7)  # position 5, below the checkpoint: taken for a duplicate before
    publish_all(relay)
    drain(worker, rounds=3)
    assert totals() == {t: (8, 3)}
    assert "was it reset or restored from a backup?" in caplog.text
    assert client.xpending(name, "testgroup")["pending"] == 1  # kept for after the rebuild
    worker.catch_up()  # a catch-up does not apply it either
    assert totals() == {t: (8, 3)}

    call_command("rebuild_projections", "--projection", "remote-tallies", "--no-progress")
    assert totals() == {t: (15, 4)}
    assert Checkpoint.objects.get(source=REMOTE_SOURCE).position == 5
    add(t, 1)
    publish_all(relay)
    worker.catch_up_seconds = 0  # as if that long had passed: it checks the source again
    worker.member.claim_idle_ms = 0  # the message left pending is claimed, and is a duplicate now
    drain(worker)
    assert totals() == {t: (16, 5)}
    assert client.xpending(name, "testgroup")["pending"] == 0


def test_a_source_restored_and_grown_past_our_checkpoint_is_noticed_by_a_catch_up(pipeline, caplog):
    """The position is there again, with another event: only the event's id tells."""
    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)
    worker = consumer()
    drain(worker)
    _restored_from_a_backup(at=4)
    add(t, 7)
    assert worker.catch_up() == 0
    assert totals() == {t: (8, 3)} and "was it reset or restored" in caplog.text


def test_a_source_restored_and_grown_past_our_checkpoint_is_noticed_by_its_next_message(
    pipeline, caplog
):
    """Its messages at the positions we had applied lost from Redis (trimmed, or flushed), the
    first one past our checkpoint was applied on top of the old log's events: nothing
    checked the log unless old positions came, or an idle catch-up. Two workers raced the
    same way: one found the reset while the other applied the new log's next event, and
    the checkpoint then named an event of the new log and looked healthy. Each event names
    the one before it now, and the transaction that would apply it checks that against the
    checkpoint it has locked."""
    client, name, relay, consumer = pipeline
    t = published_tally(relay, 5)  # positions 1..4
    worker = consumer()
    drain(worker)
    _restored_from_a_backup(at=4)
    add(t, 7)  # position 5 of the new log
    publish_all(relay)
    assert worker.poll_once() == 0
    assert totals() == {t: (8, 3)} and "was it reset or restored" in caplog.text
    checkpoint = Checkpoint.objects.get()
    assert checkpoint.position == 4 and checkpoint.held_since is not None
    assert client.xpending(name, "testgroup")["pending"] == 1  # until the rebuild


def test_a_message_that_does_not_follow_our_checkpoint_is_read_from_the_feed_instead(
    pipeline, caplog
):
    """A message left from another log (its position the next one, its event not the one
    the log holds there) was applied as genuine. Our checkpoint is still in the log, so it
    is the message that is foreign: that position is read from the feed."""
    import json

    client, name, relay, consumer = pipeline
    t = published_tally(relay, 5)  # positions 1..4
    worker = consumer()
    drain(worker)
    add(t, 7)  # position 5, not published: a stale message from another log takes its place
    RelayCursor.objects.update(position=5)
    stale = {**client.xrange(name)[-1][1], "position": "5", "event_id": str(uuid.uuid4())}
    stale.update(
        previous_id=str(uuid.uuid4()), data=json.dumps({**json.loads(stale["data"]), "amount": 100})
    )
    client.xadd(name, stale)
    assert worker.poll_once() == 1
    assert totals() == {t: (15, 4)}  # the log's 7, not the stale message's 100
    assert "does not follow the event before it" in caplog.text
    assert Checkpoint.objects.get().held_since is None
    assert client.xpending(name, "testgroup")["pending"] == 0


def test_a_consumer_held_back_by_a_source_that_started_over_resumes_after_an_empty_rebuild(
    pipeline,
):
    """A log reset to nothing, and rebuilt as nothing: the checkpoint is 0 again, which names
    no event, and the source is followed again."""
    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)
    worker = consumer()
    drain(worker)
    _restored_from_a_backup(at=50)
    assert worker.verify(REMOTE_SOURCE) is None
    # as a rebuild of an empty log leaves them (the test's log is not empty: it is read again)
    RemoteTallyView.objects.all().delete()
    Checkpoint.objects.update(position=0, event_id="")
    assert worker.verify(REMOTE_SOURCE) == 4
    assert worker.advance(REMOTE_SOURCE, 4) == 4 and totals() == {t: (8, 3)}


def test_a_relay_sending_again_is_not_taken_for_a_source_that_started_over(pipeline, caplog):
    client, name, relay, consumer = pipeline
    t = published_tally(relay, 5)
    worker = consumer()
    drain(worker)
    RelayCursor.objects.update(position=0)  # a relay that lost its cursor sends it all again
    Relay(client=client, stream=name, source=REMOTE_SOURCE).publish_once()
    drain(worker)
    add(t, 1)
    publish_all(relay)
    drain(worker)
    assert totals() == {t: (9, 4)} and "reset or restored" not in caplog.text
    assert client.xpending(name, "testgroup")["pending"] == 0


def test_a_checkpoint_from_before_it_named_its_event_learns_it(pipeline):
    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)
    worker = consumer()
    drain(worker)
    Checkpoint.objects.update(event_id="")  # as migration 0005 left it
    assert worker.verify(REMOTE_SOURCE) == 4
    assert Checkpoint.objects.get().event_id == str(Event.objects.get(position=4).event_id)
    add(t, 1)
    publish_all(relay)
    drain(worker)
    assert totals() == {t: (9, 4)}


def test_a_live_only_consumer_follows_a_source_that_started_over_from_its_head(pipeline, caplog):
    """The BFF's feed pushes news: nothing was built from the old log, so it goes on from
    the new log's head."""
    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)
    worker = consumer(start_at_head=True)
    worker.start()
    _restored_from_a_backup(at=50)
    add(t, 7)  # position 5
    worker.catch_up()
    assert Checkpoint.objects.get().position == 5
    assert "followed again from its head" in caplog.text
    add(t, 1)  # position 6: news
    publish_all(relay)
    drain(worker)
    assert totals() == {t: (1, 1)}


def _following_news(consumer, relay, monkeypatch):
    """A live-only worker that has applied news (position 5, after a tally's 1..4), so that
    its checkpoint names it; the tally; and what the projection's after-skip callbacks
    append to."""
    skips = []
    monkeypatch.setattr(remote_tallies, "_after_skip", [lambda: skips.append(1)])
    t = published_tally(relay, 5)
    worker = consumer(start_at_head=True)
    worker.start()
    add(t, 2)  # position 5: news
    publish_all(relay)
    drain(worker)
    return worker, t, skips


def test_a_live_only_consumer_follows_a_source_whose_next_message_says_it_started_over(
    pipeline, caplog, monkeypatch
):
    client, name, relay, consumer = pipeline
    worker, t, skips = _following_news(consumer, relay, monkeypatch)
    _restored_from_a_backup(at=5)
    add(t, 7)  # position 6 of the new log
    publish_all(relay)
    drain(worker)
    assert totals() == {t: (2, 1)} and "followed again from its head" in caplog.text
    assert "does not follow" not in caplog.text  # a reset, not a foreign message
    assert Checkpoint.objects.get().position == 6 and skips == [1]
    assert client.xpending(name, "testgroup")["pending"] == 0
    add(t, 1)  # position 7: news
    publish_all(relay)
    drain(worker)
    assert totals() == {t: (3, 2)}


def test_a_live_only_consumer_checks_old_positions_too_so_a_rollback_under_traffic_is_told(
    pipeline, caplog, monkeypatch
):
    """Found from outside: it left old positions to its idle catch-ups, and with orders
    coming steadily there was none. A rolled-back log's new events passed as duplicates,
    never pushed and with no gap told, for 37 s."""
    _, _, relay, consumer = pipeline
    worker, _, skips = _following_news(consumer, relay, monkeypatch)
    worker.catch_up_seconds = 0  # a check is due (every 5 s in a worker)
    relay = _rewound(relay, at=5)
    publish_all(relay)  # the new log's 5
    assert worker.poll_once() == 0  # a poll with messages: no idle catch-up in it
    assert "followed again from its head" in caplog.text and skips == [1]


def test_a_live_only_consumer_that_started_over_mid_restore_pushes_no_history_as_news(
    pipeline, monkeypatch
):
    """Found from outside: the BFF's feed met the order log part-way through a restore
    (empty), followed it again from 0, and pushed the 765 restored events to every websocket
    as news."""
    from eventkit.feed_calls import FeedCheck

    _, _, relay, consumer = pipeline
    worker, t, _ = _following_news(consumer, relay, monkeypatch)
    _restored_from_a_backup(at=5)
    with monkeypatch.context() as mid_restore:  # the log as it was then: empty
        mid_restore.setattr(worker.calls, "check", lambda _, at: FeedCheck(at, None, 0))
        worker.catch_up()
    assert Checkpoint.objects.get().position == 0
    worker.catch_up()  # the restored log, 1..5 again
    assert Checkpoint.objects.get().position == 5 and totals() == {t: (2, 1)}
    add(t, 1)  # position 6: news
    publish_all(relay)
    drain(worker)
    assert totals() == {t: (3, 2)}


def _rewound(relay, at: int) -> Relay:
    """The source restored to a backup that ends just before ``at``: the event we applied
    at ``at`` is not in its log, and its relay cursor is restored with it, so it publishes
    ``at`` again, now another event."""
    Checkpoint.objects.filter(source=REMOTE_SOURCE).update(event_id="an-event-the-log-lost")
    RelayCursor.objects.update(position=at - 1)
    return Relay(client=relay.client, stream=relay.stream, source=REMOTE_SOURCE)


def test_a_worker_that_checked_moments_ago_still_checks_old_positions(pipeline, caplog):
    """Checks of a suspect batch were spaced like catch-ups, so one arriving within 5 s of an
    idle catch-up went unchecked and the new log's events were applied on top of the old
    log's (found in review)."""
    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)  # positions 1..4
    worker = consumer()
    drain(worker)
    worker.catch_up_seconds = 5.0
    worker.catch_up()  # as every idle poll does, every 5 s
    relay = _rewound(relay, at=4)
    add(t, 3)  # position 5 of the new log
    publish_all(relay)  # 4 (the new log's) and 5
    drain(worker, rounds=3)
    assert "was it reset or restored" in caplog.text
    checkpoint = Checkpoint.objects.get()
    assert checkpoint.position == 4 and checkpoint.held_since is not None


def test_a_source_held_back_by_one_worker_is_held_back_by_all(pipeline):
    """The hold lived in one worker's memory: another worker, or this one restarted,
    applied the new log past it, and the first then saw a healthy checkpoint (found in
    review). It is in the checkpoint row now."""
    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)  # positions 1..4
    first = consumer("w1")
    drain(first)
    relay = _rewound(relay, at=4)
    publish_all(relay)  # the new log's 4
    first.poll_once()
    add(t, 3)  # the new log's 5
    publish_all(relay)
    drain(consumer("w2"), rounds=3)  # another worker, or the first restarted
    assert Checkpoint.objects.get().position == 4 and totals() == {t: (8, 3)}
    assert first.verify(REMOTE_SOURCE) is None  # still held back: nothing moved past it


def test_a_checkpoint_moved_by_a_worker_of_the_previous_release_is_no_reset(pipeline, caplog):
    """In a rolling upgrade an older worker moves the position alone, which left the event
    id naming another position: every upgraded worker held a healthy source back (found in
    review)."""
    from django.db import connection
    from django.utils import timezone

    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)  # positions 1..4
    worker = consumer()
    drain(worker)
    add(t, 1)  # position 5, applied by a worker of the previous release:
    with connection.cursor() as cursor:  # its UPDATE, verbatim
        cursor.execute(
            "UPDATE eventkit_checkpoint SET position = %s, updated_at = %s WHERE source = %s",
            [5, timezone.now(), REMOTE_SOURCE],
        )
    assert worker.verify(REMOTE_SOURCE) == 5 and "reset or restored" not in caplog.text
    checkpoint = Checkpoint.objects.get()
    assert (checkpoint.event_position, checkpoint.held_since) == (5, None)
    assert checkpoint.event_id == str(Event.objects.get(position=5).event_id)


def test_a_rebuild_sets_aside_the_events_the_consumer_dead_lettered(pipeline, remote_feed):
    from django.core.management import call_command

    _, _, relay, consumer = pipeline
    t = published_tally(relay, POISON_AMOUNT)
    drain(consumer(max_attempts=1))
    assert DeadLetter.objects.get().position == 3
    call_command("rebuild_projections", "--projection", "remote-tallies", "--no-progress")
    assert totals() == {t: (3, 2)}  # its handler would fail the rebuild as it failed the worker
    assert DeadLetter.objects.get().position == 3  # still set aside


def test_a_rebuild_takes_a_dead_letters_event_that_applies_now(
    pipeline, remote_feed, rebuilds, capsys
):
    """A dead letter set aside on the live tables' state (found from outside: a checkpoint
    deleted by hand had every OrderCreated applied again, refused as a duplicate, and set
    aside). Skipped by the rebuild, it failed the events that depend on it: the rebuild
    ended in a traceback and changed nothing. A fresh fold takes it, and drops its letter."""
    from django.core.management import CommandError, call_command

    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)
    drain(consumer())
    RemoteTallyView.objects.filter(pk=t).update(total=3, additions=2)  # as if without it
    set_aside_at(3, error="refused on the live tables' state")
    rebuild = ["rebuild_projections", "--projection", "remote-tallies", "--no-progress"]
    with pytest.raises(CommandError, match="drifted"):  # the live tables never had it
        call_command(*rebuild, "--check")
    assert DeadLetter.objects.exists()  # --check changes nothing
    call_command(*rebuild)
    assert totals() == {t: (8, 3)} and not DeadLetter.objects.exists()
    assert "1 of them set aside as dead letters that apply now" in capsys.readouterr().out


def test_a_rebuild_leaves_set_aside_a_dead_letter_that_still_cannot_be_decoded(
    pipeline, remote_feed, monkeypatch
):
    """A consumer sets aside an event whose payload its type cannot take. The rebuild that
    tried dead letters again decoded them outside its guard, and ended in a traceback for
    good (found in review); and such an event never set aside is one line, not a traceback."""
    from django.core.management import CommandError, call_command

    from eventkit.wire import WireEvent

    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)
    drain(consumer())
    decode = WireEvent.recorded

    def unreadable_at_3(self):
        if self.position == 3:
            raise TypeError("TallyAdded.__init__() missing 1 required positional argument")
        return decode(self)

    monkeypatch.setattr(WireEvent, "recorded", unreadable_at_3)
    rebuild = ["rebuild_projections", "--projection", "remote-tallies", "--no-progress"]
    with pytest.raises(CommandError, match=r"position 3 cannot be read .*TypeError"):
        call_command(*rebuild)
    assert totals() == {t: (8, 3)}  # nothing changed
    set_aside_at(3, error="TypeError")
    call_command(*rebuild)
    assert totals() == {t: (3, 2)} and DeadLetter.objects.get().position == 3


def test_a_rebuild_that_a_handler_fails_says_so_and_changes_nothing(pipeline, remote_feed):
    from django.core.management import CommandError, call_command

    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)
    drain(consumer())
    published_tally(relay, POISON_AMOUNT)  # never consumed, so never set aside
    with pytest.raises(CommandError, match=r"positions 1 to 8 .*ValueError: cannot handle"):
        call_command("rebuild_projections", "--projection", "remote-tallies", "--no-progress")
    assert totals() == {t: (8, 3)}


needs_truncate = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a log started over is truncated: PostgreSQL's"
)


def _log_started_over() -> None:
    """The source's log is reset: the positions it had handed out name other events now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE eventkit_event, eventkit_stream, eventkit_pending_event,"
            " eventkit_relay_cursor"
        )
        cursor.execute("UPDATE eventkit_position_counter SET last_position = 0")


@needs_truncate
def test_a_rebuild_applies_what_a_reset_log_holds_at_a_dead_letters_position(
    pipeline, remote_feed, caplog
):
    """Dead letters were set aside by position alone: after a reset (the very case that asks
    for a rebuild) the rebuild skipped whatever new event sat there, without a word (found
    in review)."""
    from django.core.management import call_command

    _, _, relay, consumer = pipeline
    published_tally(relay, POISON_AMOUNT)  # the poison at position 3
    drain(consumer(max_attempts=1))
    _log_started_over()
    t = open_tally()
    for amount in (1, 5, 2):  # 5 at position 3
        add(t, amount)
    call_command("rebuild_projections", "--projection", "remote-tallies", "--no-progress")
    assert totals() == {t: (8, 3)}
    assert "the dead letter at position 3 names event" in caplog.text


@needs_truncate
def test_a_poison_event_at_a_dead_letters_old_position_is_dead_lettered_in_its_place(
    pipeline, remote_feed
):
    """The second dead letter at one position broke its unique constraint, and the error
    ended the worker, for good (found in review)."""
    from django.core.management import call_command

    client, name, relay, consumer = pipeline
    published_tally(relay, POISON_AMOUNT)  # the poison at position 3
    drain(consumer(max_attempts=1))
    _log_started_over()
    t = open_tally()
    add(t, 1)
    call_command("rebuild_projections", "--projection", "remote-tallies", "--no-progress")
    add(t, POISON_AMOUNT)  # position 3 again, poison again
    add(t, 2)
    publish_all(Relay(client=client, stream=name, source=REMOTE_SOURCE))  # its cursor reset
    drain(consumer("w2", max_attempts=1))
    letter = DeadLetter.objects.get()
    assert (letter.position, letter.event_id) == (3, str(Event.objects.get(position=3).event_id))
    assert totals() == {t: (3, 2)}


def test_a_database_refusing_writes_fails_for_now_and_no_other_internal_error_does():
    """Found from outside: a read-only database (a standby after a failover) is the
    database failing, not the event: retried until it takes writes again, never set aside;
    any other internal error is still the event's to answer for."""
    import psycopg.errors
    from django.db import InternalError

    from eventkit.consumer import database_failing

    def django_error(cause):
        error = InternalError(str(cause))
        error.__cause__ = cause
        return error

    refused = psycopg.errors.ReadOnlySqlTransaction("cannot execute UPDATE")
    assert database_failing(django_error(refused))
    assert not database_failing(django_error(psycopg.errors.InternalError_("XX000")))


def run_with_every_poll(worker, stop: threading.Event, callback) -> bool:
    """Run ``worker`` in a thread with ``callback`` after each of its polls, until the
    callback sets ``stop`` (20 s at most); whether the worker then ended."""
    remote_tallies.every_poll(callback)
    runner = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    try:
        runner.start()
        runner.join(timeout=20)
    finally:
        stop.set()
        remote_tallies._every_poll.remove(callback)
    return not runner.is_alive()


@pytest.mark.parametrize("redis_state", ["up", "down"])
def test_every_poll_callbacks_run_after_each_poll_whether_or_not_redis_answers(
    pipeline, live_server, redis_state
):
    """The BFF's websocket heartbeat rides on them: it must keep its beat while nothing
    happens, and try (and fail, counting the loss) while Redis is down."""
    _, name, _, consumer = pipeline
    if redis_state == "up":
        worker = consumer()
    else:
        source = Source(REMOTE_SOURCE, name, live_server.url)
        worker = Consumer(client=redis_down(), group="testgroup", name="w1", sources=[source])
    stop, calls = threading.Event(), []

    def callback():
        calls.append(time.monotonic())
        if len(calls) >= 3:
            stop.set()

    assert run_with_every_poll(worker, stop, callback) and len(calls) >= 3


def test_the_redis_watch_sees_a_consumer_find_redis_failing_and_then_answering(
    pipeline, live_server
):
    """The BFF's feed asks it whether a push may have reached a web process that had not
    subscribed to Redis again yet."""
    from eventkit.consumer import redis_watch

    client, name, _, _ = pipeline
    source = Source(REMOTE_SOURCE, name, live_server.url)
    worker = Consumer(client=redis_down(), group="testgroup", name="w1", sources=[source])
    stop, seen = threading.Event(), []

    def callback():  # after each poll, or each try while Redis is down
        seen.append(redis_watch.unsettled(0))
        if worker.member.client is not client:
            worker.member.client = client  # Redis is back
            worker.member.ensure_groups()
        elif len(seen) >= 3:
            stop.set()

    assert run_with_every_poll(worker, stop, callback)
    assert seen[0] is True  # failing: not read from since
    assert seen[-1] is False  # answering again, for longer than no time at all
    assert redis_watch.unsettled(60)  # ... and for less than a minute


def test_a_message_beyond_the_sources_log_is_set_aside_not_claimed_for_ever(pipeline, caplog):
    """Found from outside: a message written into the stream by hand, at a position the
    source's log does not reach, stayed pending for good. It was claimed again every few
    seconds, and each time the feed was read for the positions before it."""
    client, name, relay, consumer = pipeline
    t = published_tally(relay, 3)  # positions 1 to 4
    [(_, genuine)] = client.xrange(name, count=1)
    forged = {**genuine, "event_id": str(uuid.uuid4()), "position": "1000000000"}
    client.xadd(name, forged)
    worker = consumer()
    drain(worker)
    assert totals() == {t: (6, 3)}  # the genuine events, and nothing of the forged one
    assert client.xpending(name, worker.member.group)["pending"] == 0
    [(_, letter)] = client.xrange(worker.member.dead_letter_stream)
    assert letter["position"] == "1000000000" and "beyond the source's log" in letter["error"]
    assert "set aside a message of" in caplog.text
    add(t, 5)  # the log goes on as before
    publish_all(relay)
    drain(worker)
    assert totals() == {t: (11, 4)}


def test_a_consumer_sees_its_read_cut_off_by_redis(pipeline, live_server, monkeypatch):
    """A review feared that redis-py would send a read Redis cut off again by itself (as
    ``redis.Redis()`` does by default, three times over seconds), hiding a quick restart of
    Redis from the loop: no catch-up from the feeds, and no gap in the BFF's heartbeat for
    the pushes a web process missed meanwhile. The relays' and consumers' client does not."""
    import eventkit.consumer
    from eventkit.consumer import RedisWatch
    from eventkit.redis_client import redis_client

    client, name, _, _ = pipeline
    watch = RedisWatch()
    monkeypatch.setattr(eventkit.consumer, "redis_watch", watch)
    label = f"test-consumer-{uuid.uuid4().hex[:8]}"
    own = redis_client(label, REDIS_URL)
    source = Source(REMOTE_SOURCE, name, live_server.url)
    worker = Consumer(client=own, group="testgroup", name="w1", sources=[source], block_ms=30_000)
    worker.member.ensure_groups()
    stop = threading.Event()

    def run():
        try:
            worker.run(stop)
        finally:
            connection.close()  # its catch-up's, which would keep the test database open

    runner = threading.Thread(target=run, daemon=True)

    def blocked_reading() -> list[int]:
        return [
            int(c["id"])
            for c in client.client_list()
            if c["name"] == label and c["cmd"] == "xreadgroup"
        ]

    try:
        runner.start()
        wait_until(blocked_reading, timeout=10)
        assert not watch.unsettled(60)
        [reading] = blocked_reading()
        client.client_kill_filter(_id=reading)
        # seen at once, not after the 30 s the read would have waited
        wait_until(lambda: watch.unsettled(60), timeout=5)
    finally:
        stop.set()
        for again in blocked_reading():  # the loop's next read, which would wait 30 s
            client.client_kill_filter(_id=again)
        runner.join(timeout=10)
        own.close()
    assert not runner.is_alive()


def test_a_worker_name_redis_would_refuse_is_made_one_it_takes():
    """Redis refuses a client name outside printable ASCII on every connect: a worker named
    so by a hostname or by --name never reached Redis (found in review)."""
    from eventkit.redis_client import redis_client

    own = redis_client("wörker 1\x7f", REDIS_URL)
    try:
        assert own.ping() and own.client_getname() in ("w_rker_1_", b"w_rker_1_")
    finally:
        own.close()


def test_an_idle_worker_applies_what_redis_brings_while_a_feed_hangs(stream):
    """Found from outside: a feed that accepted and never answered (its service's database
    stopped) held the idle catch-up, and with it every event Redis brought and every
    heartbeat of the BFF's feed, for its 10 s read timeout, again and again. The feed is
    read from a thread of its own now: the worker applies the events while it waits."""
    client, name = stream
    relay = Relay(client=client, stream=name, source=REMOTE_SOURCE, batch_size=100)
    hung = socket.create_server(("127.0.0.1", 0))
    hung_up = threading.Event()  # set when a client of the hung feed gives up on it

    def never_answer():
        conn, _ = hung.accept()
        with conn:
            while conn.recv(4096):
                pass
        hung_up.set()

    threading.Thread(target=never_answer, daemon=True).start()
    worker = Consumer(
        client=client,
        group="testgroup",
        name="w1",
        sources=[Source(REMOTE_SOURCE, name, f"http://127.0.0.1:{hung.getsockname()[1]}")],
        block_ms=50,
        catch_up_seconds=0,  # every idle poll wants a catch-up
    )
    worker.member.ensure_groups()
    try:
        assert worker.poll_once() == 0  # idle: the feed is asked, from its own thread
        t = published_tally(relay, 5)
        wait_until(lambda: (worker.poll_once(), totals().get(t) == (8, 3))[1], 5)
        assert not hung_up.is_set()  # applied while the feed's read still waited
    finally:
        hung.close()


def test_a_gap_whose_feed_keeps_us_waiting_is_filled_from_its_answer_later(pipeline, monkeypatch):
    """A gap is read from the feed in a thread of its own, waited for only so long: before,
    a feed that hung held the loop, and every other source's events and the BFF's
    heartbeats, for the read's 10 s timeout. The messages stay pending, and the answer,
    when it comes, fills the gap."""
    client, name, relay, consumer = pipeline
    t = published_tally(relay, 5)  # positions 1 to 4
    second = client.xrange(name)[1][0]
    client.xdel(name, second)  # position 2: lost from Redis
    worker = consumer(claim_idle_ms=0, feed_patience=0.1)
    gate, reads = threading.Event(), []
    read = worker.feeds[REMOTE_SOURCE].between

    def held_read(first, last):
        reads.append((first, last))
        gate.wait(10)
        return read(first, last)

    monkeypatch.setattr(worker.feeds[REMOTE_SOURCE], "between", held_read)
    assert worker.poll_once() == 0  # the gap's read is left waiting
    assert not gate.is_set() and reads == [(2, 2)]
    assert client.xpending(name, "testgroup")["pending"] == 3  # 1, 3 and 4: not lost
    gate.set()
    wait_until(lambda: worker.calls.answered(REMOTE_SOURCE), timeout=5)
    assert worker.poll_once() == 4  # claimed again, 2 from the read's answer: no new read
    assert totals() == {t: (8, 3)} and len(reads) == 1
    assert client.xpending(name, "testgroup")["pending"] == 0


def test_old_positions_stay_pending_until_a_slow_feed_says_whether_the_log_started_over(
    pipeline, monkeypatch, caplog
):
    """Found from outside: with the check of old positions waiting at most a second for the
    feed, a feed slow for a few seconds let them pass as duplicates, and a reset log went
    unnoticed. They stay pending until the feed has answered."""
    client, name, relay, consumer = pipeline
    published_tally(relay, 5)  # positions 1..4
    worker = consumer(claim_idle_ms=0, feed_patience=0.1)
    drain(worker)
    relay = _rewound(relay, at=4)
    publish_all(relay)  # the new log's 4, and nothing past our checkpoint
    gate = threading.Event()
    event_at = worker.feeds[REMOTE_SOURCE].event_at
    monkeypatch.setattr(
        worker.feeds[REMOTE_SOURCE], "event_at", lambda p: gate.wait(10) and event_at(p)
    )
    assert worker.poll_once() == 0
    assert client.xpending(name, "testgroup")["pending"] == 1  # not taken for a duplicate
    gate.set()
    wait_until(lambda: worker.calls.answered(REMOTE_SOURCE), timeout=5)
    worker.poll_once()  # claimed again, and checked with the feed's answer
    assert "was it reset or restored" in caplog.text
    assert Checkpoint.objects.get().held_since is not None


def test_a_live_only_consumer_restarted_while_a_feed_hangs_goes_on_from_its_checkpoints(
    pipeline,
):
    """Found from outside: a BFF feed restarted while the saga's feed hung waited to learn
    that feed's head, which it did not need, and every websocket went silent as long."""
    _, _, relay, consumer = pipeline
    published_tally(relay, 5)
    consumer(start_at_head=True).start()  # a worker ran before: the checkpoint is there
    hung = socket.create_server(("127.0.0.1", 0))
    try:
        restarted = consumer(start_at_head=True)
        restarted.feeds[REMOTE_SOURCE].url = f"http://127.0.0.1:{hung.getsockname()[1]}"

        def start():
            try:
                restarted.start()
            finally:
                connection.close()  # the thread's, which would keep the test database open

        starting = threading.Thread(target=start, daemon=True)
        starting.start()
        starting.join(5)  # the feed would keep it 10 s and more
        assert not starting.is_alive()
    finally:
        hung.close()


@threads_need_postgresql
def test_the_consumer_goes_on_while_its_read_models_are_rebuilt(pipeline, remote_feed):
    """Found from outside: marketing's rebuild held its worker off for the whole fold (30 s
    for 200,000 order events). It now folds beside the live tables, and holds the consumer
    off only to catch up and write the rows that differ."""
    from eventkit.rebuild import rebuild

    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)
    drain(consumer())
    RemoteTallyView.objects.filter(pk=t).update(total=99)  # drift, for the swap to mend
    worker, went_on, failures = consumer("w2"), threading.Event(), []

    def consume():
        try:
            drain(worker)
            went_on.set()
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    def first_batch(events):
        if went_on.is_set() or failures:
            return
        add(t, 7)
        publish_all(relay)
        meanwhile = threading.Thread(target=consume)
        meanwhile.start()
        meanwhile.join(5)  # a rebuild in place held it off until its commit

    remote = [p for p in registry.all() if p.source == REMOTE_SOURCE and p.models]
    report = rebuild(remote, progress=first_batch)
    assert failures == [] and went_on.is_set(), "the consumer waited for the whole fold"
    assert report.writers_held is not None and report.rewritten == 2  # the drifted row
    assert totals() == {t: (15, 4)}
    assert Checkpoint.objects.get(source=REMOTE_SOURCE).position == report.last_position == 5
    assert rebuild(remote, check=True).clean


@threads_need_postgresql
def test_events_the_consumer_has_not_applied_when_its_rebuild_ends_are_written_with_it(
    pipeline, remote_feed, monkeypatch
):
    """A rebuild compares with the fold only the live rows it noted as different, while the
    consumer went on. The consumer may lag: the rows its last round folds must be written
    too, since the checkpoint moves past their events."""
    from eventkit import shadow
    from eventkit.rebuild import rebuild

    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)
    drain(consumer())
    note = shadow.note_differences

    def noted_then_appended(model):
        differing = note(model)
        add(t, 7)  # at the source, not yet consumed
        return differing

    monkeypatch.setattr(shadow, "note_differences", noted_then_appended)
    # the checkpoint names the last event folded, not asked of the feed while holding the
    # worker off (one call more that a slow source would make longer)
    monkeypatch.setattr(FeedReader, "event_id_at", lambda *a: pytest.fail("asked the feed"))
    remote = [p for p in registry.all() if p.source == REMOTE_SOURCE and p.models]
    report = rebuild(remote)
    assert report.last_position == 5 and report.rewritten == 2
    assert totals() == {t: (15, 4)}
    checkpoint = Checkpoint.objects.get(source=REMOTE_SOURCE)
    assert checkpoint.event_id == str(Event.objects.get(position=5).event_id)
    assert rebuild(remote, check=True).clean


@threads_need_postgresql
def test_a_dead_letter_set_aside_while_the_rebuild_folded_its_event_goes_with_it(
    pipeline, remote_feed, monkeypatch
):
    """Found from outside: a worker that set an event aside after the fold had applied it
    left its dead letter behind the rebuild, for the next --check to take again."""
    from eventkit import shadow
    from eventkit.rebuild import rebuild

    _, _, relay, consumer = pipeline
    t = published_tally(relay, 5)
    drain(consumer())
    note = shadow.note_differences

    def set_aside_meanwhile(model):
        set_aside_at(3, error="failed in the worker meanwhile")
        return note(model)

    monkeypatch.setattr(shadow, "note_differences", set_aside_meanwhile)
    remote = [p for p in registry.all() if p.source == REMOTE_SOURCE and p.models]
    report = rebuild(remote)
    assert report.taken_again == 0 and totals() == {t: (8, 3)}
    assert not DeadLetter.objects.exists()
