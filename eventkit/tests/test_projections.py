"""Read models: same-transaction updates, rebuild, and --check."""

import io
import threading
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from eventkit.errors import Rejected
from eventkit.models import Event
from eventkit.projections import Projection, registry
from eventkit.rebuild import rebuild
from eventkit.tests.helpers import (
    add,
    held_elsewhere,
    open_tally,
    threads_need_postgresql,
    wait_until,
)
from eventkit.tests.testapp.models import TallyView

pytestmark = pytest.mark.django_db

TALLIES = ("--projection", "tallies")


def local():
    return [p for p in registry.all() if p.source is None]


def test_read_model_follows_each_append():
    t = open_tally("x")
    add(t, 2)
    add(t, 3)
    row = TallyView.objects.get(pk=t)
    assert (row.name, row.total, row.additions) == ("x", 5, 2)
    assert row.updated_at == Event.objects.filter(stream_id=t).last().recorded_at


def test_a_refused_command_leaves_the_read_model_untouched():
    t = open_tally()
    add(t, 100)
    with pytest.raises(Rejected):
        add(t, 1)
    assert TallyView.objects.get(pk=t).total == 100


def test_rebuild_reproduces_the_live_tables_exactly(rebuilds):
    ids = [open_tally(f"t{i}") for i in range(3)]
    for i, t in enumerate(ids):
        add(t, i + 1)
    before = {r.pk: (r.name, r.total, r.additions, r.updated_at) for r in TallyView.objects.all()}
    report = rebuild(local())
    assert report.clean and report.events == 6
    after = {r.pk: (r.name, r.total, r.additions, r.updated_at) for r in TallyView.objects.all()}
    assert after == before


def test_check_reports_drift_and_changes_nothing_then_rebuild_repairs(rebuilds):
    t = open_tally()
    add(t, 7)
    TallyView.objects.filter(pk=t).update(total=999)
    out = io.StringIO()
    with pytest.raises(CommandError, match="drifted"):
        call_command("rebuild_projections", *TALLIES, "--check", "--no-progress", stdout=out)
    assert "total is 999, the events say 7" in out.getvalue()
    assert TallyView.objects.get(pk=t).total == 999  # --check changed nothing
    # Outside `up` it is easy to name the wrong database: the command says which it used
    name = connection.settings_dict["NAME"]
    assert out.getvalue().startswith("read models in ") and str(name) in out.getvalue()

    call_command("rebuild_projections", *TALLIES, "--no-progress", stdout=io.StringIO())
    assert TallyView.objects.get(pk=t).total == 7
    call_command("rebuild_projections", *TALLIES, "--check", "--no-progress", stdout=io.StringIO())


def test_check_notices_missing_and_extra_rows(rebuilds):
    t = open_tally()
    TallyView.objects.filter(pk=t).delete()
    report = rebuild(local(), check=True)
    assert [d.missing for d in report.drift] == [[t]]
    assert not TallyView.objects.filter(pk=t).exists()


def test_check_reports_each_kind_of_drift_without_loading_the_tables(monkeypatch):
    """The database compares the fold with a copy of the live rows: no table is read into
    Python (``Projection.rows`` would), and every kind of drift still shows."""
    monkeypatch.setattr(Projection, "rows", lambda self: pytest.fail("loaded a whole table"))
    changed, deleted = open_tally("changed"), open_tally("deleted")
    add(changed, 7)
    TallyView.objects.filter(pk=changed).update(total=999)
    TallyView.objects.filter(pk=deleted).delete()
    extra = TallyView.objects.create(id=uuid.uuid4(), name="extra", updated_at=timezone.now())
    out = io.StringIO()
    with pytest.raises(CommandError, match="drifted"):
        call_command("rebuild_projections", *TALLIES, "--check", "--no-progress", stdout=out)
    assert out.getvalue().splitlines()[1:4] == [
        f"testapp.TallyView: row {deleted} is missing",
        f"testapp.TallyView: row {extra.id} should not exist",
        f"testapp.TallyView: row {changed} total is 999, the events say 7",
    ]
    assert TallyView.objects.filter(pk=extra.id).exists()  # --check changed nothing
    assert not TallyView.objects.filter(pk=deleted).exists()


