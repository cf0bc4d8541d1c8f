"""The consumer's feed reads: waited for only so long, one per source, answers taken later."""

import threading

import pytest
import requests

from eventkit.feed_calls import FeedCalls, FeedPending
from eventkit.tests.helpers import wait_until
from eventkit.wire import WireEvent


class GatedFeed:
    """A feed reader whose reads wait until the test opens the gate."""

    def __init__(self):
        self.gate = threading.Event()
        self.asked: list[tuple] = []

    def event_at(self, position):
        self.asked.append(("at", position))
        self.gate.wait(10)
        return None, 7

    def between(self, first, last):
        self.asked.append(("read", first - 1, last))
        self.gate.wait(10)
        return {p: _event(p) for p in range(first, last + 1)}, 7


def _event(position):
    return WireEvent(
        source="s",
        position=position,
        event_id=f"e{position}",
        stream_id="t",
        stream_type="Tally",
        version=position,
        event_type="Added",
        schema_version=1,
        data={},
        metadata={},
        recorded_at="2026-12-07T00:00:00Z",
    )


@pytest.fixture
def gated():
    feed = GatedFeed()
    yield feed, FeedCalls({"s": feed}, patience=0.05)
    feed.gate.set()


def test_a_read_that_keeps_the_loop_waiting_is_left_and_its_answer_taken_later(gated):
    feed, calls = gated
    with pytest.raises(FeedPending) as pending:
        calls.check("s", 3)
    assert isinstance(pending.value, requests.RequestException)  # callers: not answering
    with pytest.raises(FeedPending):
        calls.check("s", 4)  # under way: no second read, and no second wait
    assert feed.asked == [("at", 3)]
    feed.gate.set()
    wait_until(lambda: calls.answered("s"), timeout=5)
    answer = calls.check("s", 4)
    assert (answer.position, answer.at, answer.head) == (3, None, 7)  # it says what it answers
    assert calls.check("s", 4).position == 4  # taken: the next call reads again


def test_an_answer_of_another_kind_is_dropped_and_a_gap_read_says_what_it_covers(gated):
    feed, calls = gated
    calls.ask("s", 3)
    calls.ask("s", 5)  # a read under way: not asked twice
    feed.gate.set()
    wait_until(lambda: calls.answered("s"), timeout=5)
    calls.patience = 5  # the gate is open: this read answers
    got = calls.events("s", 2, 4)  # the check's answer is not one
    assert (got.first, got.last, sorted(got.events), got.head) == (2, 4, [2, 3, 4], 7)
    assert feed.asked == [("at", 3), ("read", 1, 4)]


def test_a_read_of_another_kind_under_way_is_waited_for_and_not_taken_as_the_answer(gated):
    """Found in review: a gap read that came while an idle poll's check was under way was
    given the check's answer, and the poll failed on it."""
    feed, calls = gated
    calls.patience = 5
    calls.ask("s", 3)
    threading.Timer(0.05, feed.gate.set).start()
    got = calls.events("s", 2, 4)
    assert (got.first, got.last, sorted(got.events)) == (2, 4, [2, 3, 4])
    assert feed.asked == [("at", 3), ("read", 1, 4)]


def test_a_read_of_another_kind_that_keeps_the_loop_waiting_holds_the_next_one_back(gated):
    feed, calls = gated
    calls.ask("s", 3)
    with pytest.raises(FeedPending):
        calls.events("s", 2, 4)
    assert feed.asked == [("at", 3)]  # one read per source at a time
    feed.gate.set()
    wait_until(lambda: calls.answered("s"), timeout=5)
    calls.patience = 5
    assert sorted(calls.events("s", 2, 4).events) == [2, 3, 4]


def test_what_the_read_raised_is_raised_to_the_call_that_takes_it():
    class Refusing:
        def event_at(self, position):
            raise requests.ConnectionError("refused")

    calls = FeedCalls({"s": Refusing()}, patience=5)
    with pytest.raises(requests.ConnectionError, match="refused"):
        calls.check("s", 1)
    assert calls.answered("s")  # taken: nothing left under way


def test_a_read_asked_ahead_is_waited_for_up_to_its_patience_from_its_start(gated):
    """Found by the suite on a machine up for over an hour: a check asked ahead by an idle
    poll was not waited for at all by the verify that came right after it."""
    feed, calls = gated
    calls.patience = 5
    calls.ask("s", 3)
    threading.Timer(0.05, feed.gate.set).start()
    assert calls.check("s", 3).head == 7
