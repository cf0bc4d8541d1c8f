"""The aggregate base and event versioning, without a database."""

import uuid

import pytest

from eventkit.domain import decode_event
from eventkit.errors import NotFound, Rejected
from eventkit.tests.testapp.domain import Tally, TallyAdded, TallyOpened


def test_replay_folds_history_and_counts_versions():
    tally = Tally.replay(uuid.uuid4(), [TallyOpened("a"), TallyAdded(2, ""), TallyAdded(3, "")])
    assert (tally.name, tally.total, tally.version) == ("a", 5, 3)
    assert tally.pending_events() == []


def test_commands_record_events_and_apply_them_at_once():
    tally = Tally(uuid.uuid4())
    tally.open("b")
    tally.add(7)
    assert tally.total == 7
    assert [type(e) for e in tally.pending_events()] == [TallyOpened, TallyAdded]
    tally.mark_saved()
    assert tally.version == 2 and tally.pending_events() == []


def test_a_branch_decides_ahead_without_changing_the_original():
    tally = Tally.replay(uuid.uuid4(), [TallyOpened("d"), TallyAdded(2, "")])
    tally.add(1)
    ahead = tally.branch()
    ahead.add(5)
    assert (tally.total, len(tally.pending_events())) == (3, 1)
    assert (ahead.total, len(ahead.pending_events())) == (8, 2)
    ahead.mark_saved()
    assert (tally.version, ahead.version) == (2, 4)


def test_take_back_drops_that_very_unsaved_event_only():
    tally = Tally.replay(uuid.uuid4(), [TallyOpened("d")])
    tally.add(1)
    twin = TallyAdded(1, "")
    assert tally.pending_events() == [twin]
    assert not tally.take_back(twin)  # equal, but not the event recorded
    recorded = tally.pending_events()[0]
    assert tally.take_back(recorded)
    assert not tally.take_back(recorded)
    tally.mark_saved()
    assert (tally.version, tally.pending_events()) == (1, [])


def test_rules_refuse_without_recording():
    tally = Tally.replay(uuid.uuid4(), [TallyOpened("c"), TallyAdded(99, "")])
    with pytest.raises(Rejected) as refused:
        tally.add(2)
    assert (refused.value.code, refused.value.details) == ("over_limit", {"total": 99})
    assert tally.pending_events() == []
    with pytest.raises(NotFound):
        Tally(uuid.uuid4()).add(1)


def test_old_schema_versions_are_upcast():
    old = decode_event("TallyAdded", 1, {"amount": 4})
    assert old == TallyAdded(amount=4, note="")
    current = decode_event("TallyAdded", 2, {"amount": 4, "note": "x"})
    assert current.note == "x"


def test_unknown_event_type_is_an_error():
    with pytest.raises(LookupError):
        decode_event("NoSuchEvent", 1, {})


def test_snapshot_round_trip():
    tally = Tally.replay(uuid.uuid4(), [TallyOpened("d"), TallyAdded(5, "")])
    copy = Tally(tally.id)
    copy.restore_snapshot(tally.to_snapshot())
    assert (copy.name, copy.total) == ("d", 5)


def test_a_tolerant_reader_ignores_fields_it_does_not_know():
    from eventkit.domain import DomainEvent, event

    @event("ReaderProbe", tolerant=True)
    class ReaderProbe(DomainEvent):
        amount: int

    assert decode_event("ReaderProbe", 1, {"amount": 1, "added_later": "x"}) == ReaderProbe(1)
    with pytest.raises(TypeError):
        decode_event("TallyOpened", 1, {"name": "a", "added_later": "x"})  # strict by default