def test_unknown_projection_name_is_a_clear_error():
    with pytest.raises(CommandError, match="no projection named 'nope'"):
        call_command("rebuild_projections", "--projection", "nope")


def test_an_interrupted_rebuild_says_so_in_a_line(monkeypatch):
    """Found from outside: Ctrl-C printed a whole traceback."""
    from eventkit.management.commands import rebuild_projections

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rebuild_projections, "rebuild", interrupted)
    with pytest.raises(
        CommandError, match=r"tallies: interrupted; nothing changed: run it again, or --check"
    ):
        call_command("rebuild_projections", *TALLIES, "--no-progress", stdout=io.StringIO())


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs the trigger bypass")
def test_rebuild_folds_events_stored_under_an_old_schema():
    """An event written before ``note`` existed still folds after the class changed."""
    t = open_tally()
    add(t, 2)
    with connection.cursor() as cursor:
        # Simulate history: rewrite the stored event as schema version 1, without the field.
        cursor.execute("ALTER TABLE eventkit_event DISABLE TRIGGER eventkit_event_append_only")
        cursor.execute(
            "UPDATE eventkit_event SET schema_version = 1, data = '{\"amount\": 2}'::jsonb "
            "WHERE stream_id = %s AND version = 2",
            [t],
        )
        cursor.execute("ALTER TABLE eventkit_event ENABLE TRIGGER eventkit_event_append_only")
    report = rebuild(local())
    assert report.clean
    assert TallyView.objects.get(pk=t).total == 2


@threads_need_postgresql
@pytest.mark.django_db(transaction=True)
def test_commands_running_during_rebuilds_wait_for_them_and_all_apply(rebuilds):
    """A rebuild empties and refills the read-model tables while holding back appends. A
    command that writes those tables meanwhile must wait and then apply, not find its row
    gone (MissingRow) or deadlock with the rebuild over the appends' lock."""
    tallies = [open_tally(f"t{i}") for i in range(4)]
    stop, failures, applied = threading.Event(), [], []

    def keep_adding():
        try:
            while not stop.is_set():
                for t in tallies:
                    add(t, 0)
                    applied.append(t)
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=keep_adding)
    writer.start()
    try:
        reports = [rebuild(local()) for _ in range(15)]
    finally:
        stop.set()
        writer.join(10)
    assert failures == [] and applied
    assert all(r.clean for r in reports)
    assert rebuild(local(), check=True).clean


@threads_need_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_second_rebuild_of_the_same_read_models_is_refused_while_one_runs():
    """Found from outside: a second rebuild waited for the first's locks, then folded
    everything again, holding the writers back twice as long for nothing."""
    from eventkit.rebuild import RebuildRunning

    open_tally()
    folding, release, reports = threading.Event(), threading.Event(), []

    def slow_progress(events):
        folding.set()
        release.wait(10)

    def first():
        try:
            reports.append(rebuild(local(), progress=slow_progress))
        finally:
            connection.close()

    running = threading.Thread(target=first)
    running.start()
    try:
        assert folding.wait(10)
        with pytest.raises(RebuildRunning):
            rebuild(local())
        with pytest.raises(CommandError, match="is running; nothing changed"):
            call_command("rebuild_projections", "--no-progress", stdout=io.StringIO())
        # a --check folds into scratch tables of its own, and holds nobody
        assert rebuild(local(), check=True).clean
    finally:
        release.set()
        running.join(10)
    assert reports and reports[0].clean
    assert rebuild(local()).clean  # the first let go of it when it ended


def _while_folding(check: bool, act):
    """Run ``act`` in another thread while a rebuild (or --check) folds its first batch,
    and wait for it there; returns the report and whether ``act`` ended in time."""
    done, failures = threading.Event(), []

    def other():
        try:
            act()
            done.set()
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    def first_batch(events):
        if not done.is_set() and not failures:
            helper = threading.Thread(target=other)
            helper.start()
            helper.join(5)  # the rebuild in place held it off until its commit

    report = rebuild(local(), check=check, progress=first_batch)
    assert failures == []
    return report, done.is_set()


@threads_need_postgresql
@pytest.mark.django_db(transaction=True)
def test_commands_go_on_while_a_rebuild_folds_and_what_they_wrote_is_caught_up():
    """Found from outside: a rebuild in place held the order service's writers off for the
    17 s its 200,000 events took to fold. It now folds beside the live tables and holds
    them off only for the events appended meanwhile and the rows that differ."""
    tallies = [open_tally(f"t{i}") for i in range(3)]
    TallyView.objects.filter(pk=tallies[0]).update(total=999)  # drift, for the swap to mend
    report, went_on = _while_folding(check=False, act=lambda: add(tallies[1], 5))
    assert went_on, "a command waited for the whole fold"
    assert report.events == 4 and report.writers_held is not None
    assert report.rewritten == 2  # the drifted row: deleted, and inserted as folded
    assert [TallyView.objects.get(pk=t).total for t in tallies] == [0, 5, 0]
    assert rebuild(local(), check=True).clean
    assert rebuild(local()).rewritten == 0  # rows that match the log are not written


@threads_need_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_check_holds_no_command_and_compares_within_one_snapshot():
    """--check held the writers off as a rebuild does. It now reads the log and the live
    tables in one snapshot: a command committed during the fold is in neither."""
    t = open_tally()
    report, went_on = _while_folding(check=True, act=lambda: add(t, 5))
    assert went_on, "a command waited for the whole check"
    assert report.clean and report.events == 1
    assert TallyView.objects.get(pk=t).total == 5


@threads_need_postgresql
def test_a_rebuild_that_lost_its_shadow_tables_changes_nothing():
    """Another connection has none of the shadows, and its ORM would write the live tables
    instead: every transaction of the rebuild asks first."""
    from eventkit import shadow

    with shadow.shadowing([TallyView]):
        shadow.ensure_in_place([TallyView])
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE pg_temp.testapp_tallyview")
        with pytest.raises(shadow.ShadowLost, match="nothing changed"):
            shadow.ensure_in_place([TallyView])


def test_a_rebuild_folds_pages_in_batches_and_a_dead_letters_event_alone():
    """Each row a batch touches is written once: folded page by page (the feed's 1,000
    events), marketing's rebuild wrote each customer's row 200 times over 200,000 events."""
    from eventkit.rebuild import _in_batches

    pieces = [([1, 2], False), ([3], False), ([4], True), ([5, 6, 7], False), ([8], False)]
    assert list(_in_batches(iter(pieces), 3)) == [
        ([1, 2, 3], False),
        ([4], True),
        ([5, 6, 7], False),
        ([8], False),
    ]


def test_feed_pages_are_read_ahead_in_order_and_a_failure_comes_after_them():
    from eventkit.rebuild import _read_ahead

    def pages():
        yield [1]
        yield [2]
        raise ConnectionError("the feed went away")

    read = _read_ahead(pages())
    assert next(read) == [1] and next(read) == [2]
    with pytest.raises(ConnectionError, match="went away"):
        next(read)


def test_a_fold_that_stops_early_lets_the_reader_go():
    from eventkit.rebuild import _read_ahead

    def pages():
        for n in range(1000):
            yield [n]

    read = _read_ahead(pages(), depth=2)
    assert next(read) == [0]
    read.close()  # the fold failed: the generator is closed
    wait_until(lambda: not any(t.name == "rebuild-feed" for t in threading.enumerate()), 5)


def test_a_rebuild_on_a_database_without_its_tables_says_which_database_it_looked_at(
    monkeypatch,
):
    """Found from outside: run without DATABASE_URL, --check met the empty SQLite file it
    falls back to, and ended in a traceback."""
    from django.db import OperationalError

    from eventkit.management.commands import rebuild_projections

    def missing(*args, **kwargs):
        raise OperationalError("no such table: eventkit_checkpoint")

    monkeypatch.setattr(rebuild_projections, "rebuild", missing)
    with pytest.raises(CommandError, match="this service's database, migrated"):
        call_command("rebuild_projections", "--check", "--no-progress", stdout=io.StringIO())


@threads_need_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_rebuild_that_lost_its_connection_says_to_run_it_again(monkeypatch):
    """Found from outside: a restart of PostgreSQL mid-rebuild was answered with the hint
    for a database without its tables, over three lines."""
    from eventkit.management.commands import rebuild_projections

    def restarted(*args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    monkeypatch.setattr(rebuild_projections, "rebuild", restarted)
    try:
        with pytest.raises(CommandError) as refused:
            call_command("rebuild_projections", "--no-progress", stdout=io.StringIO())
    finally:
        connection.close()
    said = str(refused.value)
    assert "was lost" in said and said.endswith("nothing changed: run this again")
    assert "\n" not in said and "migrated" not in said


@pytest.fixture
def second_remote_projection():
    """Another projection of the remote source, with tables: it shares the checkpoint."""
    from eventkit.projections import Projection
    from eventkit.tests.testapp.models import RemoteTallyView
    from eventkit.tests.testapp.projections import REMOTE_SOURCE

    extra = registry.register(
        Projection("remote-extra", models=[RemoteTallyView], source=REMOTE_SOURCE)
    )
    yield extra
    registry._projections.pop(extra.name)


def test_a_remote_sources_projections_are_rebuilt_together_or_not_at_all(
    second_remote_projection,
):
    """They share one checkpoint: rebuilding one would move it past events the other
    never folded."""
    with pytest.raises(CommandError, match="remote-extra"):
        call_command(
            "rebuild_projections", "--projection", "remote-tallies", "--no-progress", verbosity=0
        )


@threads_need_postgresql
def test_statements_run_often_before_still_find_the_shadow_tables():
    """A statement prepared on the server keeps the table it was planned with: had the
    connection prepared one (psycopg does after five runs, binding on the server), a
    rebuild would fold into the live table it meant to shadow. The services bind on the
    client (``eventkit.batching`` needs ``mogrify``), which prepares nothing: this pins it."""
    from eventkit import shadow

    t = open_tally()
    for _ in range(10):
        assert TallyView.objects.filter(pk=t).exists()
        TallyView.objects.filter(pk=t).update(total=1)
    with shadow.shadowing([TallyView]):
        assert not TallyView.objects.filter(pk=t).exists()
        assert TallyView.objects.filter(pk=t).update(total=2) == 0
    assert TallyView.objects.get(pk=t).total == 1


@threads_need_postgresql
@pytest.mark.django_db(transaction=True)
def test_rows_written_after_the_differences_were_noted_are_still_carried(monkeypatch):
    """The swap compares only the rows noted as different while the writers went on: a
    command committed after that writes the live rows as the last round folds its events
    into the shadow, which must leave them alone."""
    from eventkit import shadow

    changed, created = open_tally("changed"), uuid.uuid4()
    note = shadow.note_differences

    def noted_then_written(model):
        differing = note(model)
        writes = threading.Thread(target=lambda: (add(changed, 4), open_tally("new", created)))
        writes.start()
        writes.join(10)
        return differing

    monkeypatch.setattr(shadow, "note_differences", noted_then_written)
    report = rebuild(local())
    assert report.rewritten == 0  # the live rows already held what the commands wrote
    assert TallyView.objects.get(pk=changed).total == 4
    assert TallyView.objects.filter(pk=created).exists()
    assert rebuild(local(), check=True).clean


@threads_need_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_rebuild_into_empty_tables_fills_them_in_while_commands_go_on(monkeypatch):
    """A rebuild into emptied tables (a restored log, say) wrote every row while it held
    the writers off: 10 s for 500,000 orders. It now fills them in while commands go on,
    and what it writes holding them off is only what the last round changed: here
    nothing, as the commands wrote their rows right."""
    from eventkit import rebuild as rebuilding

    tallies = [open_tally(f"t{i}") for i in range(10)]
    for t in tallies:
        add(t, 1)
    TallyView.objects.all().delete()
    fill_in, created = rebuilding._fill_in, uuid.uuid4()

    def commands():
        try:
            add(tallies[0], 4)
            open_tally("new", created)
        finally:
            connection.close()

    def filled_in_then_commands(*args):
        filled = fill_in(*args)
        other = threading.Thread(target=commands)
        other.start()
        other.join(10)
        return filled

    monkeypatch.setattr(rebuilding, "_fill_in", filled_in_then_commands)
    report = rebuild(local())
    assert (report.filled_in, report.rewritten) == (10, 0)
    assert TallyView.objects.get(pk=tallies[0]).total == 5
    assert TallyView.objects.count() == 11
    assert rebuild(local(), check=True).clean


@threads_need_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_rebuild_stopped_after_filling_in_rows_says_so(monkeypatch):
    """Found from outside: stopped after it had filled in rows, a rebuild said nothing had
    changed."""
    from eventkit import rebuild as rebuilding

    for i in range(3):
        open_tally(f"t{i}")
    TallyView.objects.all().delete()
    fill_in = rebuilding._fill_in

    def filled_in_then_interrupted(*args):
        fill_in(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(rebuilding, "_fill_in", filled_in_then_interrupted)
    with pytest.raises(
        CommandError,
        match="interrupted; nothing changed but the 3 rows the live tables lacked, filled in",
    ):
        call_command("rebuild_projections", *TALLIES, "--no-progress", stdout=io.StringIO())
    assert TallyView.objects.count() == 3


@threads_need_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_rebuild_whose_connection_is_terminated_says_it_was_lost(monkeypatch):
    """Found from outside: a backend terminated by an administrator read as a database
    without its tables ("migrated?")."""
    from eventkit import rebuild as rebuilding

    open_tally()

    def terminated(*args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    monkeypatch.setattr(rebuilding, "_fill_in", terminated)
    try:
        with pytest.raises(CommandError, match=r"was lost .*; nothing changed: run this again"):
            call_command("rebuild_projections", *TALLIES, "--no-progress", stdout=io.StringIO())
    finally:
        connection.close()


@threads_need_postgresql
def test_letting_go_after_a_failed_statement_leaves_the_failure_to_be_told():
    """Found from outside: a --check whose fold failed in the database dropped its shadow
    tables on the failed transaction, and told that failure ("current transaction is
    aborted"), not the fold's."""
    from django.db import DatabaseError

    from eventkit import shadow

    with transaction.atomic():
        with connection.cursor() as cursor, pytest.raises(DatabaseError):
            cursor.execute("SELECT 1 / 0")
        shadow.let_go("DROP TABLE IF EXISTS pg_temp.nothing_here")  # raises nothing
        transaction.set_rollback(True)


@threads_need_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_rebuild_held_up_by_a_stuck_transaction_gives_up_without_stalling_commands(
    monkeypatch,
):
    """Found from outside: the last round's LOCK TABLE waited as long as a console's open
    transaction held one row, and every command queued behind it (all orders stalled 14 s,
    some compensated). It now waits a moment at a time, folds on between tries, and gives
    up saying why, while commands on other rows go on."""
    from eventkit import rebuild as rebuilding

    monkeypatch.setattr(rebuilding, "HOLD_ATTEMPTS", 3)
    stuck, other = open_tally("stuck"), open_tally("other")
    stop, failures, applied = threading.Event(), [], []

    def keep_adding():
        try:
            while not stop.is_set():
                add(other, 0)
                applied.append(1)
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=keep_adding)
    with held_elsewhere("SELECT 1 FROM testapp_tallyview WHERE id = %s FOR UPDATE", [stuck]):
        writer.start()
        try:
            with pytest.raises(rebuilding.RebuildHeldUp, match="nothing changed"):
                rebuild(local())
        finally:
            stop.set()
            writer.join(10)
    assert failures == [] and applied
    assert rebuild(local()).clean  # once it ended
    assert TallyView.objects.get(pk=other).additions == len(applied)
